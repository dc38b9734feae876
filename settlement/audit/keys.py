"""The central bank's checkpoint signing key: a PEM file outside the repository and the
database (path from settings.EWALLET_AUDIT_KEY_FILE). Its public half is recorded in
SigningKey, where retired keys stay so that old checkpoints still verify."""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from settlement.audit.note import Verifier, public_bytes
from settlement.exceptions import AuditKeyMissing
from settlement.models import SigningKey


def key_path() -> Path:
    return Path(settings.EWALLET_AUDIT_KEY_FILE)


def key_name() -> str:
    """Keys are named after the log's origin, as transparency logs do."""
    return settings.EWALLET_AUDIT_ORIGIN


def signing_key_create(*, rotate: bool = False) -> Verifier:
    """Write a new Ed25519 key (mode 0600). Without `rotate`, refuse to replace one."""
    path = key_path()
    if path.exists() and not rotate:
        raise FileExistsError(f"{path} exists; use --rotate to replace it")
    previous = _load_private(path) if path.exists() else None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    os.replace(temporary, path)
    if previous is not None:
        old = Verifier.from_public(key_name(), previous.public_key())
        _register(old)
        SigningKey.objects.filter(key_hash=old.hash.hex(), retired_at=None).update(
            retired_at=timezone.now()
        )
    return _register(Verifier.from_public(key_name(), key.public_key()))


def signer() -> tuple[Verifier, Ed25519PrivateKey]:
    """The current key, registered in SigningKey on first use."""
    path = key_path()
    if not path.exists():
        raise AuditKeyMissing(path)
    private = _load_private(path)
    return _register(Verifier.from_public(key_name(), private.public_key())), private


def verifiers() -> dict[str, tuple[Verifier, SigningKey]]:
    """Every key that ever signed, by hex key hash."""
    known = {}
    for row in SigningKey.objects.all():
        key = Ed25519PublicKey.from_public_bytes(bytes(row.public_key))
        known[row.key_hash] = (Verifier(row.name, bytes.fromhex(row.key_hash), key), row)
    return known


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return key


def _register(verifier: Verifier) -> Verifier:
    SigningKey.objects.get_or_create(
        key_hash=verifier.hash.hex(),
        defaults={"name": verifier.name, "public_key": public_bytes(verifier.key)},
    )
    return verifier
