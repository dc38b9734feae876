"""Events in the audit log: something that moves no money (an identity disclosed, read)
kept as a leaf between transfers' leaves, chained, checkpointed, proved, exported, and
rebuilt from its row by `audit verify`, which names any edit of either."""

import base64
import io
import json

import pytest
from django.db import connection, transaction

from ewallet.errors import EwalletError
from settlement import services as ledger
from settlement.audit import leaf, offline
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.proofs import audit_export, leaf_receipt
from settlement.audit.verify import audit_verify
from settlement.models import AuditEvent, AuditHead, AuditLeaf

# They tamper with the log on purpose, past its append-only triggers.
pytestmark = pytest.mark.usefixtures("audit_rewrites_allowed")


def record(kind="identity_disclosure.read", **data) -> AuditEvent:
    with transaction.atomic():
        return ledger.audit_event_record(kind=kind, data=data)


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def logged(world, audit_key):
    """Two payments with an event between them: leaves transfer, event, transfer."""
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=3, operator="CCB")
    world.pay(alice, bob, 10)
    event = record(disclosure=7, holder="h_0123456789abcdef01234567", by="issuer", note="é ✓")
    world.pay(alice, bob, 20)
    return event


def test_an_event_is_a_leaf_between_transfers_and_verifies(logged):
    leaf_row = AuditLeaf.objects.get(event=logged)
    assert leaf_row.transfer_id is None
    before = AuditLeaf.objects.filter(index__lt=leaf_row.index)
    after = AuditLeaf.objects.filter(index__gt=leaf_row.index)
    assert before.filter(transfer__isnull=False).exists()
    assert after.filter(transfer__isnull=False).exists()
    entry = json.loads(bytes(leaf_row.leaf_bytes))
    assert entry == {
        "v": 1,
        "type": "event",
        "event": logged.pk,
        "kind": "identity_disclosure.read",
        "at": leaf.timestamp(logged.at),
        "data": {"disclosure": 7, "holder": "h_0123456789abcdef01234567", "by": "issuer",
                 "note": "é ✓"},
    }  # fmt: skip
    # RFC 8785 bytes exactly, as for transfers.
    assert bytes(leaf_row.leaf_bytes) == leaf.leaf_bytes_reference(entry)
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.events == 1
    assert report.leaves == AuditLeaf.objects.count() == AuditHead.objects.get().size


def test_a_checkpoint_covers_the_event_and_its_receipt_verifies_offline(logged):
    checkpoint_seal()
    index = AuditLeaf.objects.get(event=logged).index
    entry = offline.verify_receipt(leaf_receipt(leaf_index=index))
    assert (entry["type"], entry["event"]) == ("event", logged.pk)
    assert audit_verify().checkpoints == 1


def test_an_export_carries_the_event_leaf_and_rechecks_offline(logged):
    checkpoint_seal()
    out = io.StringIO()
    audit_export(out)
    lines = out.getvalue().splitlines()
    leaves = [json.loads(line) for line in lines if json.loads(line)["type"] == "leaf"]
    (event_leaf,) = [row for row in leaves if row["event"] is not None]
    assert event_leaf["event"] == logged.pk and event_leaf["transfer"] is None
    assert json.loads(base64.b64decode(event_leaf["leaf"]))["kind"] == logged.kind
    assert offline.verify_export(lines) == (len(leaves), 1)


def test_an_edited_event_row_is_named(logged):
    index = AuditLeaf.objects.get(event=logged).index
    AuditEvent.objects.filter(pk=logged.pk).update(data={**logged.data, "by": "someone else"})
    report = audit_verify()
    assert (report.mismatch.check, report.mismatch.index) == ("leaves", index)
    assert f"event {logged.pk}" in report.mismatch.detail


def test_event_leaf_bytes_edited_with_the_hash_recomputed_are_named(logged):
    row = AuditLeaf.objects.get(event=logged)
    forged = bytes(row.leaf_bytes).replace(b'"issuer"', b'"nobody"')
    AuditLeaf.objects.filter(pk=row.pk).update(leaf_bytes=forged, leaf_hash=leaf.leaf_hash(forged))
    report = audit_verify()
    assert (report.mismatch.check, report.mismatch.index) == ("leaves", row.index)


def test_an_event_whose_leaf_was_removed_is_named(logged):
    # The last leaf removed with the head rewound: the chain still holds, the event does not.
    last = record(kind="identity_disclosure.read", disclosure=8)
    row = AuditLeaf.objects.get(event=last)
    AuditLeaf.objects.filter(pk=row.pk).delete()
    previous = AuditLeaf.objects.get(index=row.index - 1)
    AuditHead.objects.update(size=row.index, chain_hash=bytes(previous.chain_hash))
    report = audit_verify()
    assert report.mismatch.check == "coverage"
    assert f"event {last.pk} has no leaf" in report.mismatch.detail


@pytest.mark.parametrize(
    "data",
    [
        {"amount": 1.5},  # a float
        {"n": 2**60},  # beyond what every JSON reader holds exactly
        {"text": "nul\x00"},  # jsonb keeps no NUL
        {"text": "\ud800"},  # a lone surrogate
        {"ключ": 1},  # keys are ASCII
    ],
)
def test_data_a_leaf_cannot_hold_is_refused_and_nothing_is_logged(db, data):
    with pytest.raises(EwalletError) as refused, transaction.atomic():
        ledger.audit_event_record(kind="x", data=data)
    assert refused.value.code == "INVALID_INPUT"
    assert not AuditEvent.objects.exists() and not AuditLeaf.objects.exists()


def test_an_event_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError):
        ledger.audit_event_record(kind="x", data={})


def test_a_rolled_back_action_logs_no_event(db):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        ledger.audit_event_record(kind="x", data={"n": 1})
        1 / 0  # noqa: B018 (the action fails after logging)
    assert not AuditEvent.objects.exists() and not AuditLeaf.objects.exists()
    assert audit_verify().ok


@pytest.mark.postgres
def test_postgresql_refuses_a_leaf_of_neither_or_both(logged):
    from django.db import IntegrityError

    row = AuditLeaf.objects.get(event=logged)
    transfer_leaf = AuditLeaf.objects.filter(transfer__isnull=False).first()
    for assignment, params in [
        ("event_id = NULL", []),
        ("transfer_id = %s", [transfer_leaf.transfer_id]),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            sql(
                f'UPDATE settlement_auditleaf SET {assignment} WHERE "index" = %s',
                [*params, row.index],
            )


@pytest.mark.postgres
def test_postgresql_still_refuses_a_leaf_of_a_missing_transfer_beside_an_event_leaf(logged):
    """The reference trigger skips the event leaf's null transfer and still finds the
    missing one in the same statement (SQLSTATE 23503)."""
    from django.db import IntegrityError

    event_leaf = AuditLeaf.objects.get(event=logged)
    transfer_leaf = AuditLeaf.objects.filter(transfer__isnull=False).order_by("-index").first()
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        sql(
            'UPDATE settlement_auditleaf SET transfer_id = CASE WHEN "index" = %s THEN NULL '
            'ELSE 999999999 END WHERE "index" IN (%s, %s)',
            [event_leaf.index, event_leaf.index, transfer_leaf.index],
        )
    assert refused.value.__cause__.sqlstate == "23503"
