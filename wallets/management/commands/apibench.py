"""python manage.py apibench setup --out DIR | report --after ID

`setup` creates a population for load on the REST API (an operator, loaded class-1 payer
wallets, merchants, a staff token) and writes what a load generator needs to DIR:
payers.txt, payees.txt, codes.txt (each shop's static QR code) and token.txt. `report`
summarises what the transfers queued after ID became: how many settled or were rejected,
and submit-to-decided latency. See
bench/api.sh, which runs both around wrk.
"""

import statistics
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db.models import Max, Min

from ewallet.money import yuan
from settlement.models import Transfer, TransferState
from settlement.selectors import with_visible_at
from wallets import services
from wallets.auth import token_issue
from wallets.loadrun.population import Merchant, Person, Population
from wallets.loadrun.setup import OperatorSpec, institutions_ensure, population_build

OPERATOR = "BENCH"
PER_PAYER = yuan(100_000)  # far more than any run spends


def bench_population(*, payers: int, payees: int) -> Population:
    """Class-1 payers (in-person KYC: no limits) loaded with PER_PAYER each, and shops, all
    at one operator, so one staff token may pay from every payer."""
    return Population(
        seed=0,
        people=tuple(Person(i, OPERATOR, "IN_PERSON", 1, PER_PAYER) for i in range(payers)),
        merchants=tuple(Merchant(i, OPERATOR, "bench", 1.0) for i in range(payees)),
    )


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
        institutions = institutions_ensure(
            prefix="bench",
            # The builder issues twice the opening loads; twice that again leaves room for
            # a second setup on the same database.
            operators=[OperatorSpec(OPERATOR, "Load-test operator", "", PER_PAYER * payers * 4)],
        )
        wallets = population_build(
            bench_population(payers=payers, payees=payees),
            institutions=institutions,
            run="bench",
            issue_extra=0,
        )
        staff = institutions.staff[institutions.operators[OPERATOR].pk]
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "payers.txt").write_text("".join(f"{w.number}\n" for w in wallets.people))
        (folder / "payees.txt").write_text("".join(f"{w.number}\n" for w in wallets.merchants))
        (folder / "token.txt").write_text(token_issue(actor=staff, name="bench")[0] + "\n")
        # Each shop's static collection code, as its till shows it: paid by scanning (qr.lua).
        codes = [
            services.request_payload(
                services.collection_code_create(actor=record.staff, merchant=record.merchant)
            )
            for record in wallets.merchant_records
        ]
        (folder / "codes.txt").write_text("".join(f"{code}\n" for code in codes))
        last = Transfer.objects.aggregate(last=Max("id"))["last"] or 0
        (folder / "after.txt").write_text(f"{last}\n")
        self.stdout.write(f"{payers} payers and {payees} payees at {OPERATOR}; files in {out}")

    def report(self, *, after: int, **options) -> None:
        transfers = Transfer.objects.filter(id__gt=after)
        counts = {state: transfers.filter(state=state).count() for state in TransferState}
        decided = with_visible_at(transfers.exclude(state=TransferState.RECEIVED))
        span = decided.aggregate(first=Min("created_at"), last=Max("visible_at"))
        # Counted to each decision's commit (with_visible_at), as a client would see it.
        latencies = sorted(
            (visible - created).total_seconds() * 1000
            for created, visible in decided.values_list("created_at", "visible_at")
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
                f"submit->decided (committed) ms: p50 {cut[49]:.0f}, p95 {cut[94]:.0f}, "
                f"p99 {cut[98]:.0f}, max {latencies[-1]:.0f}"
            )
