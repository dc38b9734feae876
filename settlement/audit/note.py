"""C2SP signed notes and tlog checkpoints with Ed25519. Imports nothing from Django.

Byte for byte the formats of https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint
(as implemented by Go's golang.org/x/mod/sumdb/note), so existing transparency-log tools
verify what this log signs:

    <origin>\\n<tree size>\\n<base64 root hash>\\n[extension lines]\\n
    \\n
    — <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\\n

A key's hash is the first four bytes of SHA-256(name || "\\n" || 0x01 || public key), and
its verifier key reads `<name>+<8 hex digits of that hash>+<base64(0x01 || public key)>`.
"""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint that does not parse or does not verify; says why."""


# --- keys --------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteError(f"bad key name {name!r}: must be non-empty, with no '+' or spaces")


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: bytes
    key: Ed25519PublicKey = field(compare=False)

    @classmethod
    def from_public(cls, name: str, key: Ed25519PublicKey) -> "Verifier":
        _check_name(name)
        return cls(name, key_hash(name, public_bytes(key)), key)

    def __str__(self) -> str:
        encoded = base64.b64encode(ALG_ED25519 + public_bytes(self.key)).decode()
        return f"{self.name}+{self.hash.hex()}+{encoded}"


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The verifier key string anyone can use to check this signer's notes."""
    return str(Verifier.from_public(name, key))


def parse_verifier_key(text: str) -> Verifier:
    name, hash_hex, encoded = _split_key(text, "verifier key")
    key_bytes = _b64(encoded, "verifier key")
    if len(key_bytes) != 33 or key_bytes[:1] != ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 key (0x01 followed by 32 bytes)")
    if key_hash(name, key_bytes[1:]).hex() != hash_hex:
        raise NoteError("verifier key hash does not match its name and key")
    return Verifier(
        name, bytes.fromhex(hash_hex), Ed25519PublicKey.from_public_bytes(key_bytes[1:])
    )


def signer_key(name: str, key: Ed25519PrivateKey) -> str:
    """Go's `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>` form, for interoperation."""
    _check_name(name)
    seed = key.private_bytes_raw()
    public = public_bytes(key.public_key())
    encoded = base64.b64encode(ALG_ED25519 + seed).decode()
    return f"PRIVATE+KEY+{name}+{key_hash(name, public).hex()}+{encoded}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    if not text.startswith("PRIVATE+KEY+"):
        raise NoteError("signer key must start with PRIVATE+KEY+")
    name, hash_hex, encoded = _split_key(text.removeprefix("PRIVATE+KEY+"), "signer key")
    seed = _b64(encoded, "signer key")
    if len(seed) != 33 or seed[:1] != ALG_ED25519:
        raise NoteError("signer key is not an Ed25519 seed (0x01 followed by 32 bytes)")
    private = Ed25519PrivateKey.from_private_bytes(seed[1:])
    if key_hash(name, public_bytes(private.public_key())).hex() != hash_hex:
        raise NoteError("signer key hash does not match its name and key")
    return name, private


def _split_key(text: str, what: str) -> tuple[str, str, str]:
    parts = text.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise NoteError(f"{what} must be <name>+<hash>+<key>")
    name, hash_hex, encoded = parts
    _check_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
        raise NoteError(f"{what} hash must be 8 lowercase hex digits")
    return name, hash_hex, encoded


def _b64(text: str, what: str) -> bytes:
    """Strict base64: one encoding per value, so no flipped bit can pass unnoticed."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise NoteError(f"{what} is not valid base64") from error
    if base64.b64encode(data).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


# --- notes -------------------------------------------------------------------------------


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any((ord(c) < 0x20 and c != "\n") or c == "\x7f" for c in text):
        raise NoteError("note text must not contain control characters other than newline")


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """The note text followed by a blank line and this key's signature line."""
    _check_text(text)
    signer = Verifier.from_public(name, key.public_key())
    signature = key.sign(text.encode())
    encoded = base64.b64encode(signer.hash + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified_by: list[str]  # names of known keys whose signatures verified
    unverified: int  # signatures by keys we do not know


def open_note(note: str, verifiers: list[Verifier]) -> OpenedNote:
    """Check a signed note against known keys: at least one must have signed it.

    Signatures by unknown keys are skipped; a bad signature by a known key is an error.
    """
    if "\n\n" not in note or not note.endswith("\n"):
        raise NoteError("malformed note: no blank line before the signatures")
    split_at = note.rindex("\n\n")
    text, block = note[: split_at + 1], note[split_at + 2 :]
    _check_text(text)
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    known = {(v.name, v.hash): v for v in verifiers}
    verified, unverified = [], 0
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX) or line.count(" ") != 2:
            raise NoteError(f"malformed signature line {line!r}")
        name, encoded = line.removeprefix(SIGNATURE_PREFIX).split(" ")
        _check_name(name)
        raw = _b64(encoded, "signature")
        if len(raw) < 5:
            raise NoteError("malformed signature: too short")
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            unverified += 1
            continue
        try:
            verifier.key.verify(raw[4:], text.encode())
        except InvalidSignature as error:
            raise NoteError(f"invalid signature for key {name}+{raw[:4].hex()}") from error
        if name not in verified:
            verified.append(name)
    if not verified:
        raise NoteError("note has no verifiable signatures")
    return OpenedNote(text, verified, unverified)


# --- checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The checkpoint body, the text a signed note signs."""
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        if len(self.root_hash) != 32:
            raise NoteError("checkpoint root hash must be 32 bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise NoteError("checkpoint extension lines must be non-empty single lines")
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root hash lines")
    origin, size, root, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise NoteError(f"checkpoint size {size!r} is not a decimal number")
    root_hash = _b64(root, "checkpoint root hash")
    if len(root_hash) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))
