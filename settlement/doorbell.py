"""The doorbell: tell a settlement worker there is work, at most once while it is pending.

The database is the queue; this only wakes a worker. A lost ring is caught by the periodic
sweep, a duplicate one finds nothing to claim. Rings are coalesced through the cache (Redis
when there is a broker): a new task is sent only when none is pending, and a worker clears
the flag before it starts claiming, so work that arrives while it drains rings again.

Under load a worker also promises its next drain (`promise`): the flag stays up until a
stated time, and no drain answers it sooner. A process that rings and learns of the
promise (from the promise key's time to live, so no two clocks are compared) need not ask
Redis again until that time: any transfer it commits meanwhile is claimed by a drain
that starts after it.
"""

import time

from django.core.cache import cache
from django.db import connection, transaction

from ewallet.redisclient import redis_client

DOORBELL_KEY = "settlement:doorbell"
PROMISE_KEY = "settlement:doorbell:promise"
# After this long a flag left by a worker that died is ignored.
DOORBELL_TTL_SECONDS = 30

# Lower the flag unless a drain is promised for later; then say how many ms are left.
_ANSWER_SCRIPT = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
redis.call('DEL', KEYS[1])
return 0
"""

# Until when (time.monotonic) this process knows the flag is up and answered no sooner.
_promised_until = 0.0


def ring_on_commit() -> None:
    """Ring once when the current transaction commits, however many transfers it queued."""
    if connection.in_atomic_block and any(
        callback is ring for _, callback, _ in connection.run_on_commit
    ):
        return
    transaction.on_commit(ring, robust=True)


def ring() -> None:
    global _promised_until
    if time.monotonic() < _promised_until:
        return
    client = redis_client()
    if client is None:
        if cache.add(DOORBELL_KEY, 1, timeout=DOORBELL_TTL_SECONDS):
            _wake_a_worker()
        return
    asked_at = time.monotonic()
    with client.pipeline(transaction=False) as pipe:
        pipe.set(DOORBELL_KEY, 1, nx=True, ex=DOORBELL_TTL_SECONDS)
        pipe.pttl(PROMISE_KEY)
        raised, promised_ms = pipe.execute()
    if raised:
        _wake_a_worker()
    if promised_ms > 0:
        # The key lives at least this long after it was read, and so after it was asked.
        _promised_until = asked_at + promised_ms / 1000


def answer() -> None:
    """Called by a worker before it claims, so later work rings again. Waits out a drain
    promised for later (the promise stands for every process that learned of it)."""
    client = redis_client()
    if client is None:
        cache.delete(DOORBELL_KEY)
        return
    lower = client.register_script(_ANSWER_SCRIPT)
    while (left_ms := lower(keys=[DOORBELL_KEY, PROMISE_KEY])) > 0:
        time.sleep(left_ms / 1000)


def promise(seconds: float) -> None:
    """Promise a drain no sooner than `seconds` from now, and keep the flag up until then:
    a worker's drain found a queue and its cadence holds the next one back anyway. Wakes
    a worker for that drain unless one is already pending. Only with Redis; rings stay
    as they were elsewhere."""
    client = redis_client()
    milliseconds = int(seconds * 1000)
    if client is None or milliseconds <= 0:
        return
    with client.pipeline(transaction=True) as pipe:
        pipe.set(PROMISE_KEY, 1, px=milliseconds)
        pipe.set(DOORBELL_KEY, 1, ex=DOORBELL_TTL_SECONDS, get=True)
        _, was_up = pipe.execute()
    if was_up is None:
        _wake_a_worker()


def raise_flag() -> bool:
    """Set the pending flag; False if it was already set."""
    client = redis_client()
    if client is not None:
        return bool(client.set(DOORBELL_KEY, 1, nx=True, ex=DOORBELL_TTL_SECONDS))
    return cache.add(DOORBELL_KEY, 1, timeout=DOORBELL_TTL_SECONDS)


def _wake_a_worker() -> None:
    from settlement.tasks import settle_pending

    settle_pending.delay()
