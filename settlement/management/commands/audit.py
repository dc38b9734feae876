"""python manage.py audit verify | checkpoint | proof --transfer ID | keygen [--rotate]"""

from django.core.management.base import BaseCommand, CommandError

from ewallet.errors import EwalletError
from ewallet.money import format_fen
from settlement.audit import keys
from settlement.audit.checkpoint import audit_export, checkpoint_seal, receipt_json
from settlement.audit.verify import audit_verify
from settlement.models import AuditLeaf


class Command(BaseCommand):
    help = "Audit log tools: verify the log, seal a checkpoint, print a receipt, manage keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser(
            "verify", help="recompute leaves, chain, checkpoints and money invariants"
        )
        verify.add_argument(
            "--since", type=int, metavar="HEIGHT", help="check only from this checkpoint on"
        )
        export = sub.add_parser("export", help="write keys, leaves and checkpoints as JSON lines")
        export.add_argument("--out", help="a file (default: standard output)")
        sub.add_parser("checkpoint", help="seal a signed checkpoint over new leaves now")
        proof = sub.add_parser("proof", help="print a JSON receipt for one settled transfer")
        which = proof.add_mutually_exclusive_group(required=True)
        which.add_argument("--transfer", type=int)
        which.add_argument("--leaf", type=int)
        keygen = sub.add_parser("keygen", help="create the checkpoint signing key (mode 0600)")
        keygen.add_argument("--rotate", action="store_true", help="replace the current key")
        keygen.add_argument("--if-missing", action="store_true", help="do nothing if one exists")

    def handle(self, *args, action: str, **options):
        try:
            getattr(self, action)(**options)
        except (EwalletError, FileExistsError) as error:
            raise CommandError(str(error)) from error

    def verify(self, *, since: int | None, **options) -> None:
        report = audit_verify(since=since)
        rate = report.leaves_checked / report.seconds if report.seconds else 0.0
        if not report.ok:
            raise CommandError(f"audit verify FAILED at {report.mismatch}")
        totals = report.totals
        self.stdout.write(
            f"audit verify OK: {report.leaves} leaves ({report.leaves_checked} checked), "
            f"{report.checkpoints} checkpoints, "
            f"{report.transfers} transfers, {report.postings} postings, {report.accounts} "
            f"accounts in {report.seconds:.2f}s ({rate:,.0f} leaves/s)\n"
            f"chain head {report.chain_head.hex()}\n"
            f"circulation {format_fen(totals.circulation)} == -issuance "
            f"{format_fen(-totals.issuance)} == backing {format_fen(totals.backing)} CNY"
        )

    def export(self, *, out: str | None, **options) -> None:
        if out is None:
            count = audit_export(self.stdout)
        else:
            with open(out, "w", encoding="utf-8") as handle:
                count = audit_export(handle)
            self.stderr.write(f"wrote {count} lines to {out}")

    def checkpoint(self, **options) -> None:
        last = None
        while sealed := checkpoint_seal():  # a long backlog takes several seals
            last = sealed
        if last is None:
            self.stdout.write("no new leaves since the last checkpoint")
        else:
            self.stdout.write(last.note)

    def proof(self, *, transfer: int | None, leaf: int | None, **options) -> None:
        if transfer is not None:
            leaf = AuditLeaf.objects.filter(transfer_id=transfer).values_list("index", flat=True)
            leaf = leaf.first()
            if leaf is None:
                raise CommandError(f"transfer {transfer} has no audit leaf (not settled?)")
        self.stdout.write(receipt_json(leaf_index=leaf))

    def keygen(self, *, rotate: bool, if_missing: bool, **options) -> None:
        if if_missing and keys.key_path().exists():
            self.stdout.write(f"{keys.key_path()} exists; verifier key: {keys.signer()[0]}")
            return
        verifier = keys.signing_key_create(rotate=rotate)
        self.stdout.write(f"wrote {keys.key_path()} (mode 0600)\nverifier key: {verifier}")
