"""Every 100 ms, one snapshot read of every wallet's balance: a REPEATABLE READ
transaction summing them, on a connection of its own (reopened after a restart)."""

import threading
import time

import psycopg

from wallets.chaos.checks import Snapshot

SNAPSHOT_SQL = "SELECT sum(balance), count(*) FILTER (WHERE balance < 0) FROM {} WHERE id = ANY(%s)"


class SnapshotReader(threading.Thread):
    def __init__(
        self, dsn: str, table: str, account_ids: list[int], *, started: float, every: float = 0.1
    ):
        super().__init__(daemon=True)
        self.dsn, self.account_ids = dsn, account_ids
        self.sql = SNAPSHOT_SQL.format(table)
        self.started, self.every = started, every
        self.snapshots: list[Snapshot] = []
        self.halt = threading.Event()
        self.conn: psycopg.Connection | None = None

    def run(self) -> None:
        due = time.perf_counter()
        while not self.halt.is_set():
            self.snapshots.append(self.read())
            due += self.every
            self.halt.wait(max(0.0, due - time.perf_counter()))
        if self.conn is not None:
            self.conn.close()

    def read(self) -> Snapshot:
        at = time.perf_counter() - self.started
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.dsn, connect_timeout=2)
                self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                self.conn.read_only = True
            with self.conn.transaction():
                total, negative = self.conn.execute(self.sql, [self.account_ids]).fetchone()
            return Snapshot(at, int(total or 0), negative)
        except psycopg.Error:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return Snapshot(at, None)

    def stop(self) -> list[Snapshot]:
        self.halt.set()
        self.join(timeout=10)
        return self.snapshots
