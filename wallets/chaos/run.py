"""A chaos run, start to finish, inside the process whose DATABASE_URL and broker are the
run's private services (the `chaos` command launches it): build 1,000 wallets, start the
settlement workers and gunicorn, pay through the API from 16 clients while the fault
schedule runs, wait for the backlog to empty, then read the ledger and check it.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError, connection

from settlement.audit import keys
from settlement.models import Account, AuditLeaf, Posting, Transfer, TransferLeg
from wallets.chaos import checks
from wallets.chaos.clients import PayingClients
from wallets.chaos.private import PrivateServices
from wallets.chaos.schedule import (
    DROP_CONNECTIONS,
    KILL_WORKER,
    RESTART_POSTGRES,
    RESTART_REDIS,
    Fault,
    fault_schedule,
    payment_plan,
)
from wallets.chaos.snapshots import SnapshotReader
from wallets.loadrun.checks import audit_verified, no_negative_balance
from wallets.loadrun.drivers import staff_tokens
from wallets.loadrun.runner import RESERVE_YUAN_PER_SHARE
from wallets.loadrun.server import GunicornServer
from wallets.loadrun.setup import (
    catalogue_operators,
    institutions_ensure,
    population_build,
    population_with_live_caps,
)
from wallets.loadrun.workers import WorkerProcesses, database_url

WORKER_ENV = {
    "EWALLET_SWEEP_SECONDS": "1",  # a lost doorbell (Redis restarted) waits at most this
    "EWALLET_CHECKPOINT_SECONDS": "0.5",
}


@dataclass
class ChaosOptions:
    transfers: int
    seed: int = 1
    wallets: int = 1000
    clients: int = 16
    rate: float = 100.0  # payments offered per second
    workers: int = 2
    web_workers: int = 3
    backlog_timeout: float = 180.0


class FaultRunner(threading.Thread):
    """Applies the schedule in order, each fault at its time or as soon as the one before
    has finished (a restart takes a while)."""

    def __init__(self, schedule: list[Fault], started: float, act: Callable[[Fault], None]):
        super().__init__(daemon=True)
        self.schedule, self.started, self.act = schedule, started, act
        self.done: list[tuple[Fault, float, float]] = []  # fault, began, ended (from start)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for fault in self.schedule:
                delay = self.started + fault.at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                began = time.perf_counter() - self.started
                self.act(fault)
                self.done.append((fault, began, time.perf_counter() - self.started))
        except BaseException as error:  # reported as a failed run, not a silent thread
            self.error = error


def chaos_run(options: ChaosOptions, services: PrivateServices, say=print) -> bool:
    """One run; True when every check passed. Prints one line per check."""
    run = f"s{options.seed}"
    home = services.home
    if not keys.key_path().exists():
        keys.signing_key_create()
    say(f"setup: {options.wallets} wallets at the eight operators, on a private PostgreSQL "
        f"(port {services.pg_port}) and Redis (port {services.redis_port})")  # fmt: skip
    institutions = institutions_ensure(
        prefix="chaos", operators=catalogue_operators(reserve_yuan_per_share=RESERVE_YUAN_PER_SHARE)
    )
    population = population_with_live_caps(seed=options.seed, people=options.wallets, merchants=0)
    wallets = population_build(population, institutions=institutions, run=run)
    tokens = staff_tokens(wallets.staff, run)
    account_ids = [wallet.account_id for wallet in wallets.people]
    fixed_total = sum(Account.objects.filter(id__in=account_ids).values_list("balance", flat=True))
    after = Transfer.objects.order_by("-id").values_list("id", flat=True).first() or 0

    payments = payment_plan(seed=options.seed, transfers=options.transfers, wallets=options.wallets)
    seconds = options.transfers / options.rate
    schedule = fault_schedule(seed=options.seed, seconds=seconds, workers=options.workers)
    kinds = Counter(fault.kind for fault in schedule)
    say(
        f"chaos: seed {options.seed}, {options.transfers:,} payments at {options.rate:g}/s from "
        f"{options.clients} clients over {seconds:.1f} s; {options.wallets} wallets holding "
        f"{fixed_total / 100:,.2f} CNY; faults: {kinds[KILL_WORKER]} worker kills, "
        f"{kinds[RESTART_REDIS]} Redis restarts, {kinds[RESTART_POSTGRES]} PostgreSQL "
        f"restart, {kinds[DROP_CONNECTIONS]} cut-offs"
    )

    connection.close()  # the children get their own; this one would not survive a restart
    workers = WorkerProcesses(
        options.workers, batch_size=None, log_dir=home / "logs", env=WORKER_ENV
    )
    workers.start()
    server_env = {**workers_env(), "EWALLET_LOG_LEVEL": "ERROR"}
    server = GunicornServer(server_env, home / "logs" / "gunicorn.log", workers=options.web_workers)
    clients = PayingClients(
        server.url,
        run=run,
        numbers=[wallet.number for wallet in wallets.people],
        tokens=[tokens[wallet.operator_id] for wallet in wallets.people],
        clients=options.clients,
        rate=options.rate,
    )

    def act(fault: Fault) -> None:
        if fault.kind == KILL_WORKER:
            workers.kill_and_restart(fault.target)
        elif fault.kind == RESTART_REDIS:
            services.redis_crash_restart()
        elif fault.kind == RESTART_POSTGRES:
            services.postgres_crash_restart()
        elif fault.kind == DROP_CONNECTIONS:
            clients.cut_off(fault.target)

    started = time.perf_counter()
    reader = SnapshotReader(
        services.database_url, Account._meta.db_table, account_ids, started=started
    )
    faults = FaultRunner(schedule, started, act)
    try:
        reader.start()
        faults.start()
        clients.pay(payments, started)
        answered = time.perf_counter() - started
        faults.join()
        last_fault = faults.done[-1][1] if faults.done else 0.0  # when it struck
        emptied = wait_for_empty_backlog(after, options.backlog_timeout)
        backlog_seconds = (emptied - started) - last_fault if emptied else None
        snapshots = reader.stop()
    finally:
        reader.halt.set()
        server.stop()
        workers.stop()

    rows = ledger_rows(after)
    told = clients.told
    results = [
        checks.lost(told, rows),
        checks.doubled(rows),
        checks.unaccepted(told, rows),
        checks.bad_snapshots(snapshots, fixed_total),
        checks.negative(snapshots, no_negative_balance()["negative_accounts"]),
        checks.leaves_one_to_one(rows),
        checks.undecided(rows),
    ]
    for result in results:
        say(result.line())
    verified = audit_verified()
    say(
        f"audit verify {'ok' if verified['ok'] else 'FAILED'} ({verified['leaves']} leaves, "
        f"{verified['checkpoints']} checkpoints"
        + (f"; {verified['mismatch']}" if verified["mismatch"] else "")
        + ")"
    )
    done_kinds = Counter(fault.kind for fault, _, _ in faults.done)
    all_faults = faults.error is None and len(faults.done) == len(schedule)
    say(
        f"faults {'ok' if all_faults else 'FAILED'} ({done_kinds[KILL_WORKER]} worker kills, "
        f"{done_kinds[RESTART_REDIS]} Redis restarts, {done_kinds[RESTART_POSTGRES]} "
        f"PostgreSQL restarts, {clients.cut} requests cut off; {clients.attempts:,} requests, "
        f"{clients.retries:,} retries" + (f"; {faults.error!r}" if faults.error else "") + ")"
    )
    if backlog_seconds is None:
        say(f"backlog FAILED (not empty {options.backlog_timeout:g} s after the payments)")
    else:
        say(
            f"backlog empty {max(backlog_seconds, 0):.1f} s after the last fault (the last "
            f"payment was answered {answered - last_fault:.1f} s after it): ok"
        )
    return all(r.ok for r in results) and verified["ok"] and all_faults and emptied is not None


def workers_env() -> dict:
    import os

    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EWALLET_AUDIT_KEY_FILE": str(settings.EWALLET_AUDIT_KEY_FILE),
        "EWALLET_AUDIT_TRUSTED_KEYS_FILE": str(settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE),
    }


def wait_for_empty_backlog(after: int, timeout: float) -> float | None:
    """perf_counter() when no transfer of the run is RECEIVED; None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not Transfer.objects.filter(id__gt=after, state="RECEIVED").exists():
                return time.perf_counter()
        except OperationalError:
            connection.close()
        time.sleep(0.05)
    return None


def ledger_rows(after: int) -> list[checks.LedgerRow]:
    """The run's transfers with their payment's index (from the memo) and how many audit
    leaves, postings and legs each has."""
    sql = f"""
        SELECT t.id, t.memo, t.state,
          (SELECT count(*) FROM {AuditLeaf._meta.db_table} l WHERE l.transfer_id = t.id),
          (SELECT count(*) FROM {Posting._meta.db_table} p WHERE p.transfer_id = t.id),
          (SELECT count(*) FROM {TransferLeg._meta.db_table} g WHERE g.transfer_id = t.id)
        FROM {Transfer._meta.db_table} t WHERE t.id > %s AND t.memo LIKE 'chaos %%'
        ORDER BY t.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [after])
        return [
            checks.LedgerRow(id_, int(memo.rsplit("#", 1)[1]), state, leaves, postings, legs)
            for id_, memo, state, leaves, postings, legs in cursor.fetchall()
        ]
