"""The audit leaf format and hash chain. Imports nothing from Django.

A leaf records a settled transfer (`transfer_entry`) or an event the layer above asked
the log to keep (`event_entry`: e.g. the disclosure of an anonymous holder's identity).

    leaf_bytes = JCS(entry)                       RFC 8785 canonical JSON, money as int fen
    leaf_hash  = SHA-256(0x00 || leaf_bytes)      RFC 6962 leaf hash
    chain_i    = SHA-256(0x02 || chain_{i-1} || leaf_hash_i),   chain_{-1} = 32 zero bytes

An entry is rebuilt from the ledger tables alone, so `audit verify` can recompute every leaf.
"""

import functools
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import rfc8785

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
CHAIN_PREFIX = b"\x02"
ZERO_HASH = bytes(32)
ENTRY_VERSION = 1


def timestamp(at: datetime) -> str:
    """UTC with microseconds, e.g. 2026-11-24T12:00:00.000001Z."""
    # isoformat is several times faster than strftime, and this runs twice per leaf.
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def transfer_entry(
    *,
    transfer_id: int,
    kind: str,
    state: str,
    created_at: datetime,
    decided_at: datetime,
    legs: Iterable[tuple[str, int, int, int]],
    timeout_at: datetime | None = None,
    pending: int | None = None,
    link: UUID | None = None,
) -> dict[str, Any]:
    """The entry for a transfer; `legs` are (asset, debit account, credit account, fen).

    A two-phase transfer's reservation (state PENDING) adds its `timeout_at`; a POST, VOID
    or EXPIRE adds the `pending` transfer it decides; a linked transfer adds its chain's
    `link`, the same on every member. Other entries are as they were."""
    entry = {
        "v": ENTRY_VERSION,
        "type": "transfer",
        "transfer": transfer_id,
        "kind": kind,
        "state": state,
        "created_at": timestamp(created_at),
        "decided_at": timestamp(decided_at),
        "legs": [
            {"asset": asset, "debit": debit, "credit": credit, "amount": amount}
            for asset, debit, credit, amount in legs
        ],
    }
    if timeout_at is not None:
        entry["timeout_at"] = timestamp(timeout_at)
    if pending is not None:
        entry["pending"] = pending
    if link is not None:
        entry["link"] = str(link)
    return entry


def event_entry(*, event_id: int, kind: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The entry for an event that is not a transfer (settlement.models.AuditEvent): what
    the layer above asked the log to record, as it was told."""
    return {
        "v": ENTRY_VERSION,
        "type": "event",
        "event": event_id,
        "kind": kind,
        "at": timestamp(at),
        "data": data,
    }


def event_data_plain(data: Any) -> bool:
    """Whether `data` is what an event may carry: a JSON object with ASCII keys whose
    values are text (no NUL, no lone surrogate: PostgreSQL's jsonb keeps neither),
    integers within +-2**53, booleans, nulls, and lists and objects of the same. No
    floats: their canonical form is an encoder's choice, and money is integer fen."""
    return isinstance(data, dict) and _event_value(data)


def _event_value(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and k.isascii() and "\x00" not in k and _event_value(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_event_value(v) for v in value)
    return False


def leaf_bytes(entry: dict[str, Any]) -> bytes:
    """JCS (RFC 8785) bytes of an entry the ledger writes.

    For these entries (ASCII keys, integers within +-2**53, strings) `json.dumps` with
    sorted keys and no whitespace produces exactly the RFC 8785 bytes, about four times
    faster than the `rfc8785` package; tests/settlement/test_leaf_encoding.py proves the
    equality by property test. Anything else (a float, a huge integer) goes to `rfc8785`.
    """
    if _plain(entry):
        return _dumps(entry)
    return rfc8785.dumps(entry)


def transfer_leaf_bytes(**fields: Any) -> bytes:
    """leaf_bytes(transfer_entry(**fields)), checking only what can leave the fast path.

    A transfer entry's strings and keys always qualify; only its integers could be too
    large, and checking those alone halves the cost of encoding a settled batch.
    """
    entry = transfer_entry(**fields)
    numbers = [entry["transfer"], entry.get("pending", 0)]
    for leg in entry["legs"]:
        numbers += (leg["debit"], leg["credit"], leg["amount"])
    if all(type(n) is int and -_SAFE_INT <= n <= _SAFE_INT for n in numbers):
        return _dumps(entry)
    return rfc8785.dumps(entry)


def transfer_leaves_bytes(transfers: Iterable[tuple], *, decided_at: datetime) -> list[bytes]:
    """transfer_leaf_bytes for transfers decided together: (id, kind, created_at, legs,
    state, timeout_at, pending, link), as settlement.audit.log.LeafSpec.

    The same bytes from a template with the keys in their JCS order, a few times faster
    than building and sorting a dict per leaf (a settled batch encodes tens of thousands);
    tests/settlement/test_leaf_encoding.py proves it equal to `rfc8785` by property test.
    A leaf with a value the template cannot hold goes through transfer_leaf_bytes.
    """
    decided = timestamp(decided_at)
    head = f'"decided_at":"{decided}","kind":'
    tail = ',"state":"SETTLED","transfer":'
    out = []
    for transfer_id, kind, created_at, legs, state, timeout_at, pending, link in transfers:
        plain = state == "SETTLED" and timeout_at is None and pending is None and link is None
        if plain and _template_fits(transfer_id, kind, legs):
            encoded_legs = ",".join(
                f'{{"amount":{amount},"asset":{_json_text(asset)},"credit":{credit},'
                f'"debit":{debit}}}'
                for asset, debit, credit, amount in legs
            )
            out.append(
                f'{{"created_at":"{timestamp(created_at)}",{head}{_json_text(kind)},'
                f'"legs":[{encoded_legs}]{tail}{transfer_id},"type":"transfer","v":{ENTRY_VERSION}}}'.encode()
            )
        else:
            out.append(
                transfer_leaf_bytes(
                    transfer_id=transfer_id,
                    kind=kind,
                    state=state,
                    created_at=created_at,
                    decided_at=decided_at,
                    legs=legs,
                    timeout_at=timeout_at,
                    pending=pending,
                    link=link,
                )
            )
    return out


def transfer_leaves_hashed(
    transfers: Iterable[tuple], *, decided_at: datetime
) -> list[tuple[bytes, bytes]]:
    """(leaf_bytes, leaf_hash) of each of transfer_leaves_bytes's leaves."""
    return [
        (data, leaf_hash(data)) for data in transfer_leaves_bytes(transfers, decided_at=decided_at)
    ]


def _template_fits(transfer_id: object, kind: object, legs) -> bool:
    if type(transfer_id) is not int or not -_SAFE_INT <= transfer_id <= _SAFE_INT:
        return False
    if type(kind) is not str:
        return False
    for asset, debit, credit, amount in legs:
        if type(asset) is not str:
            return False
        for number in (debit, credit, amount):
            if type(number) is not int or not -_SAFE_INT <= number <= _SAFE_INT:
                return False
    return True


@functools.lru_cache(maxsize=256)
def _json_text(value: str) -> str:
    """A string as JSON: kinds, states and assets are a handful of values, encoded once."""
    return json.dumps(value, ensure_ascii=False)


def _dumps(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_bytes_reference(entry: dict[str, Any]) -> bytes:
    """The `rfc8785` package's bytes: the reference the fast path is tested against."""
    return rfc8785.dumps(entry)


_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def chain_next(previous: bytes, this_leaf_hash: bytes) -> bytes:
    return hashlib.sha256(CHAIN_PREFIX + previous + this_leaf_hash).digest()
