"""Running a load, start to finish: build the population (setup.py), offer the scenario's
transfers through a driver (drivers.py, http_driver.py) while settlement runs where it is
configured (workers.py) and a watcher samples the backlog and memory (watch.py), then check
the ledger (checks.py), build the report (report_data.py) and write it (report.py).

Settlement is `inline` (the doorbell settles in this process: Celery eager for the run,
the embedded default), `workers` (this run starts N `celery worker` processes on the
broker) or `external` (workers someone else runs, e.g. behind the HTTP server).
"""

import contextlib
import os
import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from settlement import doorbell
from settlement.bench import machine_cpu
from settlement.models import Transfer, TransferState
from settlement.selectors import money_totals
from settlement.services import transfers_settle
from wallets.loadrun import drivers, offline, vouchers
from wallets.loadrun.checks import run_checks
from wallets.loadrun.cpu import cpu_by_part, processes_cpu
from wallets.loadrun.population import Population
from wallets.loadrun.report import write_report
from wallets.loadrun.report_data import build_report, load_average, run_rows
from wallets.loadrun.scenarios import Scenario, Segment, plan, timeline
from wallets.loadrun.setup import (
    Institutions,
    Wallets,
    catalogue_operators,
    institutions_ensure,
    population_build,
    population_with_live_caps,
)
from wallets.loadrun.watch import Watcher, watched
from wallets.loadrun.workers import WorkerProcesses, celery_eager

# Reserves large enough that no run's issuance runs short (yuan per percent of market).
RESERVE_YUAN_PER_SHARE = 1_000_000_000


@dataclass
class RunOptions:
    scenario: Scenario
    transfers: int
    seed: int = 1
    rate: float | None = None
    people: int | None = None
    merchants: int | None = None
    via: str = "inprocess"  # or an http(s) URL
    clients: int = 32
    http_batch: int = 1  # payments per HTTP request; above 1, /transfers/batch (a gateway)
    linger_ms: float = 10.0  # gateway: the longest a payment waits for its batch to fill
    settlement: str = "inline"  # inline | workers | external
    workers: int = 2
    batch_size: int | None = None
    chunk: int = 500
    prequeue: bool = False
    wait_ms: int = 0
    settle_timeout: float = 600.0
    verify: bool = True
    out: Path = Path("var/loadruns")
    name: str | None = None
    command: str = ""
    progress: bool = True
    watch: tuple[int, ...] = ()  # more processes whose memory the report follows
    pgbench: dict | None = None  # PgbenchResult.as_dict() of a run in the same sitting


@dataclass
class Offered:
    """What offering the run's transfers and settling them came to."""

    driver: drivers.Driver
    watcher: Watcher
    started_wall: float  # time.time() as the first transfer was due
    submit_seconds: float
    settle_seconds: float  # after the last submission
    run_seconds: float
    rss_end: dict
    machine_cpu_seconds: float | None  # every process's, from the first offer to settled
    cpu_parts_seconds: dict[str, float] | None  # the same, by process (wallets.loadrun.cpu)


def default_sizes(transfers: int) -> tuple[int, int]:
    people = max(200, min(20_000, transfers // 50))
    return people, max(20, people // 10)


def loadrun(options: RunOptions, say: Callable[[str], None] = print) -> tuple[dict, Path]:
    """One load run, start to finish; returns its report and the folder it was written to."""
    run = options.name or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]
    folder = Path(options.out) / run
    started_at = datetime.now(UTC)
    load_start = load_average()
    people, _ = default_sizes(options.transfers)
    population = population_with_live_caps(
        seed=options.seed,
        people=options.people or people,
        merchants=options.merchants or max(20, (options.people or people) // 10),
    )
    segments = timeline(options.scenario, options.transfers, options.rate)
    workers = None
    if options.settlement == "workers":
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise RuntimeError("--settlement workers needs CELERY_BROKER_URL (Redis)")
        workers = WorkerProcesses(
            options.workers, batch_size=options.batch_size, log_dir=folder / "logs"
        )
    inline = options.settlement == "inline"
    try:
        with celery_eager(True) if inline else contextlib.nullcontext():
            setup_started = time.perf_counter()
            wallets, voucher_run, offline_run = _population_build(population, run, options, say)
            setup_seconds = time.perf_counter() - setup_started
            after = Transfer.objects.order_by("-id").values_list("id", flat=True).first() or 0
            money_before = money_totals()
            offered = _offer_and_settle(options, run, population, segments, wallets, workers, after)
    finally:
        if workers:
            workers.stop()
    if voucher_run is not None:
        # The programme's week is over. Its sweep's transfers are no payments of the run
        # (run_rows leaves them out), but the checks of leaves, postings and money count them.
        with celery_eager(True):
            vouchers.programme_close(voucher_run)
    if offline_run is not None:
        # The day offline, after the online payments; its transfers are no payments of the
        # run either, and are checked like the sweep's.
        say("offline: a day of dual-offline payments and late syncs")
        with celery_eager(True):
            offline.offline_day(offline_run)

    say(f"settled; checking the ledger ({'with' if options.verify else 'without'} audit verify)")
    checks_started = time.perf_counter()
    rows = run_rows(after)
    checks = run_checks(
        after=after,
        accepted_ids=offered.driver.accepted_ids,
        rows=rows,
        money_before=money_before,
        verify=options.verify,
    )
    checks_seconds = time.perf_counter() - checks_started

    report = build_report(
        run=run,
        options=options,
        population=population,
        segments=segments,
        rows=rows,
        driver=offered.driver,
        watcher=offered.watcher,
        checks=checks,
        started_at=started_at,
        started_wall=offered.started_wall,
        load_start=load_start,
        seconds={
            "setup": round(setup_seconds, 2),
            "submit": round(offered.submit_seconds, 2),
            "settle_after_submit": round(offered.settle_seconds, 2),
            "run": round(offered.run_seconds, 2),
            "checks": round(checks_seconds, 2),
        },
        rss_end=offered.rss_end,
    )
    report["cpu"] = cpu_figures(
        offered.machine_cpu_seconds,
        run_seconds=offered.run_seconds,
        transfers=report["transfers"]["accepted"],
        parts_seconds=offered.cpu_parts_seconds,
    )
    if voucher_run is not None:
        report["vouchers"] = figures = vouchers.voucher_report(voucher_run, after=after)
        say(
            f"vouchers: {figures['winners']:,} granted of {figures['applicants']:,} applicants; "
            f"{figures['spent_fen'] / 100:,.2f} CNY spent in {figures['payments_with_voucher']:,} "
            f"payments, {figures['returned_fen'] / 100:,.2f} CNY returned; refused "
            f"{figures['refusals'] or 'none'}"
        )
    if offline_run is not None:
        report["offline"] = figures = offline.offline_report(offline_run)
        lag = figures["sync_lag_hours"] or {}
        say(
            f"offline: {figures['payments_synced']:,} payments synced "
            f"({figures['synced_fen'] / 100:,.2f} CNY) from {figures['cards']:,} cards; sync lag "
            f"p50 {lag.get('p50', 0):.1f} h, p95 {lag.get('p95', 0):.1f} h; "
            f"{figures['verified_per_second'] or 0:,} payments verified/s at sync; double "
            f"spends {figures['double_spends'] or 'none'}; {figures['cheaters_blocked']} cards "
            f"blocked, of {figures['cheaters_double_spent']} that spent twice "
            f"({sum(figures['cheaters'].values())} seeded cheaters); loss "
            f"{figures['loss_fen'] / 100:,.2f} CNY to {figures['payees_short']} payees"
        )
    write_report(folder, report)
    return report, folder


def cpu_figures(
    machine_seconds: float | None,
    *,
    run_seconds: float,
    transfers: int,
    parts_seconds: dict[str, float] | None = None,
) -> dict | None:
    """What the run cost the machine: CPU per accepted transfer, and how many cores were
    busy on average. With every core busy the rate is what the machine's CPU allows (and
    the CPU per transfer is its inverse); with cores idle, the run was waiting. By part:
    the same per transfer for each kind of process (wallets.loadrun.cpu)."""
    if machine_seconds is None or not transfers or run_seconds <= 0:
        return None
    return {
        "machine_seconds": round(machine_seconds, 2),
        "per_transfer_us": round(machine_seconds / transfers * 1e6, 1),
        "busy_cores": round(machine_seconds / run_seconds, 2),
        "cores": os.cpu_count(),
        "per_transfer_us_by_part": parts_seconds
        and {part: round(seconds / transfers * 1e6, 1) for part, seconds in parts_seconds.items()},
    }


def run_institutions() -> Institutions:
    """The eight operators of every load run (reused if present), and their staff."""
    return institutions_ensure(
        prefix="loadrun",
        operators=catalogue_operators(reserve_yuan_per_share=RESERVE_YUAN_PER_SHARE),
    )


def _population_build(
    population: Population, run: str, options: RunOptions, say: Callable[[str], None]
) -> tuple[Wallets, "vouchers.VoucherRun | None", "offline.OfflineRun | None"]:
    """The eight operators (reused if present) and the population, opened and loaded, with
    API tokens for the operators' staff when the run goes over HTTP; the scenario's
    voucher programme, if it has one, funded and drawn; and its hardware wallets, if it
    has an offline day, registered and loaded."""
    institutions = run_institutions()
    wallets = population_build(population, institutions=institutions, run=run)
    say(
        f"population: {len(wallets.people)} people and {len(wallets.merchants)} merchants at "
        f"{len(institutions.operators)} operators, wallets loaded"
    )
    if options.via != "inprocess":
        wallets.tokens = drivers.staff_tokens(wallets.staff, run)
    voucher_run = None
    if options.scenario.vouchers is not None:
        voucher_run = vouchers.programme_setup(
            options.scenario.vouchers,
            institutions=institutions,
            wallets=wallets,
            seed=options.seed,
            run=run,
        )
        say(
            f"vouchers: {voucher_run.programme.count:,} of "
            f"{voucher_run.programme.voucher_amount / 100:,.2f} CNY drawn among "
            f"{voucher_run.applicants:,} applicants"
        )
    offline_run = None
    if options.scenario.offline is not None:
        offline_run = offline.offline_setup(
            options.scenario.offline, wallets=wallets, seed=options.seed, run=run
        )
        say(
            f"offline: {len(offline_run.people_cards):,} cards registered and loaded "
            f"({offline_run.load_refused} loads refused), "
            f"{len(offline_run.cards) - len(offline_run.people_cards):,} merchant terminals"
        )
    return wallets, voucher_run, offline_run


def _offer_and_settle(
    options: RunOptions,
    run: str,
    population: Population,
    segments: list[Segment],
    wallets: Wallets,
    workers: WorkerProcesses | None,
    after: int,
) -> Offered:
    """Offer the planned transfers and wait until every one is decided, watching."""
    if workers and not options.prequeue:
        workers.start()
    driver = drivers.make_driver(options, wallets, run)
    planned = plan(population, segments, options.seed)
    progress = drivers.Progress(options.transfers, enabled=options.progress)
    started = time.perf_counter()
    started_wall = time.time()
    cpu_started, processes_started = machine_cpu(), processes_cpu()
    watcher = Watcher(
        after=after,
        started=started,
        interval=0.5,
        accepted=lambda: driver.accepted,
        pids=lambda: (
            [("loadrun", os.getpid())]
            + (workers.pids() if workers else [])
            + watched(options.watch)
        ),
        on_sample=progress.update,
    )
    settle_here_after = options.settlement == "inline" and options.prequeue
    with progress:
        watcher.start()
        # Prequeued inline: queue without settling, then settle here in one go.
        with celery_eager(False) if settle_here_after else contextlib.nullcontext():
            driver.run(planned, segments, started)
        submit_seconds = time.perf_counter() - started
        settle_started = time.perf_counter()
        if settle_here_after:
            # This process is the worker: it answers the doorbell the submissions rang, or
            # the flag would hold back the next ring for its TTL.
            doorbell.answer()
            transfers_settle(batch_size=options.batch_size)
        if workers and options.prequeue:
            workers.start()
            settle_started = time.perf_counter()
            workers.wake_all()
        _wait_settled(after, options.settle_timeout)
        settle_seconds = time.perf_counter() - settle_started
        cpu_ended, processes_ended = machine_cpu(), processes_cpu()
        watcher.stop()
        progress.update(watcher.last)
    return Offered(
        driver=driver,
        watcher=watcher,
        started_wall=started_wall,
        submit_seconds=submit_seconds,
        settle_seconds=settle_seconds,
        run_seconds=time.perf_counter() - started,
        rss_end=watcher.rss_now(),
        machine_cpu_seconds=None if cpu_started is None else cpu_ended - cpu_started,
        cpu_parts_seconds=None
        if cpu_started is None
        else cpu_by_part(
            processes_started,
            processes_ended,
            machine_seconds=cpu_ended - cpu_started,
            own_pid=os.getpid(),
            worker_pids={pid for _, pid in workers.pids()} if workers else set(),
            watched_pids={pid for _, pid in watched(options.watch)},
        ),
    )


def _wait_settled(after: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Transfer.objects.filter(id__gt=after, state=TransferState.RECEIVED).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("transfers still RECEIVED: is settlement running?")
        time.sleep(0.05)


def command_line(argv: list[str]) -> str:
    return "python manage.py " + shlex.join(argv)
