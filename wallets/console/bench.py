"""How long the central bank's dashboard takes over a large ledger (PostgreSQL).

Fills the transfer table with `transfers` decided payments (one in ten rejected, spread
over the past day) straight from `generate_series`, with the tallies settlement would have
kept for them, then times the dashboard page as a central-bank user gets it, and beside it
the two whole-table counts the dashboard ran before the tallies. Use a scratch database:
the rows stay.
"""

import statistics
import time
from dataclasses import dataclass

from django.db import connection
from django.test import Client

from settlement.models import PaymentsPerMinute, RejectionTally, Transfer
from wallets.loadrun.setup import catalogue_operators, institutions_ensure

FILL_CHUNK = 1_000_000
CODES = ["INSUFFICIENT_FUNDS", "LIMIT_DAILY", "LIMIT_SINGLE", "WALLET_FROZEN"]

# The dashboard's counts as they were before the tallies: whole-table reads.
OLD_COUNTS = {
    "rejections by code (counted)": (
        f"SELECT reject_code, count(*) FROM {Transfer._meta.db_table} "
        "WHERE state = 'REJECTED' GROUP BY reject_code"
    ),
    "payments per minute, last hour (counted)": (
        f"SELECT date_trunc('minute', decided_at), count(*) FROM {Transfer._meta.db_table} "
        "WHERE kind IN ('P2P', 'MERCHANT', 'SUB_WALLET_FUND') "
        "AND decided_at >= now() - interval '1 hour' GROUP BY 1"
    ),
}


@dataclass
class DashboardBench:
    transfers: int
    fill_seconds: float
    page_ms: list[float]
    old_count_ms: dict[str, float]

    @property
    def page_p50(self) -> float:
        return statistics.median(self.page_ms)

    @property
    def page_max(self) -> float:
        return max(self.page_ms)


def bench_dashboard(*, transfers: int, requests: int = 20, say=print) -> DashboardBench:
    if connection.vendor != "postgresql":
        raise SystemExit("the dashboard bench fills PostgreSQL with generate_series")
    institutions = institutions_ensure(
        prefix="dash", operators=catalogue_operators(reserve_yuan_per_share=1_000)
    )
    started = time.perf_counter()
    have = Transfer.objects.filter(idempotency_key__startswith="dash:").count()
    for start in range(have, transfers, FILL_CHUNK):
        _fill(start, min(start + FILL_CHUNK, transfers))
        say(f"  {min(start + FILL_CHUNK, transfers):,} transfers in the ledger")
    fill_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Transfer._meta.db_table}")

    viewer = institutions.approver.user
    viewer.is_staff = True  # a console user, as seed_console makes them
    viewer.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(viewer)
    client.get("/admin/")  # warm: templates, caches
    page_ms = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get("/admin/")
        page_ms.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    old_count_ms = {}
    with connection.cursor() as cursor:
        for name, sql in OLD_COUNTS.items():
            began = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            old_count_ms[name] = (time.perf_counter() - began) * 1000
    return DashboardBench(transfers, fill_seconds, page_ms, old_count_ms)


def _fill(first: int, last: int) -> None:
    """Transfers first+1..last: decided payments over the past day, one in ten rejected,
    and the tallies settlement keeps for them."""
    table = Transfer._meta.db_table
    codes = "ARRAY[" + ", ".join(f"'{code}'" for code in CODES) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, state, reject_code, idempotency_key, memo, created_at, "
            "decided_at) SELECT 'P2P', CASE WHEN g %% 10 = 0 THEN 'REJECTED' ELSE 'SETTLED' END, "
            f"CASE WHEN g %% 10 = 0 THEN ({codes})[1 + g / 10 %% 4] ELSE '' END, 'dash:' || g, '', "
            "t, t FROM generate_series(%s, %s) AS g, "
            "LATERAL (SELECT now() - (g %% 86400) * interval '1 second') AS at(t)",
            [first + 1, last],
        )
        cursor.execute(
            f"INSERT INTO {PaymentsPerMinute._meta.db_table} (minute, decided) "
            "SELECT date_trunc('minute', now() - (g %% 86400) * interval '1 second'), count(*) "
            "FROM generate_series(%s, %s) AS g GROUP BY 1 "
            "ON CONFLICT (minute) DO UPDATE SET decided = "
            f"{PaymentsPerMinute._meta.db_table}.decided + EXCLUDED.decided",
            [first + 1, last],
        )
        cursor.execute(
            f"INSERT INTO {RejectionTally._meta.db_table} (reject_code, rejected) "
            f"SELECT ({codes})[1 + g / 10 %% 4], count(*) FROM generate_series(%s, %s) AS g "
            "WHERE g %% 10 = 0 GROUP BY 1 ON CONFLICT (reject_code) DO UPDATE SET rejected = "
            f"{RejectionTally._meta.db_table}.rejected + EXCLUDED.rejected",
            [first + 1, last],
        )
