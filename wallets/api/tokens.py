"""API tokens: random secrets shown once, stored as SHA-256, revocable, with an expiry."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode, EwalletError
from wallets.api.authcache import remembered
from wallets.models import ApiToken

TOKEN_PREFIX = "ecny_"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_issue(*, user, name: str, ttl: timedelta | None = None) -> tuple[str, ApiToken]:
    """A new token for `user`; returns (secret, token). Only the hash is kept."""
    if not name.strip():
        raise EwalletError(ErrorCode.INVALID_INPUT, "a token needs a name", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:80],
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        key_hash=token_hash(secret),
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    return secret, token


@transaction.atomic
def token_revoke(*, actor, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens (a superuser may revoke anyone's)."""
    tokens = ApiToken.objects.select_for_update()
    if not actor.is_superuser:
        tokens = tokens.filter(user=actor)
    token = tokens.filter(pk=token_id).first()
    if token is None:
        raise EwalletError(ErrorCode.NOT_FOUND, f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


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
