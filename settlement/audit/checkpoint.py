"""Sealing signed checkpoints over the audit log.

A seal appends the Merkle nodes completed by the leaves since the last checkpoint, computes
the head from stored nodes, and stores a C2SP checkpoint signed by the central bank's key,
naming the previous checkpoint by the SHA-256 of its note. Sealers are serialised (an
advisory lock on PostgreSQL, the single writer on SQLite); settlement never waits for them.
Receipts and proofs over sealed checkpoints are read, never sealed, in proofs.py.
"""

import base64
import hashlib
from datetime import UTC

from django.db import connection, transaction
from django.utils import timezone

from settlement.audit import keys, merkle
from settlement.audit.leaf import ZERO_HASH
from settlement.audit.note import Checkpoint as CheckpointText
from settlement.audit.note import sign_note
from settlement.audit.proofs import node_reader
from settlement.models import AuditHead, AuditLeaf, Checkpoint, MerkleNode
from settlement.sql import insert_rows

SEAL_LOCK = 0x65434E59  # "eCNY": the advisory lock id that serialises sealers
# A seal over a long backlog stops here and the next one goes on, so memory stays bounded.
MAX_LEAVES_PER_SEAL = 200_000


def note_hash(note: str) -> bytes:
    return hashlib.sha256(note.encode()).digest()


@transaction.atomic
def checkpoint_seal() -> Checkpoint | None:
    """Seal a checkpoint over the leaves so far (at most MAX_LEAVES_PER_SEAL new ones);
    None if there is nothing new."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])
    last = Checkpoint.objects.order_by("-height").first()
    sealed = last.size if last else 0
    head = AuditHead.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    if head <= sealed:
        return None
    head = min(head, sealed + MAX_LEAVES_PER_SEAL)
    verifier, private = keys.signer()
    hashes = [
        bytes(h)
        for h in AuditLeaf.objects.filter(index__gte=sealed, index__lt=head)
        .order_by("index")
        .values_list("leaf_hash", flat=True)
    ]
    get = node_reader()
    nodes = merkle.append_many(sealed, hashes, get)
    insert_rows(MerkleNode._meta.db_table, ["level", "index", "hash"], nodes)
    made = {(level, index): value for level, index, value in nodes}
    root = merkle.root(head, lambda level, index: made.get((level, index)) or get(level, index))
    # Never earlier than the last one, even if this machine's clock is behind its sealer's.
    now = max(timezone.now(), last.created_at) if last else timezone.now()
    # Stored as signed, to the millisecond, so `audit verify` can hold the row to the note.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    previous = note_hash(last.note) if last else ZERO_HASH
    text = CheckpointText(
        origin=keys.key_name(),
        size=head,
        root_hash=root,
        extensions=(
            f"prev {base64.b64encode(previous).decode()}",
            f"time {now.astimezone(UTC).isoformat(timespec='milliseconds').replace('+00:00', 'Z')}",
        ),
    ).text()
    return Checkpoint.objects.create(
        height=last.height + 1 if last else 0,
        size=head,
        root_hash=root,
        previous_hash=previous,
        created_at=now,
        key_hash=verifier.hash.hex(),
        note=sign_note(text, verifier.name, private),
    )
