"""Who a token belongs to and what that user may do, remembered for a few seconds.

Each request would otherwise cost four queries (token, groups, operator, holder) before
any work. Entries live EWALLET_AUTH_CACHE_SECONDS in each process; any change to tokens,
users, groups, operator staff or holders empties this process's cache at once, and other
processes see it within that many seconds. A token's expiry is checked on every request.
"""

import threading

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from wallets.models import ApiToken, Holder, OperatorStaff

_lock = threading.Lock()
_caches: dict[str, TTLCache] = {}


def remembered(kind: str, key, load):
    """load() once per key per EWALLET_AUTH_CACHE_SECONDS (0 turns the cache off)."""
    ttl = settings.EWALLET_AUTH_CACHE_SECONDS
    if ttl <= 0:
        return load()
    with _lock:
        cache = _caches.setdefault(kind, TTLCache(maxsize=10_000, ttl=ttl))
        if key in cache:
            return cache[key]
    value = load()
    with _lock:
        cache[key] = value
    return value


def forget_all(**kwargs) -> None:
    with _lock:
        for cache in _caches.values():
            cache.clear()


for model in (ApiToken, OperatorStaff, Holder, get_user_model()):
    post_save.connect(forget_all, sender=model, dispatch_uid=f"authcache-save-{model.__name__}")
    post_delete.connect(forget_all, sender=model, dispatch_uid=f"authcache-del-{model.__name__}")
m2m_changed.connect(
    forget_all, sender=get_user_model().groups.through, dispatch_uid="authcache-groups"
)
