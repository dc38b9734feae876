"""Rate limits per API token (per user for sessions, per address when anonymous).

A fixed window counted in the cache (Redis in real deployments): one INCR a request,
whatever the rate, unlike a sliding log that grows with it. 429 carries Retry-After.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from ewallet.redisclient import redis_client
from wallets.models import ApiToken

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "100/s" -> (100, 1); "6000/min" -> (6000, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0]]


def _count(key: str, ttl: int) -> int:
    """This window's requests so far, this one included: one round trip to Redis."""
    client = redis_client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl)
        return pipe.execute()[0]
    # add() then incr(): the first request of a window sets the expiry.
    if cache.add(key, 1, timeout=ttl):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=ttl)
        return 1


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        if isinstance(request.auth, ApiToken):
            ident, rate = f"t{request.auth.pk}", settings.EWALLET_API_RATE
        elif request.user and request.user.is_authenticated:
            ident, rate = f"u{request.user.pk}", settings.EWALLET_API_RATE
        else:
            ident, rate = f"a{self.get_ident(request)}", settings.EWALLET_API_ANON_RATE
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{ident}:{period}:{window}"
        count = _count(key, period + 1)
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self) -> float:
        return self._wait
