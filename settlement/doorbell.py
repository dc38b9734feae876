"""The doorbell: tell a settlement worker there is work, at most once while it is pending.

The database is the queue; this only wakes a worker. A lost ring is caught by the periodic
sweep, a duplicate one finds nothing to claim. Rings are coalesced through the cache (Redis
when there is a broker): a new task is sent only when none is pending, and a worker clears
the flag before it starts claiming, so work that arrives while it drains rings again.
"""

from django.core.cache import cache
from django.db import connection, transaction

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
    if cache.add(DOORBELL_KEY, 1, timeout=DOORBELL_TTL_SECONDS):
        from settlement.tasks import settle_pending

        settle_pending.delay()


def answer() -> None:
    """Called by a worker before it claims, so later work rings again."""
    cache.delete(DOORBELL_KEY)
