"""Appending leaves to the audit log: transfers inside the settlement transaction, and
events (`audit_event_append`) inside the transaction of whatever they record."""

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from ewallet.errors import ErrorCode, EwalletError
from settlement.audit import leaf
from settlement.models import AuditEvent, AuditHead, AuditLeaf
from settlement.sql import insert_rows


class LeafSpec(NamedTuple):
    """A decided transfer as its leaf records it."""

    transfer_id: int
    kind: str
    created_at: datetime
    legs: list[tuple[str, int, int, int]]  # (asset, debit, credit, fen)
    state: str = "SETTLED"  # or PENDING: a two-phase transfer's reservation
    timeout_at: datetime | None = None  # a two-phase transfer's
    pending: int | None = None  # the pending transfer a POST, VOID or EXPIRE decides
    link: UUID | None = None  # the chain of a linked transfer


# Below this many leaves a thread costs more than encoding them where they are needed.
ENCODE_AHEAD_MIN = 500


def audit_encode_ahead(
    settled: Sequence[LeafSpec], *, decided_at: datetime
) -> "Future[list[tuple[bytes, bytes]]]":
    """Start encoding and hashing the leaves of `settled` for `audit_append`.

    Pure Python, about a fifth of a settled batch's own time: started in a thread once a
    batch's decisions are made, it runs while the batch's thread waits for PostgreSQL to
    write the postings, balances and states, instead of after them. A thread for each
    large batch, so a forked worker never inherits a pool whose thread it does not have.
    """
    if len(settled) < ENCODE_AHEAD_MIN:
        done: Future[list[tuple[bytes, bytes]]] = Future()
        done.set_result(leaf.transfer_leaves_hashed(settled, decided_at=decided_at))
        return done
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-leaves")
    try:
        return encoder.submit(leaf.transfer_leaves_hashed, settled, decided_at=decided_at)
    finally:
        encoder.shutdown(wait=False)  # the thread ends when its one task does


def audit_encode_reusing(
    settled: Sequence[LeafSpec],
    *,
    decided_at: datetime,
    earlier: Sequence[LeafSpec],
    encoded: "Future[list[tuple[bytes, bytes]]]",
) -> "Future[list[tuple[bytes, bytes]]]":
    """`audit_encode_ahead` of `settled` when `earlier` (decided at the same time) was
    encoded already as `encoded`: a leaf equal to one of those keeps its encoding, which
    does not depend on its place in the log; only the others are encoded now."""
    if list(settled) == list(earlier):
        return encoded
    made = {
        spec.transfer_id: (spec, entry)
        for spec, entry in zip(earlier, encoded.result(), strict=True)
    }
    fresh = [spec for spec in settled if made.get(spec.transfer_id, (None,))[0] != spec]
    fresh_entries = dict(
        zip(
            (spec.transfer_id for spec in fresh),
            leaf.transfer_leaves_hashed(fresh, decided_at=decided_at),
            strict=True,
        )
    )
    done: Future[list[tuple[bytes, bytes]]] = Future()
    done.set_result(
        [
            fresh_entries[spec.transfer_id]
            if spec.transfer_id in fresh_entries
            else made[spec.transfer_id][1]
            for spec in settled
        ]
    )
    return done


def audit_append(
    settled: Sequence[LeafSpec],
    *,
    decided_at: datetime,
    encoded: "Future[list[tuple[bytes, bytes]]] | None" = None,
) -> None:
    """Append one leaf per decided transfer that moved or reserved money, in order.

    Must run inside the settling transaction. The head row is locked last, after the
    accounts, so concurrent batches serialise only for this short append. `encoded`:
    from `audit_encode_ahead` with the same transfers and time.
    """
    if not settled:
        return
    if encoded is None:
        encoded = audit_encode_ahead(settled, decided_at=decided_at)
    entries = encoded.result()
    head = _lock_head()
    chain = bytes(head.chain_hash)
    leaves = []
    for offset, ((transfer_id, *_), (data, this_hash)) in enumerate(
        zip(settled, entries, strict=True)
    ):
        chain = leaf.chain_next(chain, this_hash)
        leaves.append((head.size + offset, transfer_id, data, this_hash, chain))
    insert_rows(
        AuditLeaf._meta.db_table,
        ["index", "transfer_id", "leaf_bytes", "leaf_hash", "chain_hash"],
        leaves,
    )
    AuditHead.objects.filter(pk=1).update(size=head.size + len(leaves), chain_hash=chain)


def audit_event_append(*, kind: str, data: dict[str, Any]) -> AuditEvent:
    """Record an event in the log: its row and its leaf, in the caller's transaction (so
    the event is logged if and only if what it records commits), under the head's lock
    like a settled batch. `data` must be `leaf.event_data_plain`; what it says is the
    caller's business, and it must hold nothing the log's readers may not see."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an audit event is appended inside the transaction it records")
    if not (kind and kind.isascii() and len(kind) <= 64) or not leaf.event_data_plain(data):
        raise EwalletError(ErrorCode.INVALID_INPUT, f"not an event the log can keep: {kind!r}")
    head = _lock_head()
    event = AuditEvent.objects.create(kind=kind, data=data, at=timezone.now())
    # Encoded from the row as read back, exactly as `audit verify` will rebuild it.
    event.refresh_from_db()
    data_bytes = leaf.leaf_bytes(
        leaf.event_entry(event_id=event.pk, kind=event.kind, at=event.at, data=event.data)
    )
    this_hash = leaf.leaf_hash(data_bytes)
    chain = leaf.chain_next(bytes(head.chain_hash), this_hash)
    AuditLeaf.objects.create(
        index=head.size,
        event=event,
        leaf_bytes=data_bytes,
        leaf_hash=this_hash,
        chain_hash=chain,
    )
    AuditHead.objects.filter(pk=1).update(size=head.size + 1, chain_hash=chain)
    return event


def _lock_head() -> AuditHead:
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # First settlement ever (or a freshly flushed database): start the empty log.
        AuditHead.objects.bulk_create(
            [AuditHead(pk=1, size=0, chain_hash=leaf.ZERO_HASH)], ignore_conflicts=True
        )
        head = AuditHead.objects.select_for_update().get(pk=1)
    return head
