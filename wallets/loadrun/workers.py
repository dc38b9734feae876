"""Who settles a run's transfers: `celery worker` processes this run starts and stops, or
this process.

Settling in this process is Celery's eager mode (a doorbell ring runs the settle task where
it rings), and that flag is the whole process's. So a run never flips it for good:
`celery_eager(True)` sets it for the block it wraps and then puts back what was there, and
the runner wraps only an inline run in it. Eager rather than an explicit
`transfers_settle()` after each chunk, because an inline run over HTTP to a server in this
process (the tests') rings from the server's threads as each request commits, where a drain
in the driver cannot follow. A prequeued inline run queues inside `celery_eager(False)`, so
its rings settle nothing (they go to the broker, where a later worker finds nothing left to
do), then answers the doorbell and settles explicitly with `transfers_settle()`.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import kombu.exceptions
import redis
from django.conf import settings
from django.db import connection

from ewallet import celery_app
from wallets.loadrun.watch import child_pids

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def celery_eager(eager: bool) -> Iterator[None]:
    """Celery's eager mode on (or off) for the block, then as it was before."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before


class WorkerProcesses:
    """N `celery worker --concurrency 1` processes (the first also runs beat)."""

    def __init__(
        self,
        count: int,
        *,
        batch_size: int | None,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.count = count
        self.batch_size = batch_size
        self.log_dir = log_dir
        self.extra_env = env or {}
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes = [self._spawn(number) for number in range(self.count)]
        self._wait_until_they_answer()

    def _spawn(self, number: int) -> tuple[str, subprocess.Popen]:
        env = {
            **os.environ,
            "EWALLET_LOG_LEVEL": "WARNING",
            # The database this process uses (a test database too), the same key and pins.
            "DATABASE_URL": database_url(),
            "EWALLET_AUDIT_KEY_FILE": str(settings.EWALLET_AUDIT_KEY_FILE),
            "EWALLET_AUDIT_TRUSTED_KEYS_FILE": str(settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE),
            **self.extra_env,
        }
        if self.batch_size:
            env["EWALLET_SETTLEMENT_BATCH_SIZE"] = str(self.batch_size)
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
        return name, process

    def kill_and_restart(self, number: int) -> None:
        """SIGKILL worker `number` and its children (beat with it, for the first), then
        start it again and wait until it answers: a worker dying mid-batch."""
        _, process = self.processes[number]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.processes[number] = self._spawn(number)
        self._wait_until_they_answer()

    def _wait_until_they_answer(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        waiting = {name for name, _ in self.processes}
        while waiting and time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"worker {name} exited; see {self.log_dir}")
            try:
                replies = celery_app.control.ping(destination=list(waiting), timeout=0.5)
            except (OSError, kombu.exceptions.KombuError, redis.RedisError):
                # The broker is restarting (a chaos run): ask again on a new connection.
                time.sleep(0.2)
                continue
            for reply in replies or []:
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
            found += [(f"celery worker {number} child", pid) for pid in child_pids(process.pid)]
        return found

    def stop(self) -> None:
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
    """This process's database as a URL for the workers (on SQLite, whatever was set)."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return os.environ.get("DATABASE_URL", "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{quote(db['USER'])}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )
