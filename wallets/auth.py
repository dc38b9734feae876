"""API tokens and what each process remembers about callers.

Tokens are random secrets shown once and stored as SHA-256, with an optional expiry,
revocable by their owner. A token minted with another token (rather than from a signed-in
session or by `manage.py apitoken`) never outlives it and is revoked with it; a user holds
at most EWALLET_MAX_TOKENS_PER_USER live tokens.

Each request would otherwise cost four queries (token, groups, operator, holder) before
any work, so a token and an actor's facts are remembered EWALLET_AUTH_CACHE_SECONDS in each
process; any change to tokens, users, groups, operator staff or holders empties this
process's cache at once, and other processes see it within that many seconds. A token's
expiry is checked on every request.
"""

import hashlib
import secrets
import threading
from datetime import timedelta

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from ewallet.errors import ErrorCode, EwalletError
from wallets.models import ApiToken, Holder, MerchantStaff, OperatorStaff

TOKEN_PREFIX = "ecny_"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# ---------------------------------------------------------------- the per-process cache

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


for _model in (ApiToken, OperatorStaff, MerchantStaff, Holder, get_user_model()):
    post_save.connect(forget_all, sender=_model, dispatch_uid=f"authcache-save-{_model.__name__}")
    post_delete.connect(forget_all, sender=_model, dispatch_uid=f"authcache-del-{_model.__name__}")
m2m_changed.connect(
    forget_all, sender=get_user_model().groups.through, dispatch_uid="authcache-groups"
)

# ---------------------------------------------------------------- tokens


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _live(now) -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


@transaction.atomic
def token_issue(
    *,
    actor,
    name: str,
    ttl: timedelta | None = None,
    minted_with: ApiToken | None = None,
    user=None,
) -> tuple[str, ApiToken]:
    """A new token for the actor (or, for the system actor only, for `user`); returns
    (secret, token). Only the hash is kept.

    `minted_with`: the token the request came with, if it came with one rather than a
    signed-in session: the new token expires no later than it and is revoked with it.
    """
    owner = actor.user if user is None else user
    if owner is None or (owner != actor.user and not actor.is_system):
        raise EwalletError(ErrorCode.PERMISSION_DENIED, "tokens are minted for oneself")
    if not name.strip():
        raise EwalletError(ErrorCode.INVALID_INPUT, "a token needs a name", field="name")
    now = timezone.now()
    expires_at = now + ttl if ttl else None
    if minted_with is not None:
        # Read afresh and locked: a revocation racing this minting either comes first (and
        # this refuses) or waits for it (and then revokes the new token with its parent).
        minted_with = ApiToken.objects.select_for_update().get(pk=minted_with.pk)
        if minted_with.user_id != owner.pk or not minted_with.is_live(now):
            raise EwalletError(ErrorCode.PERMISSION_DENIED, "that token may not mint tokens")
        if minted_with.expires_at is not None:
            expires_at = min(expires_at or minted_with.expires_at, minted_with.expires_at)
    # One minting at a time per user, so the cap holds under concurrent requests.
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    live = ApiToken.objects.filter(_live(now), user_id=owner.pk).count()
    if live >= settings.EWALLET_MAX_TOKENS_PER_USER:
        raise EwalletError(
            ErrorCode.TOKEN_LIMIT,
            f"{live} live tokens already, the most one user may hold; revoke some first",
            limit=settings.EWALLET_MAX_TOKENS_PER_USER,
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=owner,
        name=name.strip()[:80],
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        key_hash=token_hash(secret),
        created_at=now,
        expires_at=expires_at,
        parent=minted_with,
    )
    return secret, token


def _revoke_with_descendants(roots: list[int], now) -> int:
    """Revoke these tokens and every token minted from them, however deep."""
    revoked, frontier, seen = 0, list(roots), set()
    while frontier:
        seen.update(frontier)
        revoked += ApiToken.objects.filter(pk__in=frontier, revoked_at__isnull=True).update(
            revoked_at=now
        )
        frontier = [
            pk
            for pk in ApiToken.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
            if pk not in seen
        ]
    forget_all()  # .update() sends no signal
    return revoked


@transaction.atomic
def token_revoke(*, actor, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens, and the tokens minted with it (the system
    actor and superusers may revoke anyone's)."""
    tokens = ApiToken.objects.select_for_update()
    if not (actor.is_system or getattr(actor.user, "is_superuser", False)):
        tokens = tokens.filter(user_id=actor.user_id)
    token = tokens.filter(pk=token_id).first()
    if token is None:
        raise EwalletError(ErrorCode.NOT_FOUND, f"no token {token_id}")
    _revoke_with_descendants([token.pk], timezone.now())
    token.refresh_from_db()
    return token


@transaction.atomic
def tokens_revoke_all(*, actor, user=None) -> int:
    """Revoke every token of the actor (the system actor: of `user`); returns how many."""
    owner = actor.user if user is None else user
    if owner is None or (owner != actor.user and not actor.is_system):
        raise EwalletError(ErrorCode.PERMISSION_DENIED, "one revokes one's own tokens")
    ids = list(
        ApiToken.objects.filter(user_id=owner.pk, revoked_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    return _revoke_with_descendants(ids, timezone.now())


def token_recently_live(secret: str) -> bool:
    """Whether this process authenticated this secret within EWALLET_AUTH_CACHE_SECONDS:
    such a caller skips the failed-authentication check (wallets.api.throttling), sparing
    the hot path a Redis round trip; a guess is never in the cache."""
    with _lock:
        cache = _caches.get("token")
        return cache is not None and cache.get(token_hash(secret)) is not None


def token_authenticate(secret: str) -> ApiToken | None:
    """The live token for a secret, with its user; None if unknown, revoked or expired."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    key_hash = token_hash(secret)
    token = remembered(
        "token",
        key_hash,
        lambda: (
            ApiToken.objects.select_related("user")
            .filter(key_hash=key_hash, user__is_active=True)
            .first()
        ),
    )
    now = timezone.now()
    if token is None or not token.is_live(now):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        # .update() sends no signal, so the cached token stays and carries the new time.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
