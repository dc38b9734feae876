"""Real `celery worker --beat` processes for tests, pointed at the test database.

Each test that starts one stops it before the database is flushed (the `start_worker`
fixture). Nothing is mocked: doorbells go through the broker, sweeps through beat, and a
killed worker is killed with SIGKILL.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ewallet import celery_app
from settlement import doorbell

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """One `celery worker --beat` process group, pointed at the test database."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        batch_size: int = 1000,
        env: dict[str, str] | None = None,
        concurrency: int = 2,
    ) -> None:
        self.concurrency = concurrency
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log = tmp_path / f"{self.name}.log"
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "EWALLET_SWEEP_SECONDS": "0.5",
            "EWALLET_DB_CONN_MAX_AGE": "0",
            "EWALLET_SETTLEMENT_BATCH_SIZE": str(batch_size),
            # Beat seals signed checkpoints as settlement runs; audit verify checks them.
            "EWALLET_AUDIT_KEY_FILE": str(settings.EWALLET_AUDIT_KEY_FILE),
            "EWALLET_AUDIT_TRUSTED_KEYS_FILE": str(settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE),
            "EWALLET_CHECKPOINT_SECONDS": "0.3",
            **(env or {}),
        }
        self.schedule = tmp_path / f"beat-{self.name}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        command = [
            sys.executable, "-m", "celery", "-A", "ewallet", "worker", "--beat",
            "--schedule", str(self.schedule), f"--concurrency={self.concurrency}",
            "--loglevel=WARNING",
            "--hostname", self.name, "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so SIGKILL reaches the children
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker exited:\n{self.log.read_text()}"
            if celery_app.control.ping(destination=[self.name], timeout=0.5):
                return self
        raise AssertionError(f"worker never answered a ping:\n{self.log.read_text()}")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(transactional_db, audit_key, tmp_path):
    """Start workers on demand; all are stopped before the test database is flushed."""
    celery_app.control.purge()
    doorbell.answer()
    workers: list[Worker] = []

    def start(**options) -> Worker:
        workers.append(Worker(tmp_path, **options).start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()
    celery_app.control.purge()
    doorbell.answer()
