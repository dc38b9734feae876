"""The tamper campaign finds and names every mutation, and the holes an outside auditor
found stay closed: stored Merkle nodes, key ids, checkpoint times, pinned keys, the signer's
registered key, and the append-only audit tables."""

import base64
import io

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from settlement.audit import keys
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.note import Verifier, public_bytes
from settlement.audit.offline import ReceiptInvalid, verify_receipt
from settlement.audit.proofs import leaf_receipt
from settlement.audit.tamper import MUTATIONS, tamper_campaign
from settlement.audit.verify import audit_verify
from settlement.exceptions import AuditKeyUnregistered
from settlement.models import AuditLeaf, Checkpoint, MerkleNode, Posting, SigningKey

pytestmark = pytest.mark.postgres


@pytest.fixture
def sealed_log(world, audit_key):
    """Eleven leaves under three checkpoints (sizes 9, 10, 11) and one beyond."""
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=3, operator="CCB")
    for amount in (10, 20, 30):
        world.pay(alice, bob, amount)
    checkpoints = [checkpoint_seal()]
    for amount in (1, 2):
        world.pay(alice, bob, amount)
        checkpoints.append(checkpoint_seal())
    world.pay(alice, bob, 3)
    assert audit_verify().ok
    return checkpoints


def test_a_seeded_campaign_detects_and_names_every_mutation(sealed_log):
    leaves, postings = AuditLeaf.objects.count(), Posting.objects.count()
    report = tamper_campaign(mutations=100, seed=7)
    assert report.total("mutations") == 100
    assert report.total("missed") == 0, {k: t.missed_examples for k, t in report.kinds.items()}
    assert report.total("detected") >= 80  # few are refused by a constraint or are no-ops
    for kind, tally in report.kinds.items():
        assert tally.outside == 0, kind  # the fixture's legs all belong to logged transfers
        assert tally.detected + tally.refused + tally.unchanged == tally.mutations, kind
        assert all(name for name in tally.named_by), kind
    # Every mutation was rolled back: the log is as it was.
    assert (AuditLeaf.objects.count(), Posting.objects.count()) == (leaves, postings)
    assert audit_verify().ok


def test_every_kind_of_mutation_is_detected_once(sealed_log):
    """Each kind at least once, whatever the seed drew (the campaign draws at random)."""
    import random

    from settlement.audit import tamper

    with transaction.atomic():
        connection.cursor().execute("SELECT set_config('ewallet.audit_rewrite', 'on', true)")
        for kind in sorted(MUTATIONS):
            outcome, finding, what = tamper._one(kind, random.Random(kind))
            assert outcome in ("detected", "refused", "unchanged"), (kind, what)
            assert outcome != "detected" or finding, kind
        transaction.set_rollback(True)


def test_the_command_prints_per_kind_counts(sealed_log):
    out = io.StringIO()
    call_command("audit", "tamper", "--mutations", "40", "--seed", "3", stdout=out)
    text = out.getvalue()
    assert "kind" in text and "missed" in text and "named by" in text
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1] == "40" and total.split()[-1] == "0"


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_a_corrupted_stored_node_off_every_head_is_named(sealed_log):
    # Node 0/1 (leaf 1's hash) is folded into no checkpoint's head or consistency proof,
    # only into receipts: leaf 0's receipt has it as the first step.
    receipt = leaf_receipt(leaf_index=0)
    MerkleNode.objects.filter(level=0, index=1).update(hash=bytes(32))
    with pytest.raises(ReceiptInvalid):
        verify_receipt(leaf_receipt(leaf_index=0))
    verify_receipt(receipt)  # the one built before still holds
    report = audit_verify()
    assert report.mismatch.check == "merkle nodes"
    assert "stored node 0/1 is not the hash of leaves [1, 2)" in report.mismatch.detail


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_a_stray_node_beyond_the_last_checkpoint_is_named(sealed_log):
    last = Checkpoint.objects.order_by("-height").first()
    MerkleNode.objects.create(level=0, index=last.size, hash=bytes(32))
    report = audit_verify()
    assert report.mismatch.check == "merkle nodes"
    assert "beyond the last checkpoint" in report.mismatch.detail


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_a_stored_key_id_not_derived_from_its_key_is_named(sealed_log, settings, tmp_path):
    """A forger keeps the key's id but puts in a public key of their own and re-signs every
    checkpoint with the stored id in the signature line: only deriving the id finds it,
    even with nothing pinned."""
    settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE = tmp_path / "none.txt"
    row = SigningKey.objects.get()
    forger = Ed25519PrivateKey.generate()
    fake = Verifier(row.name, bytes.fromhex(row.key_hash), forger.public_key())
    for checkpoint in Checkpoint.objects.all():
        text = checkpoint.note.split("\n\n", 1)[0] + "\n"
        signature = forger.sign(text.encode())
        line = base64.b64encode(fake.hash + signature).decode()
        Checkpoint.objects.filter(pk=checkpoint.pk).update(
            note=f"{text}\n\u2014 {row.name} {line}\n"
        )
    SigningKey.objects.filter(pk=row.pk).update(public_key=public_bytes(forger.public_key()))
    report = audit_verify()
    assert report.mismatch.check == "keys"
    assert "its id is not derived from its name and key" in report.mismatch.detail


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_a_checkpoint_row_time_other_than_its_signed_time_is_named(sealed_log):
    last = sealed_log[-1]
    from datetime import timedelta

    Checkpoint.objects.filter(pk=last.pk).update(created_at=last.created_at + timedelta(days=1))
    report = audit_verify()
    assert report.mismatch.check == "checkpoints"
    assert "is not its signed time" in report.mismatch.detail


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_checkpoints_sealed_before_the_time_check_are_stored_as_signed(sealed_log):
    """Seals before migration 0016 stored microseconds their notes leave out: the migration
    cuts them to the signed millisecond, so an honest old log still verifies."""
    from datetime import timedelta
    from importlib import import_module

    from django.apps import apps

    migration = import_module("settlement.migrations.0016_audit_append_only")
    for checkpoint in Checkpoint.objects.all():
        Checkpoint.objects.filter(pk=checkpoint.pk).update(
            created_at=checkpoint.created_at + timedelta(microseconds=417)
        )
    assert audit_verify().mismatch.check == "checkpoints"
    migration.checkpoint_times_as_signed(apps, None)
    assert audit_verify().ok


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_verify_trusts_pinned_keys_and_names_a_stored_key_that_is_not(sealed_log, settings):
    assert audit_verify().warnings == []
    stranger = Verifier.from_public(keys.key_name(), Ed25519PrivateKey.generate().public_key())
    SigningKey.objects.create(
        key_hash=stranger.hash.hex(), name=stranger.name, public_key=public_bytes(stranger.key)
    )
    report = audit_verify()
    assert report.mismatch.check == "keys"
    assert f"signing key {stranger.hash.hex()}" in report.mismatch.detail
    assert "is stored but not pinned" in report.mismatch.detail
    # With nothing pinned the same database passes the key checks, and says what it trusted.
    settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE = settings.EWALLET_AUDIT_KEY_FILE.with_suffix(".no")
    SigningKey.objects.filter(pk=stranger.hash.hex()).delete()
    unpinned = audit_verify()
    assert any("no verifier key is pinned" in w for w in unpinned.warnings)


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_a_log_re_signed_with_a_substituted_key_fails_only_against_pinned_keys(
    sealed_log, settings
):
    import random

    from settlement.audit import tamper

    tamper.key_substituted(random.Random(1))
    assert audit_verify().mismatch.check == "keys"
    settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE = settings.EWALLET_AUDIT_KEY_FILE.with_suffix(".no")
    assert audit_verify().ok  # what a database-only verifier would conclude


@pytest.mark.usefixtures("audit_rewrites_allowed")
def test_the_signer_refuses_a_key_keygen_did_not_register(sealed_log, world):
    SigningKey.objects.all().delete()
    alice = world.wallet("Carol", klass=2, load=100)
    world.pay(alice, world.wallet("Dan", klass=3), 5)
    with pytest.raises(AuditKeyUnregistered, match="is not registered"):
        checkpoint_seal()
    call_command("audit", "keygen", "--if-missing", stdout=io.StringIO())
    assert checkpoint_seal() is not None
    SigningKey.objects.update(retired_at=SigningKey.objects.get().created_at)
    with pytest.raises(AuditKeyUnregistered, match="was retired"):
        keys.signer()


def test_keygen_if_missing_will_not_register_a_second_current_key(sealed_log, settings, tmp_path):
    settings.EWALLET_AUDIT_KEY_FILE = tmp_path / "other.pem"
    settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE = tmp_path / "trusted.txt"
    from cryptography.hazmat.primitives import serialization

    other = Ed25519PrivateKey.generate()
    (tmp_path / "other.pem").write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(AuditKeyUnregistered, match="use --rotate"):
        keys.signing_key_ensure()


@pytest.mark.parametrize(
    "statement",
    [
        'UPDATE settlement_auditleaf SET chain_hash = chain_hash WHERE "index" = 0',
        'DELETE FROM settlement_auditleaf WHERE "index" = 0',
        "UPDATE settlement_checkpoint SET created_at = created_at WHERE height = 0",
        "DELETE FROM settlement_checkpoint WHERE height = 0",
        "UPDATE settlement_merklenode SET hash = hash",
        "DELETE FROM settlement_merklenode",
        "UPDATE settlement_signingkey SET name = name",
        "DELETE FROM settlement_signingkey",
    ],
)
def test_audit_tables_are_append_only(sealed_log, statement):
    table = statement.split()[1] if statement.startswith("UPDATE") else statement.split()[2]
    refused = pytest.raises(IntegrityError, match=f"{table} is append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


def test_rotation_and_flush_still_pass_the_append_only_triggers(sealed_log):
    old = SigningKey.objects.get()
    call_command("audit", "keygen", "--rotate", stdout=io.StringIO())
    old.refresh_from_db()
    assert old.retired_at is not None  # retiring a key is the one update allowed
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        SigningKey.objects.filter(pk=old.pk).update(retired_at=None)
    connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE wants none pending
    call_command("flush", interactive=False, verbosity=0)  # TRUNCATE: no row trigger
    assert not AuditLeaf.objects.exists() and not Checkpoint.objects.exists()
