"""Seats for requests that wait for settlement (`?wait=`): a web worker that waits serves
no one else, so when settlement is slow, waiters could take every worker. At most
EWALLET_API_MAX_WAITING requests wait at once across all web processes; one that finds no
seat is answered at once, as if its wait had run out (202, the payment queued).

The seats are a sorted set in Redis, each a random member scored with the time its wait
ends: one round trip takes a seat (drop ended ones, add, count), one gives it back. A
process killed while waiting leaks nothing: its seat ends with its wait. Without Redis (the
embedded default, one process) every request may wait.
"""

import secrets
import time
from contextlib import contextmanager

from django.conf import settings

from ewallet.redisclient import redis_client

SEATS_KEY = "api:waiting"
# Longer than any wait (MAX_WAIT_MS, 10 s) and its second of grace: the set outlives them.
SEATS_TTL_SECONDS = 15


@contextmanager
def waiting_seat(wait_ms: int):
    """Yields the milliseconds this request may wait: wait_ms with a seat, 0 without."""
    client = redis_client()
    if wait_ms <= 0 or client is None:
        yield wait_ms
        return
    now = time.time()
    member = secrets.token_hex(8)
    pipe = client.pipeline(transaction=True)
    pipe.zremrangebyscore(SEATS_KEY, "-inf", now)
    pipe.zadd(SEATS_KEY, {member: now + wait_ms / 1000 + 1})
    pipe.zcard(SEATS_KEY)
    pipe.expire(SEATS_KEY, SEATS_TTL_SECONDS)
    seated = pipe.execute()[2] <= settings.EWALLET_API_MAX_WAITING
    try:
        yield wait_ms if seated else 0
    finally:
        client.zrem(SEATS_KEY, member)
