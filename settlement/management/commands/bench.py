"""python manage.py bench settlement --transfers 100000"""

from django.core.management.base import BaseCommand

from settlement.bench import bench_settlement


class Command(BaseCommand):
    help = "Benchmarks. `bench settlement` times settling queued payments in this process."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        settle = sub.add_parser("settlement", help="queue payments, then time their settlement")
        settle.add_argument("--transfers", type=int, default=50_000)
        settle.add_argument("--accounts", type=int, default=10_000)
        settle.add_argument("--batch-size", type=int, default=1000)
        settle.add_argument("--seed", type=int, default=1)
        settle.add_argument(
            "--two-phase",
            action="store_true",
            help="reserve every payment, then post every reservation, each phase timed",
        )

    def handle(self, *args, what: str, **options):
        result = bench_settlement(
            transfers=options["transfers"],
            accounts=options["accounts"],
            batch_size=options["batch_size"],
            seed=options["seed"],
            two_phase=options["two_phase"],
        )
        self.stdout.write(
            f"settled {result.transfers} transfers ({result.settled} settled, "
            f"{result.rejected} rejected) among {result.accounts} accounts in batches of "
            f"{result.batch_size} in {result.settle_seconds:.2f}s "
            f"(queueing took {result.queue_seconds:.2f}s)"
        )
        if options["two_phase"]:
            self.stdout.write(
                f"reserved at {result.transfers_per_second:.0f} transfers/s; posted "
                f"{result.posted} in {result.post_seconds:.2f}s "
                f"({result.posted / result.post_seconds:.0f} transfers/s)"
            )
            self.stdout.write(
                f"settlement: {result.two_phase_payments_per_second:.0f} two-phase payments/s "
                "(reserve + post)"
            )
            return
        if cpu := result.cpu_microseconds_per_transfer:
            self.stdout.write(f"CPU per transfer (µs): {cpu.describe()}")
        # The figure, last and alone, for scripts: claim -> postings -> leaves -> commit.
        self.stdout.write(f"settlement: {result.transfers_per_second:.0f} transfers/s")
