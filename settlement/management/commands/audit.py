"""python manage.py audit verify"""

from django.core.management.base import BaseCommand, CommandError

from ewallet.money import format_fen
from settlement.audit.verify import audit_verify


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` recomputes the log from the ledger and checks it."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="recompute leaves, chain and money invariants")

    def handle(self, *args, action: str, **options):
        if action == "verify":
            self.verify()

    def verify(self) -> None:
        report = audit_verify()
        rate = report.leaves / report.seconds if report.seconds else 0.0
        if not report.ok:
            raise CommandError(f"audit verify FAILED at {report.mismatch}")
        totals = report.totals
        self.stdout.write(
            f"audit verify OK: {report.leaves} leaves, {report.transfers} transfers, "
            f"{report.postings} postings, {report.accounts} accounts in {report.seconds:.2f}s "
            f"({rate:,.0f} leaves/s)\n"
            f"chain head {report.chain_head.hex()}\n"
            f"circulation {format_fen(totals.circulation)} == -issuance "
            f"{format_fen(-totals.issuance)} == backing {format_fen(totals.backing)} CNY"
        )
