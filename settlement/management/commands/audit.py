"""python manage.py audit verify | export | checkpoint | proof --transfer ID | keygen [--rotate]
| tamper --mutations N --seed S"""

import json

from django.core.management.base import BaseCommand, CommandError

from ewallet.errors import ErrorCode, EwalletError
from ewallet.money import format_fen
from settlement.audit import keys, proofs
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.tamper import tamper_campaign
from settlement.audit.verify import audit_verify


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
        proof = sub.add_parser(
            "proof",
            help="print a JSON receipt for one settled transfer (sealing a checkpoint first "
            "if none covers it yet)",
        )
        which = proof.add_mutually_exclusive_group(required=True)
        which.add_argument("--transfer", type=int)
        which.add_argument("--leaf", type=int)
        keygen = sub.add_parser("keygen", help="create the checkpoint signing key (mode 0600)")
        keygen.add_argument("--rotate", action="store_true", help="replace the current key")
        keygen.add_argument(
            "--if-missing",
            action="store_true",
            help="keep an existing key file (registering its key if the database has none)",
        )
        tamper = sub.add_parser(
            "tamper",
            help="apply random mutations to ledger and audit rows, each rolled back after "
            "`audit verify` has looked at it, and count what it found and named",
        )
        tamper.add_argument("--mutations", type=int, default=1000)
        tamper.add_argument("--seed", type=int, default=0)
        tamper.add_argument("--each", action="store_true", help="print every mutation")

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
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
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
            count = proofs.audit_export(self.stdout)
        else:
            with open(out, "w", encoding="utf-8") as handle:
                count = proofs.audit_export(handle)
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
        def read() -> dict:
            if transfer is not None:
                return proofs.transfer_receipt(transfer_id=transfer)
            return proofs.leaf_receipt(leaf_index=leaf)

        try:
            receipt = read()
        except EwalletError as error:
            if error.code != ErrorCode.NOT_CHECKPOINTED:
                raise
            # The API answers 409 here; the central bank's own command may seal, so it does.
            while checkpoint_seal():  # a long backlog takes several seals
                pass
            receipt = read()
        self.stdout.write(json.dumps(receipt, indent=2))

    def keygen(self, *, rotate: bool, if_missing: bool, **options) -> None:
        if if_missing and keys.key_path().exists():
            verifier = keys.signing_key_ensure()
            self.stdout.write(f"{keys.key_path()} exists; verifier key: {verifier}")
            return
        verifier = keys.signing_key_create(rotate=rotate)
        self.stdout.write(f"wrote {keys.key_path()} (mode 0600)\nverifier key: {verifier}")

    def tamper(self, *, mutations: int, seed: int, each: bool, **options) -> None:
        def say(number, kind, outcome, what, finding) -> None:
            self.stdout.write(f"{number:5} {kind:18} {outcome:9} {what} | {finding}")

        try:
            report = tamper_campaign(mutations=mutations, seed=seed, on_each=say if each else None)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        columns = ("mutations", "detected", "refused", "unchanged", "outside", "missed")
        self.stdout.write(f"{'kind':18} " + " ".join(f"{c:>9}" for c in columns) + "  named by")
        for kind, tally in sorted(report.kinds.items()):
            named = ", ".join(f"{name} {n}" for name, n in tally.named_by.most_common())
            counts = " ".join(f"{getattr(tally, c):9}" for c in columns)
            self.stdout.write(f"{kind:18} {counts}  {named}")
        totals = " ".join(f"{report.total(c):9}" for c in columns)
        self.stdout.write(f"{'total':18} {totals}")
        self.stdout.write(
            f"seed {seed}: {mutations} mutations in {report.seconds:.1f}s, every one rolled back"
        )
        for kind, tally in sorted(report.kinds.items()):
            for outside in tally.outside_examples:
                self.stdout.write(f"outside the log, {kind}: {outside}")
            for missed in tally.missed_examples:
                self.stdout.write(f"MISSED {kind}: {missed}")
        if report.total("missed"):
            raise CommandError(f"{report.total('missed')} mutations were not detected")
