"""The doorbell: tell a settlement worker there is work, at most once while it is pending.

The database is the queue; this only wakes a worker. A lost ring is caught by the periodic
sweep, a duplicate one finds nothing to claim. Rings are coalesced through the cache (Redis
when there is a broker): a new task is sent only when none is pending, and a worker clears
the flag before it starts claiming, so work that arrives while it drains rings again.
"""

from django.core.cache import cache
from django.db import connection, transaction

from ewallet.redisclient import redis_client

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
    if raise_flag():
        from settlement.tasks import settle_pending

        settle_pending.delay()


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
