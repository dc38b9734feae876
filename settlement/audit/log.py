"""Appending leaves to the audit log inside the settlement transaction."""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from settlement.audit import leaf
from settlement.models import AuditHead, AuditLeaf
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


def audit_append(settled: Sequence[LeafSpec], *, decided_at: datetime) -> None:
    """Append one leaf per decided transfer that moved or reserved money, in order.

    Must run inside the settling transaction. The head row is locked last, after the
    accounts, so concurrent batches serialise only for this short append.
    """
    if not settled:
        return
    entries = leaf.transfer_leaves_bytes(settled, decided_at=decided_at)
    head = _lock_head()
    chain = bytes(head.chain_hash)
    leaves = []
    for offset, ((transfer_id, *_), data) in enumerate(zip(settled, entries, strict=True)):
        this_hash = leaf.leaf_hash(data)
        chain = leaf.chain_next(chain, this_hash)
        leaves.append((head.size + offset, transfer_id, data, this_hash, chain))
    insert_rows(
        AuditLeaf._meta.db_table,
        ["index", "transfer_id", "leaf_bytes", "leaf_hash", "chain_hash"],
        leaves,
    )
    AuditHead.objects.filter(pk=1).update(size=head.size + len(leaves), chain_hash=chain)


def _lock_head() -> AuditHead:
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # First settlement ever (or a freshly flushed database): start the empty log.
        AuditHead.objects.bulk_create(
            [AuditHead(pk=1, size=0, chain_hash=leaf.ZERO_HASH)], ignore_conflicts=True
        )
        head = AuditHead.objects.select_for_update().get(pk=1)
    return head
