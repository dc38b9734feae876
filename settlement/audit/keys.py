"""The central bank's checkpoint signing key: a PEM file outside the repository and the
database (path from settings.EWALLET_AUDIT_KEY_FILE). Its public half is recorded in
SigningKey, where retired keys stay so that old checkpoints still verify.

Only `audit keygen` (a new key, `--rotate`, or `--if-missing` registering the file's key
on an empty table) registers a key; the signer refuses any other. Each key made is also
appended to the trusted-keys file (settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE), which
`audit verify` trusts over the table: a row in the database vouches for nothing."""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from settlement.audit.note import NoteError, Verifier, parse_verifier_key, public_bytes
from settlement.exceptions import AuditKeyMissing, AuditKeyUnregistered
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
    verifier = _register(Verifier.from_public(key_name(), key.public_key()))
    _pin(verifier)
    return verifier


def signing_key_register() -> Verifier:
    """Register the key file's key (`audit keygen --if-missing` on a database that has
    none, e.g. after a flush). Refused while another key is current: that takes --rotate."""
    path = key_path()
    if not path.exists():
        raise AuditKeyMissing(path)
    verifier = Verifier.from_public(key_name(), _load_private(path).public_key())
    current = SigningKey.objects.filter(retired_at=None).exclude(key_hash=verifier.hash.hex())
    if current.exists():
        raise AuditKeyUnregistered(
            path, f"is not the current key {current.first().key_hash}: use --rotate to replace it"
        )
    _register(verifier)
    _pin(verifier)
    return verifier


def signer() -> tuple[Verifier, Ed25519PrivateKey]:
    """The current key; refused unless `audit keygen` registered it and it is not retired."""
    path = key_path()
    if not path.exists():
        raise AuditKeyMissing(path)
    private = _load_private(path)
    verifier = Verifier.from_public(key_name(), private.public_key())
    row = SigningKey.objects.filter(key_hash=verifier.hash.hex()).first()
    if row is None:
        raise AuditKeyUnregistered(path, f"(key {verifier.hash.hex()}) is not registered")
    if row.retired_at is not None:
        raise AuditKeyUnregistered(path, f"(key {verifier.hash.hex()}) was retired")
    return verifier, private


def signing_key_ensure() -> Verifier:
    """`audit keygen --if-missing`: a new key if there is no key file, else register its key."""
    if key_path().exists():
        return signing_key_register()
    return signing_key_create()


def stored_keys() -> list[SigningKey]:
    """Every key the database says ever signed."""
    return list(SigningKey.objects.order_by("created_at", "key_hash"))


def verifiers() -> dict[str, tuple[Verifier, SigningKey]]:
    """Every key the database says ever signed, by hex key hash (as stored: `audit verify`
    checks the rows against the pinned keys; readers serving receipts take them as is)."""
    known = {}
    for row in SigningKey.objects.all():
        key = Ed25519PublicKey.from_public_bytes(bytes(row.public_key))
        known[row.key_hash] = (Verifier(row.name, bytes.fromhex(row.key_hash), key), row)
    return known


def pinned_verifiers() -> dict[str, Verifier]:
    """The verifier keys trusted from outside the database, by hex key hash."""
    texts = settings.EWALLET_AUDIT_TRUSTED_KEYS.replace(",", " ").split()
    path = trusted_keys_path()
    if path.exists():
        texts += [line.strip() for line in path.read_text().splitlines()]
    pinned = {}
    for text in texts:
        if text and not text.startswith("#"):
            try:
                verifier = parse_verifier_key(text)
            except NoteError as error:
                raise ValueError(f"a trusted verifier key does not parse: {error}") from error
            pinned[verifier.hash.hex()] = verifier
    return pinned


def trusted_keys_path() -> Path:
    return Path(settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE)


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return key


def _pin(verifier: Verifier) -> None:
    path = trusted_keys_path()
    if verifier.hash.hex() in pinned_verifiers():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{verifier}\n")


def _register(verifier: Verifier) -> Verifier:
    SigningKey.objects.get_or_create(
        key_hash=verifier.hash.hex(),
        defaults={"name": verifier.name, "public_key": public_bytes(verifier.key)},
    )
    return verifier
