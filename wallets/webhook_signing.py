"""Signing webhook bodies, and checking a signature as a merchant's server would.

The header, `Ecny-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, carries one HMAC-SHA256
per secret in use, each over `<t>.<raw body>`: while a rotated-out secret is still in its
grace period both sign, so a receiver holding either accepts. The timestamp is signed, so a
receiver that refuses old timestamps refuses replays. Pure: no Django."""

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "Ecny-Signature"
SCHEME = "v1"
# How old a timestamp a receiver accepts by default, in seconds.
DEFAULT_TOLERANCE = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={signature(secret, timestamp, body)}" for secret in secrets if secret]
    return ",".join(parts)


def parse_header(header: str) -> tuple[int | None, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            signatures.append(value)
    return timestamp, signatures


def verify(
    header: str,
    body: bytes,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether `body` was signed with `secret` no more than `tolerance` seconds ago."""
    timestamp, signatures = parse_header(header)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in signatures)
