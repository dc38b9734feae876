"""python manage.py demo: build a small e-CNY economy, pay, settle, verify, summarise."""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ewallet.money import format_fen
from settlement.audit import keys
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.offline import verify_receipt
from settlement.audit.proofs import leaf_receipt
from settlement.audit.verify import audit_verify
from settlement.models import AuditLeaf, Checkpoint, Transfer
from wallets.demo import Demo, payment_outcomes, wait_until_settled
from wallets.selectors import circulation_by_operator


class Command(BaseCommand):
    help = "Run the demo on a fresh ledger (it empties the database first)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2020)
        parser.add_argument("--people", type=int, default=400)
        parser.add_argument("--merchants", type=int, default=60)
        parser.add_argument("--payments", type=int, default=3000)
        parser.add_argument("--load-transfers", type=int, default=10_000)
        parser.add_argument(
            "--keep", action="store_true", help="refuse to run on a non-empty database instead"
        )

    def handle(self, *args, **options):
        if Transfer.objects.exists():
            if options["keep"]:
                raise CommandError("the database already holds a ledger")
            call_command("flush", interactive=False, verbosity=0)
        where = "in-process" if settings.CELERY_TASK_ALWAYS_EAGER else "by celery workers"
        self.stdout.write(
            f"e-CNY demo on {connection.vendor}, settlement {where}, seed {options['seed']}\n"
        )
        started = time.perf_counter()
        result = Demo(
            seed=options["seed"],
            people=options["people"],
            merchants=options["merchants"],
            payments=options["payments"],
            load_transfers=options["load_transfers"],
            wait_for_settlement=wait_until_settled,
            say=lambda line: self.stdout.write(f"  {line}"),
        ).run()
        if not keys.key_path().exists():
            keys.signing_key_create()
            self.stdout.write(f"  created the checkpoint signing key {keys.key_path()}")
        else:
            keys.signing_key_ensure()  # registered again after a flush
        while checkpoint_seal():  # a long backlog takes several seals; seal all of it
            pass
        report = audit_verify()
        self.summary(result, report, time.perf_counter() - started)
        if not report.ok:
            raise CommandError(f"audit verify FAILED at {report.mismatch}")

    def summary(self, result, report, seconds: float) -> None:
        out = self.stdout.write
        out("\nCirculation by operator (CNY)")
        out(f"  {'operator':<8} {'vault':>16} {'in wallets':>14} {'reserve at PBOC':>18}")
        for row in circulation_by_operator():
            out(
                f"  {row.code:<8} {format_fen(row.vault):>16} {format_fen(row.wallets):>14} "
                f"{format_fen(row.reserve):>18}"
            )
        totals = report.totals
        out(
            f"  e-CNY in circulation {format_fen(totals.circulation)} = issued "
            f"{format_fen(-totals.issuance)} = reserve backing {format_fen(totals.backing)}"
        )

        outcomes = payment_outcomes()
        settled = sum(n for (state, _), n in outcomes.items() if state == "SETTLED")
        rejected = {code: n for (state, code), n in outcomes.items() if state == "REJECTED"}
        out(f"\nPayments: {settled} settled, {sum(rejected.values())} rejected")
        for code, n in sorted(rejected.items(), key=lambda item: -item[1]):
            out(f"  {code:<22} {n:>6}")

        rate = result.load_run_transfers / result.load_run_seconds
        out(
            f"\nLoad run: {result.load_run_transfers} payments submitted and settled in "
            f"{result.load_run_seconds:.1f}s ({rate:,.0f} payments/s end to end)"
        )
        out(
            f"\nAudit: {'OK' if report.ok else 'FAILED'} - {report.leaves} leaves, chain head "
            f"{report.chain_head.hex()[:16]}..., verified in {report.seconds:.2f}s"
        )
        checkpoint = Checkpoint.objects.order_by("-height").first()
        if checkpoint:
            out(
                f"Checkpoint {checkpoint.height}: {checkpoint.size} leaves, Merkle head "
                f"{bytes(checkpoint.root_hash).hex()[:16]}..., signed by key "
                f"{checkpoint.key_hash}; {report.checkpoints} checkpoints verified"
            )
            last_payment = (
                AuditLeaf.objects.filter(transfer__kind__in=["P2P", "MERCHANT"])
                .order_by("-index")
                .first()
            )
            if last_payment:
                entry = verify_receipt(leaf_receipt(leaf_index=last_payment.index))
                out(
                    f"Receipt for payment {entry['transfer']} (leaf {last_payment.index}): "
                    "valid against the signed checkpoint"
                )
        out(f"Demo finished in {seconds:.1f}s")
        out(
            "\nLook around in the console: `python manage.py seed_console` prints a user and "
            "password per role; `make serve`, then http://127.0.0.1:8000/admin/ "
            "(or `make console` for both)"
        )
