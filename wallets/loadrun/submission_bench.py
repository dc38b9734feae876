"""Submitting alone, as the in-process load run's driver submits: chunks of payments split
by the payer's operator, each operator's part through `payments_submit_many` as its
gateway. Nothing is kept: the chunks run in one transaction, rolled back at the end, so
the tables do not grow between runs and nothing is left to settle. Each chunk is a
savepoint it releases, not a transaction of its own rolled back: a ROLLBACK makes psycopg
forget the connection's prepared statements, so every chunk would parse and plan them
again, which a load run's committed chunks never do.

What a transfer cost to submit, in CPU (this process and its PostgreSQL backend) and in
wall time, and how many statements a chunk sends: the submitting half of a steady run,
measured without settlement's half competing for the same cores.
"""

import random
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from settlement.bench import CpuSeconds, cpu_now
from settlement.sql import fetch
from wallets import services
from wallets.loadrun.runner import run_institutions
from wallets.loadrun.setup import population_build, population_with_live_caps


@dataclass(frozen=True)
class SubmissionResult:
    transfers: int
    chunk: int
    statements_per_chunk: int
    wall_us: float  # per transfer
    cpu_us: CpuSeconds  # per transfer; backend and machine None where not measurable
    prepared_runs: int | None = None  # the most runs of one prepared statement; PostgreSQL


def bench_submission(
    *, people: int, chunks: int, chunk: int = 500, seed: int = 1, say=print
) -> SubmissionResult:
    population = population_with_live_caps(seed=seed, people=people, merchants=people // 10)
    run = f"submitbench-{time.time_ns()}"
    # Its opening loads are settled when it returns: only the timed chunks are queued.
    wallets = population_build(population, institutions=run_institutions(), run=run)
    say(f"population: {len(wallets.people)} people, {len(wallets.merchants)} merchants")
    payees = [w.number for w in wallets.people + wallets.merchants]
    rnd = random.Random(seed)

    def planned(index: int) -> dict[int, list[services.PaymentSpec]]:
        by_operator: dict[int, list[services.PaymentSpec]] = {}
        for item in range(chunk):
            payer = rnd.choice(wallets.people)
            by_operator.setdefault(payer.operator_id, []).append(
                services.PaymentSpec(
                    payer.number, rnd.choice(payees), 100, f"{run}-{index}-{item}", "bench"
                )
            )
        return by_operator

    def submit(by_operator: dict[int, list[services.PaymentSpec]]) -> None:
        with transaction.atomic():
            for operator_id, specs in by_operator.items():
                services.payments_submit_many(actor=wallets.staff[operator_id], payments=specs)

    warm_up = planned(-1)
    work = [planned(index) for index in range(chunks)]
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:  # and it prepares the statements
            submit(warm_up)
        statements = len(captured.captured_queries)
        before, started = cpu_now(), time.perf_counter()
        for by_operator in work:
            submit(by_operator)
        wall, after = time.perf_counter() - started, cpu_now()
        prepared_runs = _prepared_runs()
        transaction.set_rollback(True)
    transfers = chunks * chunk
    return SubmissionResult(
        transfers=transfers,
        chunk=chunk,
        statements_per_chunk=statements,
        wall_us=wall / transfers * 1e6,
        cpu_us=(after - before).scaled(1e6 / transfers),
        prepared_runs=prepared_runs,
    )


def _prepared_runs() -> int | None:
    """The most runs of one statement prepared on this connection (PostgreSQL only): every
    chunk's, when the chunks reuse what the first prepared, as a load run's chunks do."""
    if connection.vendor != "postgresql":
        return None
    [(runs,)] = fetch(
        "SELECT coalesce(max(generic_plans + custom_plans), 0) FROM pg_prepared_statements", []
    )
    return runs
