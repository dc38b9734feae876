"""The doorbell: tell a settlement worker there is work, at most once while it is pending.

The database is the queue; this only wakes a worker. A lost ring is caught by the periodic
sweep, a duplicate one finds nothing to claim. Rings are coalesced through the cache (Redis
when there is a broker): a new task is sent only when none is pending, and a worker clears
the flag before it starts claiming, so work that arrives while it drains rings again.
Within a process, rings moments apart are sent once (`Coalescer`).
"""

import functools
import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from ewallet.redisclient import redis_client

log = logging.getLogger(__name__)

DOORBELL_KEY = "settlement:doorbell"
# After this long a flag left by a worker that died is ignored.
DOORBELL_TTL_SECONDS = 30


def ring_on_commit() -> None:
    """Ring once when the current transaction commits, however many transfers it queued."""
    if connection.in_atomic_block and any(
        callback is ring for _, callback, _ in connection.run_on_commit
    ):
        return
    transaction.on_commit(ring, robust=True)


def ring() -> None:
    """Ring now, or, in a process that rang moments ago, once more shortly (`Coalescer`)."""
    from settlement.tasks import settle_pending

    coalescer = _coalescer()
    if coalescer is None or settle_pending.app.conf.task_always_eager:
        ring_now()  # eager settlement drains in the ringing thread, never in another
    else:
        coalescer.ring()


def ring_now() -> None:
    if raise_flag():
        from settlement.tasks import settle_pending

        settle_pending.delay()


class Coalescer:
    """At most one ring per interval from this process. A ring within the interval of the
    last one is owed, and the first ring after the interval sends it: under load, the next
    payment's, in its own request. A thread sends a ring still owed two intervals on (the
    last payment of a burst). Either way a payment gets a ring sent after its commit, so a
    drain still claims after it; a lone ring after a quiet spell goes at once.

    Under load the flag is nearly always up already (a worker keeps it up while it waits
    out its cadence), and asking Redis on every request cost a web worker a tenth of its
    CPU for a payment. The thread is only the fallback: in a busy process it waits for the
    interpreter's lock, and rings sent from it came tens of milliseconds late. A ring owed
    when the process exits is lost, as a lost ring always could be: the periodic sweep
    takes its transfers.
    """

    def __init__(self, seconds: float, ring_now: Callable[[], None], clock=time.monotonic) -> None:
        self.seconds = seconds
        self._ring_now = ring_now
        self._clock = clock
        self._lock = threading.Lock()
        self._owed = threading.Event()
        self._last = float("-inf")
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def ring(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread is not here
                self._pid, self._thread, self._last = os.getpid(), None, float("-inf")
                self._owed.clear()
            now = self._clock()
            if now - self._last < self.seconds:
                self._owe()
                return
            # Cleared before the ring: it is sent after every commit that owed it.
            self._owed.clear()
            self._last = now
        self._ring_now()

    def _owe(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_owed, name="doorbell", daemon=True)
            self._thread.start()
        self._owed.set()

    def _send_owed(self) -> None:
        while True:
            self._owed.wait()
            time.sleep(max(0.0, self._last + 2 * self.seconds - self._clock()))
            with self._lock:
                if not self._owed.is_set() or self._clock() - self._last < self.seconds:
                    continue  # a ring went meanwhile; anything owed since waits its turn
                self._owed.clear()
                self._last = self._clock()
            try:
                self._ring_now()
            except Exception:  # the sweep takes what this ring was for
                log.exception("the doorbell's owed ring failed")


@functools.cache
def _coalescer() -> Coalescer | None:
    seconds = settings.EWALLET_DOORBELL_COALESCE_MS / 1000
    return Coalescer(seconds, lambda: ring_now()) if seconds > 0 else None


def answer() -> None:
    """Called by a worker before it claims, so later work rings again."""
    client = redis_client()
    if client is not None:
        client.delete(DOORBELL_KEY)
    else:
        cache.delete(DOORBELL_KEY)


def raise_flag() -> bool:
    """Set the pending flag; False if it was already set. Redis directly when there is one:
    this runs after every commit that queues a transfer."""
    client = redis_client()
    if client is not None:
        return bool(client.set(DOORBELL_KEY, 1, nx=True, ex=DOORBELL_TTL_SECONDS))
    return cache.add(DOORBELL_KEY, 1, timeout=DOORBELL_TTL_SECONDS)
