"""The audit log's read side: receipts, consistency proofs and the export. Nothing here writes.

Everything reads checkpoints already sealed (beat and the settlement workers seal one every
EWALLET_CHECKPOINT_SECONDS with checkpoint.py), so serving a proof never seals: a leaf newer
than the latest checkpoint is NOT_CHECKPOINTED until the next seal. A command that may
write seals first, explicitly, then reads here. tests/settlement/test_proofs.py runs these
functions in a read-only PostgreSQL transaction to hold them to that.

The export lives here too rather than in a module of its own: it is one more read of the
same rows, and with every read in one module "nothing here writes" is one rule for one
file. What a third party does with a receipt or an export is in offline.py.
"""

import base64
import json

from django.conf import settings
from django.db.models import Q

from ewallet.errors import ErrorCode, EwalletError
from settlement.audit import keys, merkle
from settlement.audit.leaf import ZERO_HASH
from settlement.models import AuditLeaf, Checkpoint, MerkleNode, Transfer


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


def transfer_receipt(*, transfer_id: int) -> dict:
    """The receipt for a settled transfer: proof that its leaf is in the latest checkpoint."""
    state = Transfer.objects.filter(pk=transfer_id).values_list("state", flat=True).first()
    if state is None:
        raise EwalletError(ErrorCode.NOT_FOUND, f"no transfer {transfer_id}")
    # Settlement writes the leaf with the postings, so only a settled transfer has one.
    index = AuditLeaf.objects.filter(transfer_id=transfer_id).values_list("index", flat=True)
    index = index.first()
    if index is None:
        raise EwalletError(
            ErrorCode.INVALID_STATE, f"transfer {transfer_id} is {state}, not settled"
        )
    return leaf_receipt(leaf_index=index)


def leaf_receipt(*, leaf_index: int) -> dict:
    """A self-contained proof that leaf `leaf_index` is in the latest checkpoint, which
    `offline.verify_receipt` checks. NOT_CHECKPOINTED if no checkpoint covers it yet."""
    leaf = AuditLeaf.objects.filter(index=leaf_index).values_list("leaf_bytes", flat=True)
    leaf = leaf.first()
    if leaf is None:
        raise EwalletError(ErrorCode.NOT_FOUND, f"no audit leaf {leaf_index}")
    latest = Checkpoint.objects.order_by("-height").first()
    if latest is None or latest.size <= leaf_index:
        raise EwalletError(
            ErrorCode.NOT_CHECKPOINTED,
            f"leaf {leaf_index} is not checkpointed yet: the latest checkpoint covers "
            f"{latest.size if latest else 0} leaves, and one is sealed every "
            f"{settings.EWALLET_CHECKPOINT_SECONDS:g} s",
        )
    verifier = keys.verifiers()[latest.key_hash][0]
    proof = with_stored_nodes(lambda get: merkle.inclusion_proof(leaf_index, latest.size, get))
    return {
        "leaf": base64.b64encode(bytes(leaf)).decode(),
        "leaf_index": leaf_index,
        "tree_size": latest.size,
        "inclusion_proof": [p.hex() for p in proof],
        "checkpoint": latest.note,
        "verifier_key": str(verifier),
    }


def consistency_proof(*, first: int, second: int) -> dict:
    """RFC 9162 proof that the tree of `first` leaves is a prefix of the tree of `second`,
    with both heads; `second` must not exceed the latest checkpoint (NOT_CHECKPOINTED)."""
    if not 0 <= first <= second:
        raise EwalletError(
            ErrorCode.INVALID_INPUT, "sizes must satisfy 0 <= first <= second", field="first"
        )
    sealed = Checkpoint.objects.order_by("-height").values_list("size", flat=True).first()
    if sealed is None or second > sealed:
        raise EwalletError(
            ErrorCode.NOT_CHECKPOINTED,
            f"size {second} is beyond the latest checkpoint ({sealed or 0})",
            field="second",
        )

    def compute(get):
        return (
            merkle.root(first, get),
            merkle.root(second, get),
            merkle.consistency_proof(first, second, get),
        )

    first_root, second_root, proof = with_stored_nodes(compute)
    return {
        "first": first,
        "second": second,
        "first_root": _b64(first_root),
        "second_root": _b64(second_root),
        "proof": [_b64(node) for node in proof],
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
        "index", "transfer_id", "event_id", "leaf_bytes", "leaf_hash", "chain_hash"
    )
    for index, transfer_id, event_id, data, leaf_hash, chain_hash in leaves.iterator(
        chunk_size=5000
    ):
        record = {
            "type": "leaf",
            "index": index,
            "transfer": transfer_id,
            "event": event_id,
            "leaf": base64.b64encode(bytes(data)).decode(),
            "leaf_hash": bytes(leaf_hash).hex(),
            "chain_hash": bytes(chain_hash).hex(),
        }
        out.write(json.dumps(record) + "\n")
        lines += 1
    return lines


def _b64(value: bytes) -> str:
    return base64.b64encode(bytes(value)).decode()
