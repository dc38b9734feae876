"""One Redis client per process for the hot paths (Django's cache builds one per call)."""

import functools

import redis
from django.conf import settings


@functools.cache
def redis_client() -> redis.Redis | None:
    """The client for settings.REDIS_URL, or None on the embedded default (no Redis)."""
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
