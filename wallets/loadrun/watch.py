"""Watching a run while it goes: the backlog and the decisions (sampled on a connection of
the watcher's own), and the memory (RSS) of the processes taking part."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.db import DatabaseError, connection, connections

from settlement.models import Transfer


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def watched(pids: Iterable[int]) -> list[tuple[str, int]]:
    """Processes named on the command line, and their children (e.g. gunicorn's)."""
    found = []
    for pid in pids:
        found.append((f"process {pid}", pid))
        found += [(f"process {pid} child", child) for child in child_pids(pid)]
    return found


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


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

    def rss_now(self) -> dict[tuple[str, int], int | None]:
        """Each sampled process's memory at this moment (None once it has exited)."""
        return {key: rss_kb(key[1]) for key in self.rss}
