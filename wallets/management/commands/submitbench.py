"""python manage.py submitbench --people 2000 --chunks 100"""

from django.core.management.base import BaseCommand

from wallets.loadrun.submission_bench import bench_submission


class Command(BaseCommand):
    help = (
        "Time submitting payments as the in-process load run does (chunks split by operator, "
        "all of it rolled back): CPU and wall time per transfer, statements per chunk."
    )

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=2_000)
        parser.add_argument("--chunks", type=int, default=100)
        parser.add_argument("--chunk", type=int, default=500)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        result = bench_submission(
            people=options["people"],
            chunks=options["chunks"],
            chunk=options["chunk"],
            seed=options["seed"],
            say=lambda line: self.stdout.write(f"  {line}"),
        )
        self.stdout.write(
            f"submitted {result.transfers:,} payments in chunks of {result.chunk} "
            f"({result.statements_per_chunk} statements a chunk), all rolled back"
        )
        if result.prepared_runs is not None:
            self.stdout.write(
                f"prepared statements kept across chunks: the busiest ran {result.prepared_runs}"
                " times"
            )
        self.stdout.write(f"CPU per transfer (µs): {result.cpu_us.describe()}")
        self.stdout.write(f"submission: {result.wall_us:.1f} µs per transfer, wall")
