"""Running a load: build the population through the services, offer the scenario's
transfers through a driver, let settlement run where it is configured, watch the
backlog, then check the ledger and write the report.

Settlement is `inline` (the doorbell settles in this process: Celery eager, the embedded
default), `workers` (this run starts N `celery worker` processes on the broker) or
`external` (workers someone else runs, e.g. behind the HTTP server).
"""

import contextlib
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, connections, transaction

from ewallet import celery_app
from ewallet.money import yuan
from settlement import doorbell
from settlement.models import Transfer, TransferState
from settlement.selectors import money_totals
from settlement.services import transfers_settle
from wallets import services
from wallets.catalogue import OPERATORS
from wallets.loadrun import stats
from wallets.loadrun.population import MARKET_SHARE, Population, population_plan
from wallets.loadrun.report import write_report
from wallets.loadrun.scenarios import Scenario, plan, timeline
from wallets.models import HolderKind, KycMethod, Operator, OperatorStaff, WalletClass
from wallets.roles import Role

ROOT = Path(__file__).resolve().parents[2]
RUN_KINDS = ("P2P", "MERCHANT", "LOAD")


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
class Wallets:
    people: list[tuple[str, int, int]]  # (number, account id, operator id)
    merchants: list[tuple[str, int, int]]
    staff: dict[int, object] = field(default_factory=dict)  # operator id -> user
    tokens: dict[int, str] = field(default_factory=dict)  # operator id -> API token


# ---------------------------------------------------------------- population


def _user(name: str, *roles: Role):
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.groups.add(*Group.objects.filter(name__in=roles))
    return user


def population_build(population: Population, run: str, say: Callable[[str], None]) -> Wallets:
    """Operators (reused if present), holders and wallets, e-CNY issued and loaded."""
    services.reference_data_ensure()
    approver = _user("loadrun-approver", Role.CB_APPROVER)
    issuer = _user("loadrun-issuer", Role.CB_ISSUER)
    operators = {}
    for code, name, name_zh in OPERATORS:
        operator = Operator.objects.filter(code=code).first() or services.operator_onboard(
            actor=approver,
            code=code,
            name=name,
            name_zh=name_zh,
            reserve_deposit=yuan(MARKET_SHARE.get(code, 5) * 1_000_000_000),
        )
        operators[code] = operator
    staff = {}
    for code, operator in operators.items():
        user = _user(f"loadrun-staff-{code.lower()}", Role.OPERATOR_STAFF)
        OperatorStaff.objects.get_or_create(user=user, defaults={"operator": operator})
        staff[operator.pk] = user
    transfers_settle()

    # Issue what the opening loads need, twice over, plus room for payday loads.
    need = Counter()
    for person in population.people:
        need[person.operator] += person.opening_load
    for code, operator in operators.items():
        amount = need[code] * 2 + yuan(10_000_000)
        request = services.issuance_request(
            actor=issuer, operator=operator, amount=amount, direction="ISSUE"
        )
        services.issuance_approve(actor=approver, request_id=request.pk)
    transfers_settle()
    rejected = Transfer.objects.filter(
        kind="ISSUE", state=TransferState.REJECTED, idempotency_key__startswith="issuance:"
    ).exists()
    if rejected:
        raise RuntimeError("an issuance was rejected: run on a fresh database (--flush)")

    def open_wallets(rows, make):
        opened = []
        for start in range(0, len(rows), 500):
            with transaction.atomic():
                opened += [make(row) for row in rows[start : start + 500]]
        return opened

    def person_wallet(person):
        method = KycMethod(person.kyc)
        holder = services.holder_register(
            display_name=f"Person {run}-{person.index}",
            kyc_method=method,
            phone=f"139{person.index:08d}",
            id_number="" if method == KycMethod.PHONE_ONLY else f"3101011990{person.index:08d}",
            bank_account=f"6222{person.index:012d}" if method == KycMethod.REMOTE_ID_BANK else "",
        )
        wallet = services.wallet_open(
            actor=staff[operators[person.operator].pk],
            holder=holder,
            operator=operators[person.operator],
            wallet_class=person.wallet_class,
        )
        return wallet.number, wallet.account_id, wallet.operator_id

    def merchant_wallet(merchant):
        holder = services.holder_register(
            display_name=f"{merchant.trade.title()} shop {run}-{merchant.index}",
            kind=HolderKind.MERCHANT,
            kyc_method=KycMethod.IN_PERSON,
            id_number=f"9131{merchant.index:014d}",
        )
        wallet = services.wallet_open(
            actor=staff[operators[merchant.operator].pk],
            holder=holder,
            operator=operators[merchant.operator],
        )
        return wallet.number, wallet.account_id, wallet.operator_id

    people = open_wallets(list(population.people), person_wallet)
    merchants = open_wallets(list(population.merchants), merchant_wallet)
    wallets = Wallets(people=people, merchants=merchants, staff=staff)
    from wallets.models import Wallet

    by_number = {
        w.number: w
        for w in Wallet.objects.filter(number__in=[p[0] for p in people]).select_related("operator")
    }
    for start in range(0, len(people), 500):
        with transaction.atomic():
            for person, (number, _, operator_id) in zip(
                population.people[start : start + 500], people[start : start + 500], strict=True
            ):
                services.wallet_load(
                    actor=staff[operator_id],
                    wallet=by_number[number],
                    amount=person.opening_load,
                    idempotency_key=f"loadrun:{run}:opening:{person.index}",
                )
    transfers_settle()
    say(
        f"population: {len(people)} people and {len(merchants)} merchants at "
        f"{len(operators)} operators, wallets loaded"
    )
    return wallets


# ---------------------------------------------------------------- settlement workers


class WorkerProcesses:
    """N `celery worker --concurrency 1` processes (the first also runs beat)."""

    def __init__(self, count: int, *, batch_size: int | None, log_dir: Path) -> None:
        self.count = count
        self.batch_size = batch_size
        self.log_dir = log_dir
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self) -> None:
        env = {
            **os.environ,
            "EWALLET_LOG_LEVEL": "WARNING",
            # The database this process uses (a test database too), and the same key.
            "DATABASE_URL": database_url(),
            "EWALLET_AUDIT_KEY_FILE": str(settings.EWALLET_AUDIT_KEY_FILE),
        }
        if self.batch_size:
            env["EWALLET_SETTLEMENT_BATCH_SIZE"] = str(self.batch_size)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        names = []
        for number in range(self.count):
            name = f"loadrun-{uuid.uuid4().hex[:6]}-{number}@localhost"
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ewallet",
                "worker",
                "--concurrency=1",
                "--loglevel=WARNING",
                "--hostname",
                name,
                "--without-gossip",
                "--without-mingle",
            ]
            if number == 0:
                command += ["--beat", "--schedule", str(self.log_dir / "beat-schedule")]
            log = (self.log_dir / f"worker-{number}.log").open("ab")
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes.append((name, process))
            names.append(name)
        deadline = time.monotonic() + 60
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"worker {name} exited; see {self.log_dir}")
            for reply in celery_app.control.ping(destination=list(waiting), timeout=0.5) or []:
                waiting -= set(reply)
        if waiting:
            raise RuntimeError(f"workers never answered: {sorted(waiting)}")

    def wake_all(self) -> None:
        """One settle task per worker, so all of them drain a prequeued backlog."""
        from settlement.tasks import settle_pending

        for _ in range(self.count):
            settle_pending.delay()

    def pids(self) -> list[tuple[str, int]]:
        found = []
        for number, (_, process) in enumerate(self.processes):
            found.append((f"celery worker {number}", process.pid))
            found += [(f"celery worker {number} child", pid) for pid in _children(process.pid)]
        return found

    def stop(self) -> None:
        import signal

        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return os.environ.get("DATABASE_URL", "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{quote(db['USER'])}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def watched(pids) -> list[tuple[str, int]]:
    """Processes named on the command line, and their children (e.g. gunicorn's)."""
    found = []
    for pid in pids:
        found.append((f"process {pid}", pid))
        found += [(f"process {pid} child", child) for child in _children(pid)]
    return found


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ---------------------------------------------------------------- watching


class Watcher(threading.Thread):
    """Samples the backlog and decisions (own connection) and processes' memory."""

    def __init__(
        self,
        *,
        after: int,
        started: float,
        interval: float,
        accepted: Callable[[], int],
        pids: Callable[[], list[tuple[str, int]]],
        on_sample: Callable[[dict], None],
    ):
        super().__init__(daemon=True)
        self.after, self.started, self.interval = after, started, interval
        self.accepted, self.pids, self.on_sample = accepted, pids, on_sample
        self.backlog: list[tuple[float, int]] = []
        self.rss: dict[tuple[str, int], list[tuple[float, int]]] = {}  # (seconds, KiB)
        self.stopping = threading.Event()
        self.last = {"backlog": 0, "rejected": 0, "decided": 0}
        self.rejected = 0
        self.watermark = after

    def sample(self) -> None:
        table = Transfer._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), min(id) FROM {table} WHERE state = 'RECEIVED' AND id > %s",
                [self.after],
            )
            backlog, lowest = cursor.fetchone()
            # Transfers below the lowest RECEIVED id are decided: count their rejections
            # once, so a sample reads only what was decided since the last one.
            upto = (lowest - 1) if lowest else None
            if upto is None:
                cursor.execute(f"SELECT max(id) FROM {table}")
                upto = cursor.fetchone()[0] or self.watermark
            if upto > self.watermark:
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE id > %s AND id <= %s "
                    "AND state = 'REJECTED'",
                    [self.watermark, upto],
                )
                self.rejected += cursor.fetchone()[0]
                self.watermark = upto
        elapsed = time.perf_counter() - self.started
        self.backlog.append((round(elapsed, 2), backlog))
        for key in self.pids():
            size = rss_kb(key[1])
            if size is not None:
                self.rss.setdefault(key, []).append((round(elapsed, 2), size))
        accepted = self.accepted()
        self.last = {
            "backlog": backlog,
            "rejected": self.rejected,
            "decided": max(0, accepted - backlog),
            "accepted": accepted,
        }
        self.on_sample(self.last)

    def sample_or_skip(self) -> None:
        # An in-memory SQLite database shared between threads (the tests') refuses a
        # reader while the writer holds a table: skip that sample.
        with contextlib.suppress(DatabaseError):
            self.sample()

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.interval):
                self.sample_or_skip()
            self.sample_or_skip()
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopping.set()
        self.join()


# ---------------------------------------------------------------- the run


def machine_facts() -> dict:
    facts = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": connection.vendor,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            facts["database_version"] = cursor.fetchone()[0]
            for name in ("synchronous_commit", "fsync", "shared_buffers"):
                cursor.execute(f"SHOW {name}")
                facts[name] = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT sqlite_version()")
            facts["database_version"] = cursor.fetchone()[0]
    with contextlib.suppress(OSError):
        facts["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    return facts


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def default_sizes(transfers: int) -> tuple[int, int]:
    people = max(200, min(20_000, transfers // 50))
    return people, max(20, people // 10)


def loadrun(options: RunOptions, say: Callable[[str], None] = print) -> tuple[dict, Path]:
    from wallets.loadrun import drivers

    run = options.name or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]
    folder = Path(options.out) / run
    started_at = datetime.now(UTC)
    load_start = load_average()
    people, _ = default_sizes(options.transfers)
    caps = dict(WalletClass.objects.values_list("number", "balance_cap")) or None
    population = population_plan(
        seed=options.seed,
        people=options.people or people,
        merchants=options.merchants or max(20, (options.people or people) // 10),
        caps=caps,
    )
    segments = timeline(options.scenario, options.transfers, options.rate)

    inline_before = celery_app.conf.task_always_eager
    if options.settlement == "inline":
        celery_app.conf.task_always_eager = True
    workers = None
    if options.settlement == "workers":
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise RuntimeError("--settlement workers needs CELERY_BROKER_URL (Redis)")
        workers = WorkerProcesses(
            options.workers, batch_size=options.batch_size, log_dir=folder / "logs"
        )
    try:
        setup_started = time.perf_counter()
        wallets = population_build(population, run, say)
        setup_seconds = time.perf_counter() - setup_started
        after = Transfer.objects.order_by("-id").values_list("id", flat=True).first() or 0
        money_before = money_totals()
        if options.via != "inprocess":
            wallets.tokens = drivers.staff_tokens(wallets.staff, run)
        if workers and not options.prequeue:
            workers.start()
        driver = drivers.make_driver(options, wallets, run)
        planned = plan(population, segments, options.seed)

        progress = drivers.Progress(options.transfers, enabled=options.progress)
        started = time.perf_counter()
        started_wall = time.time()
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
        with progress:
            watcher.start()
            if options.settlement == "inline" and options.prequeue:
                celery_app.conf.task_always_eager = False
                settle_after = True
            else:
                settle_after = False
            driver.run(planned, segments, started)
            submit_seconds = time.perf_counter() - started
            settle_started = time.perf_counter()
            if settle_after:
                celery_app.conf.task_always_eager = True
                # Settling here, this process is the worker: it answers the doorbell the
                # submissions rang, or the flag would hold back the next ring for its TTL.
                doorbell.answer()
                transfers_settle(batch_size=options.batch_size)
            if workers and options.prequeue:
                workers.start()
                settle_started = time.perf_counter()
                workers.wake_all()
            _wait_settled(after, options.settle_timeout)
            settle_seconds = time.perf_counter() - settle_started
            watcher.stop()
            progress.update(watcher.last)
        run_seconds = time.perf_counter() - started
        rss_end = {key: rss_kb(key[1]) for key in watcher.rss}
    finally:
        if workers:
            workers.stop()
        celery_app.conf.task_always_eager = inline_before

    say(f"settled; checking the ledger ({'with' if options.verify else 'without'} audit verify)")
    from wallets.loadrun.checks import run_checks

    checks_started = time.perf_counter()
    rows = _run_rows(after)
    checks = run_checks(
        after=after,
        accepted_ids=driver.accepted_ids,
        rows=rows,
        money_before=money_before,
        verify=options.verify,
    )
    checks_seconds = time.perf_counter() - checks_started

    report = _report(
        run=run,
        options=options,
        population=population,
        segments=segments,
        rows=rows,
        driver=driver,
        watcher=watcher,
        checks=checks,
        started_at=started_at,
        started_wall=started_wall,
        load_start=load_start,
        seconds={
            "setup": round(setup_seconds, 2),
            "submit": round(submit_seconds, 2),
            "settle_after_submit": round(settle_seconds, 2),
            "run": round(run_seconds, 2),
            "checks": round(checks_seconds, 2),
        },
        rss_end=rss_end,
    )
    write_report(folder, report)
    return report, folder


def _ratio(settlement_tps: float | None, pgbench: dict | None) -> float | None:
    if not settlement_tps or not pgbench or not pgbench.get("tps"):
        return None
    return round(settlement_tps / pgbench["tps"], 2)


def _wait_settled(after: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Transfer.objects.filter(id__gt=after, state=TransferState.RECEIVED).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("transfers still RECEIVED: is settlement running?")
        time.sleep(0.05)


def _run_rows(after: int) -> list[tuple]:
    """(id, kind, state, reject_code, created_at, decided_at) of the run's transfers."""
    return list(
        Transfer.objects.filter(id__gt=after, kind__in=RUN_KINDS)
        .order_by("id")
        .values_list("id", "kind", "state", "reject_code", "created_at", "decided_at")
    )


def _report(
    *,
    run,
    options,
    population,
    segments,
    rows,
    driver,
    watcher,
    checks,
    started_at,
    started_wall,
    load_start,
    seconds,
    rss_end,
) -> dict:
    interval = stats.nice_interval(seconds["run"] / 60)
    created = [(r[4].timestamp() - started_wall) for r in rows]
    decided = [(r[5].timestamp() - started_wall) for r in rows if r[5] is not None]
    latencies = [(r[5] - r[4]).total_seconds() * 1000 for r in rows if r[2] == "SETTLED"]
    all_latencies = [(r[5] - r[4]).total_seconds() * 1000 for r in rows if r[5] is not None]
    # From when the driver offered each transfer, the wait before the server took it
    # included. The HTTP drivers note offer times; in-process, submitting is the offer.
    offered_to_settled = offered_to_decided = None
    if options.via != "inprocess":
        settled_ms, decided_ms = latencies_from_offer(rows, driver.offered_at)
        offered_to_settled = stats.latency_summary(settled_ms)
        offered_to_decided = stats.latency_summary(decided_ms)
    rejections = Counter(r[3] for r in rows if r[2] == "REJECTED")
    rejected_series = {
        code: stats.per_interval(
            [r[5].timestamp() - started_wall for r in rows if r[3] == code], interval=interval
        )
        for code in rejections
    }
    decided_series = stats.per_interval(decided, interval=interval)
    first_created = min(created, default=0.0)
    last_decided = max(decided, default=0.0)
    span = last_decided - first_created
    submit_span = (max(created) - first_created) if created else 0.0
    paced = segments and segments[0].rate is not None
    planned_seconds = sum(s.seconds for s in segments)
    offered = [(s.start, s.rate) for s in segments] + [(planned_seconds, 0.0)] if paced else []
    processes = []
    for (name, pid), samples in watcher.rss.items():
        sizes = [size for _, size in samples]
        processes.append(
            {
                "name": name,
                "pid": pid,
                "rss_start_kb": sizes[0],
                "rss_end_kb": rss_end.get((name, pid)) or sizes[-1],
                "rss_max_kb": max(sizes),
                # Enough points to see whether memory is flat, not every sample.
                "rss_over_time_kb": samples[:: max(1, len(samples) // 60)],
            }
        )
    # Prequeued: everything decided over the wall time settlement took. Otherwise the
    # first to the last decision (decided_at is taken as a batch starts writing).
    settlement_tps = (
        round(len(decided) / seconds["settle_after_submit"], 1)
        if options.prequeue and seconds["settle_after_submit"]
        else stats.rate_between(decided)
    )
    machine = machine_facts()
    machine["load_start"] = load_start
    machine["load_end"] = load_average()
    return {
        "run": run,
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": options.command,
        "scenario": {
            "name": options.scenario.name,
            "description": options.scenario.description,
            "timeline": [
                {
                    "name": s.phase.name,
                    "kind": s.phase.kind,
                    "count": s.count,
                    "rate": s.rate,
                    "start_s": round(s.start, 2),
                    "seconds": round(s.seconds, 2),
                }
                for s in segments
            ],
        },
        "options": {
            "transfers": options.transfers,
            "seed": options.seed,
            "rate": options.rate,
            "via": options.via,
            "clients": options.clients if options.via != "inprocess" else None,
            "http_batch": options.http_batch if options.via != "inprocess" else None,
            "linger_ms": options.linger_ms if options.http_batch > 1 else None,
            "settlement": options.settlement,
            "workers": options.workers if options.settlement == "workers" else None,
            "batch_size": options.batch_size or settings.EWALLET_SETTLEMENT_BATCH_SIZE,
            "prequeue": options.prequeue,
            "wait_ms": options.wait_ms,
        },
        "population": population.summary(),
        "transfers": {
            "offered": options.transfers,
            "accepted": driver.accepted,
            "refused_at_submit": dict(driver.refused),
            "settled": sum(1 for r in rows if r[2] == "SETTLED"),
            "rejected": sum(rejections.values()),
        },
        "offered_tps": round(options.transfers / planned_seconds, 1) if paced else None,
        "submitted_tps": round(len(rows) / submit_span, 1) if submit_span else None,
        "achieved_tps": round(len(decided) / span, 1) if span > 0 else None,
        "settlement_tps": settlement_tps,
        "latency_ms": {
            "submit_to_settled": stats.latency_summary(latencies),
            "submit_to_decided": stats.latency_summary(all_latencies),
            "offered_to_settled": offered_to_settled,
            "offered_to_decided": offered_to_decided,
            "http_request": stats.latency_summary(driver.request_ms) if driver.request_ms else None,
        },
        "http_statuses": dict(driver.statuses) or None,
        "http_batches": {
            "requests": len(driver.batch_sizes),
            "mean_payments": round(sum(driver.batch_sizes) / len(driver.batch_sizes), 1),
            "max_payments": max(driver.batch_sizes),
        }
        if driver.batch_sizes
        else None,
        "rejections": dict(rejections.most_common()),
        "series": {
            "interval_s": interval,
            "submitted": stats.per_interval(created, interval=interval),
            "decided": decided_series,
            "rejected_by_code": rejected_series,
            "backlog": watcher.backlog,
            "offered": offered,
            "latency_histogram_ms": stats.histogram(
                sorted(latencies)[: max(1, int(len(latencies) * 0.999))]
            ),
        },
        "checks": checks,
        "pgbench": options.pgbench,
        "settlement_to_pgbench": _ratio(settlement_tps, options.pgbench),
        "seconds": seconds,
        "machine": machine,
        "processes": processes,
    }


def latencies_from_offer(rows, offered_at: dict[int, float]) -> tuple[list, list]:
    """Milliseconds from each transfer's offer (a wall-clock time, as the driver noted it)
    to its decision: (settled ones, all decided ones). Rows as `_run_rows` gives them;
    transfers with no offer time noted are left out."""
    settled, decided = [], []
    for transfer_id, _, state, _, _, decided_at in rows:
        offered = offered_at.get(transfer_id)
        if offered is None or decided_at is None:
            continue
        latency = (decided_at.timestamp() - offered) * 1000
        decided.append(latency)
        if state == "SETTLED":
            settled.append(latency)
    return settled, decided


def command_line(argv: list[str]) -> str:
    return "python manage.py " + shlex.join(argv)
