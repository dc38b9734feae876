"""Signed checkpoints, receipts, key rotation, and the tampering `audit verify` names."""

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from settlement.audit import keys, merkle
from settlement.audit.checkpoint import checkpoint_seal, note_hash
from settlement.audit.note import Checkpoint as CheckpointText
from settlement.audit.note import Verifier, open_note, parse_checkpoint, sign_note
from settlement.audit.offline import ReceiptInvalid, verify_receipt
from settlement.audit.proofs import leaf_receipt
from settlement.audit.verify import audit_verify
from settlement.models import AuditLeaf, Checkpoint, MerkleNode, SigningKey

# They tamper with the log on purpose, past its append-only triggers.
pytestmark = pytest.mark.usefixtures("audit_rewrites_allowed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def paid(world, audit_key):
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=3, operator="CCB")
    payments = [world.pay(alice, bob, amount) for amount in (10, 20, 30)]
    return world, alice, bob, payments


def test_nothing_to_seal_on_an_empty_log(db, audit_key):
    assert checkpoint_seal() is None
    assert audit_verify().ok


def test_seals_grow_and_chain_and_verify(paid):
    world, alice, bob, _ = paid
    first = checkpoint_seal()
    assert first.height == 0 and first.size == AuditLeaf.objects.count()
    assert checkpoint_seal() is None  # nothing new
    world.pay(alice, bob, 5)
    second = checkpoint_seal()
    assert (second.height, second.size) == (1, first.size + 1)

    body = parse_checkpoint(open_note(second.note, [audit_key_verifier()]).text)
    assert body.origin == keys.key_name()
    assert body.size == second.size and body.root_hash == bytes(second.root_hash)
    assert f"prev {base64.b64encode(note_hash(first.note)).decode()}" in body.extensions
    leaves = list(AuditLeaf.objects.order_by("index").values_list("leaf_bytes", flat=True))
    assert bytes(second.root_hash) == merkle.MemoryTree(bytes(b) for b in leaves).root()
    # Every perfect subtree is stored once: 2n - popcount(n) nodes.
    assert MerkleNode.objects.count() == 2 * second.size - bin(second.size).count("1")
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.checkpoints == 2


def audit_key_verifier() -> Verifier:
    return keys.signer()[0]


def test_a_receipt_verifies_standalone_and_any_flipped_byte_fails(paid, tmp_path):
    *_, payments = paid
    leaf = AuditLeaf.objects.get(transfer=payments[1])
    checkpoint_seal()
    issued = leaf_receipt(leaf_index=leaf.index)
    assert verify_receipt(issued)["transfer"] == payments[1].pk

    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(issued, indent=2))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}  # no Django settings at all
    command = [sys.executable, "-m", "settlement.audit.offline", "verify", str(path)]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("valid"), ok.stdout + ok.stderr

    data = path.read_bytes()
    for i in range(len(data)):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        with pytest.raises((ReceiptInvalid, ValueError)):
            verify_receipt(json.loads(tampered.decode("utf-8", errors="strict")))
    path.write_bytes(data.replace(b'"leaf_index": ', b'"leaf_index": 1'))
    bad = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout.startswith("invalid"), bad.stdout


def test_a_receipt_pinned_to_another_key_fails(paid):
    *_, payments = paid
    checkpoint_seal()
    issued = leaf_receipt(leaf_index=AuditLeaf.objects.get(transfer=payments[0]).index)
    stranger = Verifier.from_public(keys.key_name(), Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ReceiptInvalid, match="no verifiable signatures"):
        verify_receipt(issued, trusted_key=str(stranger))


def test_the_proof_command_seals_a_checkpoint_when_none_covers_the_transfer_yet(paid):
    world, alice, bob, payments = paid
    assert not Checkpoint.objects.exists()
    out = io.StringIO()
    call_command("audit", "proof", "--transfer", str(payments[1].pk), stdout=out)
    assert Checkpoint.objects.count() == 1
    issued = json.loads(out.getvalue())
    assert verify_receipt(issued)["transfer"] == payments[1].pk
    assert (
        out.getvalue() == json.dumps(leaf_receipt(leaf_index=issued["leaf_index"]), indent=2) + "\n"
    )
    # Covered already: no new seal, even with a newer leaf waiting.
    world.pay(alice, bob, 1)
    call_command("audit", "proof", "--leaf", str(issued["leaf_index"]), stdout=io.StringIO())
    assert Checkpoint.objects.count() == 1

    rejected = world.pay(bob, alice, 99_999)
    with pytest.raises(CommandError, match=f"INVALID_STATE: transfer {rejected.pk} is REJECTED"):
        call_command("audit", "proof", "--transfer", str(rejected.pk), stdout=io.StringIO())


def test_rotation_keeps_old_checkpoints_verifiable(paid):
    world, alice, bob, _ = paid
    checkpoint_seal()
    old = SigningKey.objects.get()
    call_command("audit", "keygen", "--rotate", stdout=io.StringIO())
    world.pay(alice, bob, 1)
    new = checkpoint_seal()
    assert new.key_hash != old.key_hash
    assert SigningKey.objects.get(pk=old.pk).retired_at is not None
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.checkpoints == 2


def test_keygen_refuses_to_replace_a_key_and_writes_mode_0600(db, audit_key):
    with pytest.raises(CommandError, match="--rotate"):
        call_command("audit", "keygen")
    assert keys.key_path().stat().st_mode & 0o777 == 0o600
    before = keys.key_path().read_bytes()
    call_command("audit", "keygen", "--if-missing", stdout=io.StringIO())
    assert keys.key_path().read_bytes() == before


# --- tampering ---------------------------------------------------------------------------


def test_a_replaced_checkpoint_root_is_named(paid):
    sealed = checkpoint_seal()
    Checkpoint.objects.filter(pk=sealed.pk).update(root_hash=bytes(32))
    report = audit_verify()
    assert report.mismatch.check == "checkpoints"
    assert "checkpoint 0" in report.mismatch.detail


def test_a_root_replaced_and_re_signed_with_the_real_key_is_named(paid):
    # An insider with the key can sign anything; the leaves still give the true head.
    sealed = checkpoint_seal()
    verifier, private = keys.signer()
    forged = CheckpointText(keys.key_name(), sealed.size, bytes(32), ("prev " + "A" * 43 + "=",))
    Checkpoint.objects.filter(pk=sealed.pk).update(
        root_hash=bytes(32), note=sign_note(forged.text(), verifier.name, private)
    )
    report = audit_verify()
    assert report.mismatch.check == "checkpoints"
    assert "head is not the Merkle head of the leaves" in report.mismatch.detail


def test_a_checkpoint_re_signed_with_another_key_is_named(paid):
    sealed = checkpoint_seal()
    other = Ed25519PrivateKey.generate()
    text = open_note(sealed.note, [audit_key_verifier()]).text
    other_verifier = Verifier.from_public(keys.key_name(), other.public_key())
    Checkpoint.objects.filter(pk=sealed.pk).update(
        note=sign_note(text, keys.key_name(), other), key_hash=other_verifier.hash.hex()
    )
    report = audit_verify()
    assert report.mismatch.check == "checkpoints"
    assert f"unknown key {other_verifier.hash.hex()}" in report.mismatch.detail


def test_a_log_truncated_below_its_checkpoint_is_named(paid):
    checkpoint_seal()
    last = AuditLeaf.objects.order_by("-index").first()
    last.delete()
    report = audit_verify()
    assert not report.ok  # the head row, the coverage or the checkpoint names it first
    assert report.mismatch.check in {"head", "coverage", "checkpoints"}


# --- incremental verification and export ---------------------------------------------------


@pytest.fixture
def three_checkpoints(paid):
    world, alice, bob, _ = paid
    sealed = [checkpoint_seal()]
    for amount in (1, 2):
        world.pay(alice, bob, amount)
        sealed.append(checkpoint_seal())
    world.pay(alice, bob, 3)  # one leaf beyond the last checkpoint
    return sealed


def test_verify_since_checks_only_what_follows_a_trusted_checkpoint(three_checkpoints):
    second = three_checkpoints[1]
    report = audit_verify(since=1)
    assert report.ok, report.mismatch
    assert report.checkpoints == 2
    assert report.leaves == AuditLeaf.objects.count()
    assert report.leaves_checked == report.leaves - second.size
    # What lies before the trusted checkpoint is not rechecked (the full run catches it)...
    AuditLeaf.objects.filter(index=0).update(chain_hash=bytes(32))
    assert audit_verify(since=1).ok
    assert audit_verify().mismatch.check == "chain"


def test_verify_since_refuses_stored_nodes_that_do_not_give_the_signed_head(three_checkpoints):
    size = three_checkpoints[1].size
    # The largest perfect subtree at the left edge of checkpoint 1's tree.
    MerkleNode.objects.filter(level=size.bit_length() - 1, index=0).update(hash=bytes(32))
    report = audit_verify(since=1)
    assert report.mismatch.check == "checkpoints"
    assert "stored Merkle nodes" in report.mismatch.detail


def test_an_export_rechecks_offline_and_a_flipped_leaf_byte_fails(three_checkpoints, tmp_path):
    from settlement.audit.offline import verify_export

    out = io.StringIO()
    call_command("audit", "export", stdout=out)
    lines = out.getvalue().splitlines()
    assert verify_export(lines) == (AuditLeaf.objects.count(), 3)
    pinned = str(keys.signer()[0])
    assert verify_export(lines, trusted_keys=[pinned]) == (AuditLeaf.objects.count(), 3)

    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "settlement.audit.offline", "verify-export", str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("valid"), done.stdout + done.stderr

    leaf_line = next(i for i, line in enumerate(lines) if '"type": "leaf"' in line)
    record = json.loads(lines[leaf_line])
    data = bytearray(base64.b64decode(record["leaf"]))
    data[10] ^= 1
    record["leaf"] = base64.b64encode(bytes(data)).decode()
    tampered = [*lines[:leaf_line], json.dumps(record), *lines[leaf_line + 1 :]]
    with pytest.raises(ReceiptInvalid, match="hash is not of its bytes"):
        verify_export(tampered)
    stranger = Verifier.from_public(keys.key_name(), Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ReceiptInvalid, match="no verifiable signatures"):
        verify_export(lines, trusted_keys=[str(stranger)])


def test_a_long_backlog_is_sealed_in_bounded_steps(paid, monkeypatch):
    from settlement.audit import checkpoint

    monkeypatch.setattr(checkpoint, "MAX_LEAVES_PER_SEAL", 4)
    call_command("audit", "checkpoint", stdout=io.StringIO())
    sizes = list(Checkpoint.objects.order_by("height").values_list("size", flat=True))
    total = AuditLeaf.objects.count()
    assert sizes == [*range(4, total, 4), total] if total % 4 else list(range(4, total + 1, 4))
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.checkpoints == len(sizes)


def test_verify_since_names_missing_nodes_or_leaves(three_checkpoints):
    size = three_checkpoints[1].size
    MerkleNode.objects.filter(level=size.bit_length() - 1, index=0).delete()
    assert "missing" in audit_verify(since=1).mismatch.detail
    assert audit_verify(since=99).mismatch.detail == "there is no checkpoint 99 to verify from"
