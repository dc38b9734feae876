"""The audit log's read side: receipts and consistency proofs over sealed checkpoints only.

Alice pays Bob three times. Until a checkpoint is sealed, no receipt can be given (and
asking never seals one); once sealed, each receipt verifies offline.
"""

import base64
import io
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from ewallet.errors import ErrorCode, EwalletError
from settlement.audit import merkle, proofs
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.offline import verify_receipt
from settlement.models import AuditLeaf, Checkpoint, MerkleNode

RECEIPT_FIELDS = [
    "leaf",
    "leaf_index",
    "tree_size",
    "inclusion_proof",
    "checkpoint",
    "verifier_key",
]


@pytest.fixture
def paid(world, audit_key):
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=3, operator="CCB")
    payments = [world.pay(alice, bob, amount) for amount in (10, 20, 30)]
    return world, alice, bob, payments


def raises_code(code: ErrorCode):
    return pytest.raises(EwalletError, check=lambda error: error.code == code)


def sealed_rows() -> tuple[int, int]:
    return Checkpoint.objects.count(), MerkleNode.objects.count()


def test_a_settled_payment_has_no_receipt_until_a_checkpoint_covers_it(paid):
    *_, payments = paid
    before = sealed_rows()
    with raises_code(ErrorCode.NOT_CHECKPOINTED) as refused:
        proofs.transfer_receipt(transfer_id=payments[0].pk)
    assert refused.value.status == 409
    assert "not checkpointed yet" in refused.value.message
    assert sealed_rows() == before == (0, 0)  # asking sealed nothing

    sealed = checkpoint_seal()
    receipt = proofs.transfer_receipt(transfer_id=payments[0].pk)
    assert list(receipt) == RECEIPT_FIELDS
    assert receipt["tree_size"] == sealed.size and receipt["checkpoint"] == sealed.note
    assert verify_receipt(receipt, trusted_key=receipt["verifier_key"])["transfer"] == (
        payments[0].pk
    )
    index = AuditLeaf.objects.get(transfer=payments[0]).index
    assert proofs.leaf_receipt(leaf_index=index) == receipt


def test_a_payment_after_the_latest_checkpoint_waits_for_the_next(paid):
    world, alice, bob, _ = paid
    checkpoint_seal()
    later = world.pay(alice, bob, 1)
    before = sealed_rows()
    with raises_code(ErrorCode.NOT_CHECKPOINTED):
        proofs.transfer_receipt(transfer_id=later.pk)
    assert sealed_rows() == before
    checkpoint_seal()
    assert verify_receipt(proofs.transfer_receipt(transfer_id=later.pk))["transfer"] == later.pk


def test_a_rejected_payment_has_no_receipt_and_says_its_state(paid):
    world, alice, bob, _ = paid
    rejected = world.pay(bob, alice, 99_999)  # Bob has nowhere near that
    assert world.state(rejected)[0] == "REJECTED"
    checkpoint_seal()
    with raises_code(ErrorCode.INVALID_STATE) as refused:
        proofs.transfer_receipt(transfer_id=rejected.pk)
    assert refused.value.status == 409
    assert refused.value.message == f"transfer {rejected.pk} is REJECTED, not settled"


def test_no_such_transfer_or_leaf_is_not_found(paid):
    checkpoint_seal()
    with raises_code(ErrorCode.NOT_FOUND):
        proofs.transfer_receipt(transfer_id=10**12)
    with raises_code(ErrorCode.NOT_FOUND):
        proofs.leaf_receipt(leaf_index=AuditLeaf.objects.count())


def test_a_consistency_proof_links_two_checkpoints(paid):
    world, alice, bob, _ = paid
    first = checkpoint_seal().size
    world.pay(alice, bob, 5)
    second = checkpoint_seal().size
    proof = proofs.consistency_proof(first=first, second=second)
    assert list(proof) == ["first", "second", "first_root", "second_root", "proof"]
    decode = base64.b64decode
    leaves = AuditLeaf.objects.order_by("index").values_list("leaf_bytes", flat=True)
    tree = merkle.MemoryTree(bytes(leaf) for leaf in leaves)
    assert (proof["first"], proof["second"]) == (first, second)
    assert decode(proof["first_root"]) == tree.root(first)
    assert decode(proof["second_root"]) == tree.root(second)
    assert [decode(node) for node in proof["proof"]] == tree.consistency_proof(first, second)
    assert merkle.verify_consistency(
        first,
        second,
        decode(proof["first_root"]),
        decode(proof["second_root"]),
        [decode(node) for node in proof["proof"]],
    )


def test_a_consistency_proof_beyond_the_latest_checkpoint_is_not_checkpointed(paid):
    with raises_code(ErrorCode.NOT_CHECKPOINTED) as refused:
        proofs.consistency_proof(first=1, second=1)  # nothing sealed yet
    assert refused.value.message == "size 1 is beyond the latest checkpoint (0)"
    size = checkpoint_seal().size
    with raises_code(ErrorCode.NOT_CHECKPOINTED) as refused:
        proofs.consistency_proof(first=1, second=size + 1)
    assert refused.value.extra == {"field": "second"}
    with raises_code(ErrorCode.INVALID_INPUT):
        proofs.consistency_proof(first=size, second=size - 1)


@contextmanager
def read_only_transaction():
    """PostgreSQL refuses any write in here; rolled back on the way out."""
    savepoint = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION READ ONLY")
    try:
        yield
    finally:
        transaction.savepoint_rollback(savepoint)


@pytest.mark.postgres
def test_every_read_runs_in_a_read_only_transaction(paid):
    world, alice, bob, payments = paid
    size = checkpoint_seal().size
    later = world.pay(alice, bob, 1)  # settled, not checkpointed
    with read_only_transaction():
        assert verify_receipt(proofs.transfer_receipt(transfer_id=payments[2].pk))
        assert proofs.leaf_receipt(leaf_index=0)["tree_size"] == size
        assert proofs.consistency_proof(first=1, second=size)["second"] == size
        with raises_code(ErrorCode.NOT_CHECKPOINTED):
            proofs.transfer_receipt(transfer_id=later.pk)
        assert proofs.audit_export(io.StringIO()) > size
