"""Rate limits per user (whichever of their tokens or their session they call with), and
per address when anonymous.

Per user, not per token: a caller who could mint a fresh token for a fresh window would
have no limit at all. A fixed window counted in the cache (Redis in real deployments): one
INCRBY per block of requests (rate_leases.py), whatever the rate, unlike a sliding log
that grows with it. 429 carries Retry-After.

An anonymous caller is counted by address (ewallet.client_address: X-Forwarded-For only as
far as our own proxies wrote it), and so are failed authentications: an address that keeps
presenting bad tokens is answered 429 for the rest of the window.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from ewallet.client_address import client_address
from ewallet.redisclient import redis_client
from wallets.api.rate_leases import Leases

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "100/s" -> (100, 1); "6000/min" -> (6000, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0]]


def _take(key: str, n: int, ttl: int) -> int:
    """Add n to a window's shared count: one round trip to Redis. Returns the new total."""
    client = redis_client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incrby(key, n)
        pipe.expire(key, ttl)
        return pipe.execute()[0]
    # add() then incr(): the first request of a window sets the expiry.
    if cache.add(key, n, timeout=ttl):
        return n
    try:
        return cache.incr(key, n)
    except ValueError:  # expired between add() and incr()
        cache.add(key, n, timeout=ttl)
        return n


# This process's share of each window (rate_leases.py: one round trip per block of requests).
LEASES = Leases(_take)


class TokenRateThrottle(BaseThrottle):
    """One window per user (the name is the setting's: DEFAULT_THROTTLE_CLASSES)."""

    def allow_request(self, request, view) -> bool:
        if request.user and request.user.is_authenticated:
            ident, rate = f"u{request.user.pk}", settings.EWALLET_API_RATE
        else:
            ident, rate = f"a{client_address(request)}", settings.EWALLET_API_ANON_RATE
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{ident}:{period}:{window}"
        ends = (window + 1) * period
        self._wait = ends - now
        return LEASES.allow(key, limit, now, ends)

    def wait(self) -> float:
        return self._wait


def _failures_key(address: str, period: int) -> str:
    return f"throttle:authfail:{address}:{period}:{int(time.time() // period)}"


def _window_left(period: int) -> float:
    now = time.time()
    return (int(now // period) + 1) * period - now


def auth_failures_refuse(request) -> None:
    """429 for an address past EWALLET_AUTH_FAILURE_RATE failed authentications this window:
    token guessing stops before any token is looked up."""
    limit, period = parse_rate(settings.EWALLET_AUTH_FAILURE_RATE)
    key = _failures_key(client_address(request), period)
    client = redis_client()
    failures = int((client.get(key) if client is not None else cache.get(key)) or 0)
    if failures >= limit:
        raise exceptions.Throttled(wait=_window_left(period))


def auth_failure_count(request) -> None:
    """One more failed authentication from this request's address."""
    _, period = parse_rate(settings.EWALLET_AUTH_FAILURE_RATE)
    _take(_failures_key(client_address(request), period), 1, period + 1)
