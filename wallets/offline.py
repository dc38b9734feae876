"""Dual-offline payments between hardware wallets: the bytes two devices exchange with no
network, their Ed25519 signatures, the chain each payer keeps, the double spends a set of
payments shows, and a device simulator. Pure: imports nothing from Django.

A hardware wallet holds an Ed25519 key; its device id is the first 16 bytes of
SHA-256("e-CNY offline device\\n" || public key), so an id names exactly one key. At
registration the central bank's offline certificate authority signs a certificate:

    CERT_DOMAIN || version (1) || device id (16) || public key (32) || cap (u64 fen)
                || not after (i64 Unix seconds)                       -> CA signature (64)

An offline payment is the payer's signature over

    PAYMENT_DOMAIN || version (1) || payer id (16) || payee id (16) || amount (u64 fen)
                   || counter (u64) || previous hash (32) || time (i64 Unix ms)

all integers big-endian. Its hash is SHA-256 of those bytes (Ed25519 signatures are
deterministic, so the message names the payment). The payer's counter starts at 1 and
grows by one with every payment it signs; `previous hash` is the hash of its payment at
counter - 1, and 32 zero bytes (GENESIS) for the first. A payment whose payee is its payer
is an unload: the reserve going back to the device's own wallet, in the same chain.

The payee checks, with no network: the payer's certificate (signed by the CA, not expired,
its id the payer's), the signature under the certified key, that it is the payee, that the
amount is within the certified cap, that the payer is not on the list of blocked devices
it last downloaded, and that the payer's counter has grown since the last payment it had
from that payer. It cannot know the payer's balance: the payer's device keeps that, and a
device that lies about it (cloned, tampered) is caught at sync, where the server sees the
payments of every payee (`double_spends`) and pays no more than the reserve loaded.
"""

import hashlib
import random
import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION = 1
PAYMENT_DOMAIN = b"e-CNY offline payment\n"
CERT_DOMAIN = b"e-CNY offline device certificate\n"
DEVICE_DOMAIN = b"e-CNY offline device\n"
GENESIS = bytes(32)
ID_BYTES = 16
_PAYMENT = struct.Struct(">B16s16sQQ32sq")
_CERT = struct.Struct(">B16s32sQq")
# Packed as u64 / i64, but held below 2**63 (a database's BIGINT) and, for times, within
# the years 1970 to 9999.
MAX_I64 = 2**63 - 1
MAX_TIME_MS = 253_402_300_799_999

# Why a device refuses (the same strings as the server's codes, where it has one).
SIGNATURE_INVALID = "OFFLINE_SIGNATURE_INVALID"
CERTIFICATE_INVALID = "OFFLINE_CERTIFICATE_INVALID"
WRONG_PAYEE = "OFFLINE_WRONG_PAYEE"
COUNTER_REPLAYED = "OFFLINE_COUNTER_REPLAYED"
DEVICE_BLOCKED = "DEVICE_BLOCKED"
OVER_CAP = "OFFLINE_CAP_EXCEEDED"
INSUFFICIENT_BALANCE = "OFFLINE_INSUFFICIENT_BALANCE"
INVALID_AMOUNT = "INVALID_AMOUNT"
MALFORMED = "INVALID_INPUT"


class OfflineRefused(Exception):
    """A device (or the verifier) refuses a payment; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# ---------------------------------------------------------------- keys and ids


def public_key_of(private_key: bytes) -> bytes:
    """The 32-byte Ed25519 public key of a 32-byte private key (RFC 8032's seed)."""
    return (
        Ed25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def sign(private_key: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_key).sign(message)


@lru_cache(maxsize=4096)
def _public(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        _public(bytes(public_key)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_check(public_key: bytes) -> None:
    """Refuses (INVALID_INPUT) bytes that are not an Ed25519 public key."""
    try:
        _public(bytes(public_key))
    except (ValueError, TypeError) as error:
        raise OfflineRefused(MALFORMED, "not an Ed25519 public key") from error


def device_id_of(public_key: bytes) -> str:
    """The device id (32 hex characters) a public key names."""
    if len(public_key) != 32:
        raise OfflineRefused(MALFORMED, "an Ed25519 public key is 32 bytes")
    return hashlib.sha256(DEVICE_DOMAIN + public_key).digest()[:ID_BYTES].hex()


def _id_bytes(device_id: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(device_id)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != ID_BYTES or device_id != raw.hex():
        raise OfflineRefused(MALFORMED, f"{what} is not a device id (32 lower-case hex)")
    return raw


# ---------------------------------------------------------------- payments


@dataclass(frozen=True, slots=True)
class Payment:
    """One offline payment, as its payer signs it."""

    payer: str  # device ids, 32 hex
    payee: str
    amount: int  # fen
    counter: int  # the payer's, from 1
    prev_hash: bytes  # the payer's previous payment's hash; GENESIS before the first
    time_ms: int  # the payer's clock, Unix milliseconds (the device's word, not proof)
    version: int = VERSION

    def encode(self) -> bytes:
        """The canonical bytes: what is signed and hashed. Refuses what it cannot hold."""
        if self.version != VERSION:
            raise OfflineRefused(MALFORMED, f"version {self.version} is not supported")
        for name, value, low, high in (
            ("amount", self.amount, 1, MAX_I64),
            ("counter", self.counter, 1, MAX_I64),
            ("time_ms", self.time_ms, 0, MAX_TIME_MS),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                code = INVALID_AMOUNT if name == "amount" else MALFORMED
                raise OfflineRefused(code, f"{name} must be an integer in [{low}, {high}]")
        if not isinstance(self.prev_hash, bytes) or len(self.prev_hash) != 32:
            raise OfflineRefused(MALFORMED, "prev_hash is 32 bytes")
        return PAYMENT_DOMAIN + _PAYMENT.pack(
            self.version,
            _id_bytes(self.payer, "payer"),
            _id_bytes(self.payee, "payee"),
            self.amount,
            self.counter,
            self.prev_hash,
            self.time_ms,
        )

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()

    @property
    def is_unload(self) -> bool:
        return self.payer == self.payee

    @classmethod
    def decode(cls, data: bytes) -> "Payment":
        if not data.startswith(PAYMENT_DOMAIN) or len(data) != len(PAYMENT_DOMAIN) + _PAYMENT.size:
            raise OfflineRefused(MALFORMED, "not an offline payment")
        version, payer, payee, amount, counter, prev, time_ms = _PAYMENT.unpack(
            data[len(PAYMENT_DOMAIN) :]
        )
        payment = cls(payer.hex(), payee.hex(), amount, counter, prev, time_ms, version)
        payment.encode()  # the same checks as on the way out
        return payment


@dataclass(frozen=True, slots=True)
class SignedPayment:
    payment: Payment
    signature: bytes

    @property
    def hash(self) -> bytes:
        return self.payment.hash

    def verify(self, public_key: bytes) -> bool:
        """The signature is the key's over the payment's canonical bytes."""
        try:
            message = self.payment.encode()
        except OfflineRefused:
            return False
        return len(self.signature) == 64 and verify(public_key, self.signature, message)


def payment_sign(private_key: bytes, payment: Payment) -> SignedPayment:
    return SignedPayment(payment, sign(private_key, payment.encode()))


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True, slots=True)
class Certificate:
    """The CA's word that `public_key` is registered device `device`, which may hold at
    most `cap` fen offline, until `not_after` (Unix seconds)."""

    device: str
    public_key: bytes
    cap: int
    not_after: int
    signature: bytes = b""
    version: int = VERSION

    def body(self) -> bytes:
        return CERT_DOMAIN + _CERT.pack(
            self.version,
            _id_bytes(self.device, "device"),
            self.public_key,
            self.cap,
            self.not_after,
        )

    def encode(self) -> bytes:
        return self.body() + self.signature

    @classmethod
    def decode(cls, data: bytes) -> "Certificate":
        size = len(CERT_DOMAIN) + _CERT.size
        if not data.startswith(CERT_DOMAIN) or len(data) != size + 64:
            raise OfflineRefused(CERTIFICATE_INVALID, "not an offline device certificate")
        version, device, public_key, cap, not_after = _CERT.unpack(data[len(CERT_DOMAIN) : size])
        return cls(device.hex(), public_key, cap, not_after, data[size:], version)

    def check(self, ca_public_key: bytes, *, now: int) -> None:
        """Refuses (CERTIFICATE_INVALID) a certificate the CA did not sign, whose id is not
        its key's, or that has expired."""
        if self.version != VERSION or not verify(ca_public_key, self.signature, self.body()):
            raise OfflineRefused(CERTIFICATE_INVALID, "the certificate is not the CA's")
        if device_id_of(self.public_key) != self.device:
            raise OfflineRefused(CERTIFICATE_INVALID, "the certificate's id is not its key's")
        if now > self.not_after:
            raise OfflineRefused(CERTIFICATE_INVALID, "the certificate has expired")


def certificate_issue(
    ca_private_key: bytes, *, public_key: bytes, cap: int, not_after: int
) -> Certificate:
    unsigned = Certificate(device_id_of(public_key), public_key, cap, not_after)
    return replace(unsigned, signature=sign(ca_private_key, unsigned.body()))


# ---------------------------------------------------------------- chains and double spends


def verify_chain(
    payments: Sequence[SignedPayment],
    public_key: bytes,
    *,
    prev_hash: bytes = GENESIS,
    counter: int = 0,
    reserve: int | None = None,
) -> int:
    """Check a run of one payer's payments as a device log holds them: each signed by the
    key, counters consecutive from `counter` + 1, each naming the hash of the one before
    (`prev_hash` for the first), and, given `reserve`, never spending more than it. Returns
    the fen spent; raises OfflineRefused naming the first payment that fails."""
    spent = 0
    for number, signed in enumerate(payments):
        payment = signed.payment
        if not signed.verify(public_key):
            raise OfflineRefused(SIGNATURE_INVALID, f"payment {number}: bad signature")
        if payment.counter != counter + 1 or payment.prev_hash != prev_hash:
            raise OfflineRefused(MALFORMED, f"payment {number}: does not follow the one before")
        spent += payment.amount
        if reserve is not None and spent > reserve:
            raise OfflineRefused(INSUFFICIENT_BALANCE, f"payment {number}: beyond the reserve")
        counter, prev_hash = payment.counter, signed.hash
    return spent


class Shape(StrEnum):
    """How a device spent twice, as the server sees it from all the payments it has."""

    COUNTER_REUSED = "COUNTER_REUSED"  # two payments at one counter
    FORK = "FORK"  # two payments naming the same previous one, or one out of its place
    OVER_RESERVE = "OVER_RESERVE"  # payments together above what was loaded


@dataclass(frozen=True)
class Finding:
    shape: Shape
    key: str  # the counter reused, the previous hash forked from, "" for the reserve
    evidence: frozenset[str]  # hashes (hex) of the payments that show it


def double_spends(payments: Iterable[Payment], reserve: int) -> list[Finding]:
    """The double spends one payer's payments show, given the reserve it loaded.

    Each finding is a property of the set alone, and stays found as the set grows: so
    whatever order payments arrive in, once they are all in the findings are the same.

    - COUNTER_REUSED at c: two payments at counter c; or a payment at c + 1 that does not
      name the hash of a payment known at c (so the device signed another one there).
    - FORK at h: payments at different counters that both name h as their previous one;
      or one that names a known payment that is not at its counter - 1.
    - OVER_RESERVE: the payments add up to more than `reserve`.
    """
    payments = list({p.hash: p for p in payments}.values())
    hashes = {p.hash: p for p in payments}
    by_counter: dict[int, list[Payment]] = defaultdict(list)
    by_prev: dict[bytes, list[Payment]] = defaultdict(list)
    for payment in payments:
        by_counter[payment.counter].append(payment)
        by_prev[payment.prev_hash].append(payment)
    evidence: dict[tuple[Shape, str], set[str]] = defaultdict(set)
    for counter, group in by_counter.items():
        if len(group) > 1:
            evidence[(Shape.COUNTER_REUSED, str(counter))].update(p.hash.hex() for p in group)
    for payment in payments:
        for before in by_counter.get(payment.counter - 1, ()):
            if payment.prev_hash != before.hash:
                found = evidence[(Shape.COUNTER_REUSED, str(before.counter))]
                found.update((before.hash.hex(), payment.hash.hex()))
        named = hashes.get(payment.prev_hash)
        if named is not None and named.counter != payment.counter - 1:
            found = evidence[(Shape.FORK, payment.prev_hash.hex())]
            found.update((named.hash.hex(), payment.hash.hex()))
    for prev, group in by_prev.items():
        if len({p.counter for p in group}) > 1:
            evidence[(Shape.FORK, prev.hex())].update(p.hash.hex() for p in group)
    if sum(p.amount for p in payments) > reserve:
        evidence[(Shape.OVER_RESERVE, "")].update(p.hash.hex() for p in payments)
    return [
        Finding(shape, key, frozenset(found))
        for (shape, key), found in sorted(evidence.items(), key=lambda item: item[0])
    ]


def allocate(claims: Sequence[tuple[int, int]], reserve: int) -> list[int]:
    """What the reserve pays of each claim, given as (amount, already paid) in the order the
    claims reached the server: each in turn gets what is left, up to its amount (first
    synced, first paid). What was paid stays paid."""
    left = reserve - sum(paid for _, paid in claims)
    result = []
    for amount, paid in claims:
        more = max(0, min(amount - paid, left))
        left -= more
        result.append(paid + more)
    return result


# ---------------------------------------------------------------- the device


@dataclass(frozen=True, slots=True)
class Offer:
    """What a payer's device hands the payee's: the signed payment and its certificate."""

    signed: SignedPayment
    certificate: Certificate


@dataclass
class Device:
    """A hardware wallet, simulated: its key and certificate, its counter and the hash of
    its last payment, what it was loaded and has spent, the payments it sent and received
    since its last sync, what it last heard of blocked devices, and the last counter it had
    from each payer. It pays and receives with no network."""

    private_key: bytes
    certificate: Certificate
    ca_public_key: bytes
    counter: int = 0
    last_hash: bytes = GENESIS
    loaded: int = 0  # settled loads, as the server last said
    spent: int = 0  # what it signed away, unloads included
    blocked: frozenset[str] = frozenset()
    seen: dict[str, int] = field(default_factory=dict)  # payer id -> last counter received
    outbox: list[SignedPayment] = field(default_factory=list)  # not yet uploaded
    sent: list[SignedPayment] = field(default_factory=list)
    received: list[SignedPayment] = field(default_factory=list)

    @staticmethod
    def new_key(rng: random.Random | None = None) -> bytes:
        """A private key: from `rng` when given (a load run's seeded devices), else from
        the operating system."""
        if rng is None:
            import os

            return os.urandom(32)
        return rng.getrandbits(256).to_bytes(32, "big")

    @property
    def id(self) -> str:
        return self.certificate.device

    @property
    def public_key(self) -> bytes:
        return self.certificate.public_key

    @property
    def balance(self) -> int:
        """What it may still spend offline."""
        return self.loaded - self.spent

    def pay(self, payee: str, amount: int, *, at_ms: int, check_balance: bool = True) -> Offer:
        """Sign a payment to `payee`. An honest device refuses to spend what it has not got
        (`check_balance=False` is a tampered one)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise OfflineRefused(INVALID_AMOUNT, "an amount is a positive number of fen")
        if check_balance and amount > self.balance:
            raise OfflineRefused(INSUFFICIENT_BALANCE, f"{self.balance} fen left offline")
        payment = Payment(self.id, payee, amount, self.counter + 1, self.last_hash, at_ms)
        signed = payment_sign(self.private_key, payment)
        self.counter, self.last_hash = payment.counter, signed.hash
        self.spent += amount
        self.sent.append(signed)
        self.outbox.append(signed)
        return Offer(signed, self.certificate)

    def unload(self, amount: int, *, at_ms: int) -> SignedPayment:
        """Give reserve back to the device's own wallet: a payment to itself, in its chain."""
        return self.pay(self.id, amount, at_ms=at_ms).signed

    def receive(self, offer: Offer, *, now_s: int) -> SignedPayment:
        """Check a payment offered with no network, and keep it to upload. Refused:
        CERTIFICATE_INVALID, SIGNATURE_INVALID, WRONG_PAYEE, OVER_CAP, DEVICE_BLOCKED,
        COUNTER_REPLAYED (a counter not above the last this payer paid us with)."""
        signed, certificate = offer.signed, offer.certificate
        payment = signed.payment
        certificate.check(self.ca_public_key, now=now_s)
        if certificate.device != payment.payer:
            raise OfflineRefused(CERTIFICATE_INVALID, "the certificate is another device's")
        if not signed.verify(certificate.public_key):
            raise OfflineRefused(SIGNATURE_INVALID, "the payment is not signed by the payer")
        if payment.payee != self.id or payment.is_unload:
            raise OfflineRefused(WRONG_PAYEE, "the payment is to another device")
        if payment.amount > certificate.cap:
            raise OfflineRefused(OVER_CAP, "more than the payer may hold offline")
        if payment.payer in self.blocked:
            raise OfflineRefused(DEVICE_BLOCKED, "the payer's device is blocked")
        if payment.counter <= self.seen.get(payment.payer, 0):
            raise OfflineRefused(COUNTER_REPLAYED, "this payer's counter did not grow")
        self.seen[payment.payer] = payment.counter
        self.received.append(signed)
        self.outbox.append(signed)
        return signed

    def withdraw(self, signed: SignedPayment) -> None:
        """The payee refused it: the payment never happened, so it is not uploaded and its
        amount is spendable again. The counter stays where it is (a signature cannot be
        taken back, so the next payment names it as its previous one)."""
        self.outbox.remove(signed)
        self.sent.remove(signed)
        self.spent -= signed.payment.amount

    def upload(self) -> list[SignedPayment]:
        """What to sync: every payment sent or received since the last sync."""
        return list(self.outbox)

    def synced(self, *, uploaded: int, loaded: int, blocked: Iterable[str]) -> None:
        """After a sync: the first `uploaded` of the outbox are with the server; the server's
        word on settled loads and on blocked devices is taken."""
        del self.outbox[:uploaded]
        self.loaded = loaded
        self.blocked = frozenset(blocked)

    def clone(self) -> "Device":
        """A copy with the same key and state: what a cheater who broke the secure element
        would make, to spend the same reserve twice."""
        return Device(
            self.private_key,
            self.certificate,
            self.ca_public_key,
            self.counter,
            self.last_hash,
            self.loaded,
            self.spent,
            self.blocked,
            dict(self.seen),
        )

    def skip(self, counters: int) -> None:
        """Jump the counter ahead, keeping the last hash: what a tampered clone does so as not
        to reuse its twin's counters. The chain still shows it (a FORK)."""
        self.counter += counters
