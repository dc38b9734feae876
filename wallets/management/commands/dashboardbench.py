"""python manage.py dashboardbench --transfers 10000000 (PostgreSQL, a scratch database)"""

from django.core.management.base import BaseCommand

from wallets.console.bench import bench_dashboard


class Command(BaseCommand):
    help = "Time the central bank's console dashboard over a ledger of N decided transfers."

    def add_arguments(self, parser):
        parser.add_argument("--transfers", type=int, default=10_000_000)
        parser.add_argument("--requests", type=int, default=20)

    def handle(self, *args, transfers: int, requests: int, **options):
        result = bench_dashboard(transfers=transfers, requests=requests, say=self.stdout.write)
        self.stdout.write(
            f"dashboard over {result.transfers:,} transfers: p50 {result.page_p50:.0f} ms, "
            f"slowest {result.page_max:.0f} ms of {len(result.page_ms)} requests "
            f"(filling took {result.fill_seconds:.0f} s)"
        )
        for name, ms in result.old_count_ms.items():
            self.stdout.write(f"  before the tallies, {name}: {ms:.0f} ms")
