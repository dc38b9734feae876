"""python manage.py apibench setup --out DIR | report --after ID

`setup` creates a population for load on the REST API (an operator, loaded class-1 payer
wallets, merchants, a staff token) and writes what a load generator needs to DIR:
payers.txt, payees.txt and token.txt. `report` summarises what the transfers queued after
ID became: how many settled or were rejected, and submit-to-decided latency. See
bench/api.sh, which runs both around wrk.
"""

import statistics
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db.models import Max, Min

from ewallet.money import yuan
from settlement.models import Transfer, TransferState
from settlement.services import transfers_settle
from wallets import services
from wallets.api.tokens import token_issue
from wallets.models import HolderKind, KycMethod, Operator, OperatorStaff
from wallets.roles import Role

OPERATOR = "BENCH"


def _user(name: str, role: Role):
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.groups.add(Group.objects.get(name=role))
    return user


class Command(BaseCommand):
    help = "Population and figures for load runs against the REST API."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        setup = sub.add_parser("setup")
        setup.add_argument("--out", required=True)
        setup.add_argument("--payers", type=int, default=2000)
        setup.add_argument("--payees", type=int, default=50)
        report = sub.add_parser("report")
        report.add_argument("--after", type=int, required=True, help="first transfer id - 1")

    def handle(self, *args, action: str, **options):
        getattr(self, action)(**options)

    def setup(self, *, out: str, payers: int, payees: int, **options) -> None:
        services.reference_data_ensure()
        approver = _user("bench-approver", Role.CB_APPROVER)
        issuer = _user("bench-issuer", Role.CB_ISSUER)
        staff = _user("bench-staff", Role.OPERATOR_STAFF)
        per_payer = 100_000  # yuan: far more than any run spends
        operator = Operator.objects.filter(code=OPERATOR).first() or services.operator_onboard(
            actor=approver,
            code=OPERATOR,
            name="Load-test operator",
            reserve_deposit=yuan(per_payer * payers * 2),
        )
        OperatorStaff.objects.get_or_create(user=staff, defaults={"operator": operator})
        transfers_settle()
        request = services.issuance_request(
            actor=issuer, operator=operator, amount=yuan(per_payer * payers), direction="ISSUE"
        )
        services.issuance_approve(actor=approver, request_id=request.pk)
        transfers_settle()

        def open_wallet(index: int, merchant: bool):
            holder = services.holder_register(
                display_name=f"{'Shop' if merchant else 'Payer'} {index}",
                kind=HolderKind.MERCHANT if merchant else HolderKind.PERSON,
                kyc_method=KycMethod.IN_PERSON,
                id_number=f"{index:018d}",
            )
            return services.wallet_open(actor=staff, holder=holder, operator=operator)

        payer_wallets = [open_wallet(i, merchant=False) for i in range(payers)]
        payee_wallets = [open_wallet(i, merchant=True) for i in range(payees)]
        for wallet in payer_wallets:
            services.wallet_load(
                actor=staff,
                wallet=wallet,
                amount=yuan(per_payer),
                idempotency_key=f"bench-load:{wallet.number}",
            )
        transfers_settle()
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "payers.txt").write_text("".join(f"{w.number}\n" for w in payer_wallets))
        (folder / "payees.txt").write_text("".join(f"{w.number}\n" for w in payee_wallets))
        (folder / "token.txt").write_text(token_issue(user=staff, name="bench")[0] + "\n")
        last = Transfer.objects.aggregate(last=Max("id"))["last"] or 0
        (folder / "after.txt").write_text(f"{last}\n")
        self.stdout.write(f"{payers} payers and {payees} payees at {OPERATOR}; files in {out}")

    def report(self, *, after: int, **options) -> None:
        transfers = Transfer.objects.filter(id__gt=after)
        counts = {state: transfers.filter(state=state).count() for state in TransferState}
        span = transfers.aggregate(first=Min("created_at"), last=Max("decided_at"))
        latencies = sorted(
            (decided - created).total_seconds() * 1000
            for created, decided in transfers.exclude(state=TransferState.RECEIVED).values_list(
                "created_at", "decided_at"
            )
        )
        self.stdout.write(
            f"transfers: {sum(counts.values())} "
            + ", ".join(f"{state.lower()} {n}" for state, n in counts.items())
        )
        if latencies and span["first"] and span["last"]:
            seconds = (span["last"] - span["first"]).total_seconds()
            cut = statistics.quantiles(latencies, n=100, method="inclusive")
            self.stdout.write(
                f"first submit to last decision: {seconds:.1f}s "
                f"({len(latencies) / seconds:.0f} decided/s)"
            )
            self.stdout.write(
                f"submit->decided ms: p50 {cut[49]:.0f}, p95 {cut[94]:.0f}, "
                f"p99 {cut[98]:.0f}, max {latencies[-1]:.0f}"
            )
