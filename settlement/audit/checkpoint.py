"""Sealing signed checkpoints over the audit log, and receipts that prove a leaf is in one.

A seal appends the Merkle nodes completed by the leaves since the last checkpoint, computes
the head from stored nodes, and stores a C2SP checkpoint signed by the central bank's key,
naming the previous checkpoint by the SHA-256 of its note. Sealers are serialised (an
advisory lock on PostgreSQL, the single writer on SQLite); settlement never waits for them.
"""

import base64
import hashlib
import json
from datetime import UTC

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ewallet.errors import ErrorCode, EwalletError
from settlement.audit import keys, merkle
from settlement.audit.leaf import ZERO_HASH
from settlement.audit.note import Checkpoint as CheckpointText
from settlement.audit.note import sign_note
from settlement.models import AuditHead, AuditLeaf, Checkpoint, MerkleNode
from settlement.sql import insert_rows

SEAL_LOCK = 0x65434E59  # "eCNY": the advisory lock id that serialises sealers
# A seal over a long backlog stops here and the next one goes on, so memory stays bounded.
MAX_LEAVES_PER_SEAL = 200_000


def node_reader():
    """A `get(level, index)` for merkle.py that reads stored nodes, one query each."""

    def get(level: int, index: int) -> bytes:
        node = MerkleNode.objects.values_list("hash", flat=True).get(level=level, index=index)
        return bytes(node)

    return get


def with_stored_nodes(compute):
    """Run `compute(get)` reading all the stored nodes it needs in one query.

    Which nodes a head or proof needs depends only on sizes and indexes, never on hash
    values, so a first dry run with placeholder hashes names them all.
    """
    wanted: list[tuple[int, int]] = []
    compute(lambda level, index: wanted.append((level, index)) or ZERO_HASH)
    if not wanted:
        return compute(node_reader())
    condition = Q()
    for level, index in wanted:
        condition |= Q(level=level, index=index)
    found = {
        (level, index): bytes(value)
        for level, index, value in MerkleNode.objects.filter(condition).values_list(
            "level", "index", "hash"
        )
    }
    return compute(lambda level, index: found[(level, index)])


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


def receipt(*, leaf_index: int) -> dict:
    """A self-contained proof that leaf `leaf_index` is in the latest checkpoint.

    Seals one first if the leaf is newer than the latest checkpoint.
    """
    leaf = AuditLeaf.objects.filter(index=leaf_index).first()
    if leaf is None:
        raise EwalletError(ErrorCode.NOT_FOUND, f"no audit leaf {leaf_index}")
    latest = Checkpoint.objects.order_by("-height").first()
    while latest is None or latest.size <= leaf_index:
        sealed = checkpoint_seal()
        if sealed is None:
            break
        latest = sealed
    if latest is None or latest.size <= leaf_index:
        raise EwalletError(ErrorCode.NOT_CHECKPOINTED, f"leaf {leaf_index} is not checkpointed")
    verifier = keys.verifiers()[latest.key_hash][0]
    proof = with_stored_nodes(lambda get: merkle.inclusion_proof(leaf_index, latest.size, get))
    return {
        "leaf": base64.b64encode(bytes(leaf.leaf_bytes)).decode(),
        "leaf_index": leaf_index,
        "tree_size": latest.size,
        "inclusion_proof": [p.hex() for p in proof],
        "checkpoint": latest.note,
        "verifier_key": str(verifier),
    }


def audit_export(out) -> int:
    """Write the log as JSON lines (keys, then checkpoints, then leaves) so that anyone can
    recheck it with their own tools, or with `python -m settlement.audit.offline
    verify-export`. Returns the number of lines written."""
    lines = 0
    for verifier, row in keys.verifiers().values():
        retired = row.retired_at and row.retired_at.isoformat()
        record = {"type": "key", "verifier_key": str(verifier), "retired_at": retired}
        out.write(json.dumps(record) + "\n")
        lines += 1
    for height, size, note in Checkpoint.objects.order_by("height").values_list(
        "height", "size", "note"
    ):
        record = {"type": "checkpoint", "height": height, "size": size, "note": note}
        out.write(json.dumps(record) + "\n")
        lines += 1
    leaves = AuditLeaf.objects.order_by("index").values_list(
        "index", "transfer_id", "leaf_bytes", "leaf_hash", "chain_hash"
    )
    for index, transfer_id, data, leaf_hash, chain_hash in leaves.iterator(chunk_size=5000):
        record = {
            "type": "leaf",
            "index": index,
            "transfer": transfer_id,
            "leaf": base64.b64encode(bytes(data)).decode(),
            "leaf_hash": bytes(leaf_hash).hex(),
            "chain_hash": bytes(chain_hash).hex(),
        }
        out.write(json.dumps(record) + "\n")
        lines += 1
    return lines


def receipt_json(**kwargs) -> str:
    return json.dumps(receipt(**kwargs), indent=2)
