"""A batch overlaps its Python with PostgreSQL's work: postings stream while transfers are
decided, and leaves are encoded in a thread while the balances and states are written.
What the batch writes is the same as writing each part after the last."""

import io
import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from settlement.audit import leaf
from settlement.audit.log import ENCODE_AHEAD_MIN, LeafSpec, audit_encode_ahead
from settlement.audit.verify import audit_verify
from settlement.models import Account, AccountKind, Asset, AuditLeaf, Posting, Transfer
from settlement.sql import rows_inserted

POSTINGS = (Posting._meta.db_table, ["transfer_id", "account_id", "asset", "amount"])
DECIDED_AT = datetime(2026, 12, 4, 15, 0, 0, 123456, tzinfo=UTC)


def specs(count: int) -> list[LeafSpec]:
    created = datetime(2026, 12, 4, 14, 59, tzinfo=UTC)
    return [
        LeafSpec(1_000 + i, "P2P", created, [("ECNY", 7, 8 + i, 100 + i)]) for i in range(count)
    ]


@pytest.mark.parametrize("count", [3, ENCODE_AHEAD_MIN, 2 * ENCODE_AHEAD_MIN])
def test_leaves_encoded_ahead_are_the_leaves_encoded_in_place(count):
    expected = [
        (data, leaf.leaf_hash(data))
        for data in leaf.transfer_leaves_bytes(specs(count), decided_at=DECIDED_AT)
    ]
    assert audit_encode_ahead(specs(count), decided_at=DECIDED_AT).result() == expected


def test_a_large_batch_encodes_its_leaves_in_another_thread(monkeypatch):
    threads = []
    real = leaf.transfer_leaves_hashed

    def noting_thread(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(leaf, "transfer_leaves_hashed", noting_thread)
    audit_encode_ahead(specs(ENCODE_AHEAD_MIN - 1), decided_at=DECIDED_AT).result()
    audit_encode_ahead(specs(ENCODE_AHEAD_MIN), decided_at=DECIDED_AT).result()
    small, large = threads
    assert small is threading.current_thread()
    assert large is not threading.current_thread()


def test_an_encoding_error_reaches_the_batch(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("not encodable")

    monkeypatch.setattr(leaf, "transfer_leaves_hashed", broken)
    with pytest.raises(ValueError, match="not encodable"):
        audit_encode_ahead(specs(ENCODE_AHEAD_MIN), decided_at=DECIDED_AT).result()


@pytest.fixture
def pair(db):
    return Account.objects.bulk_create(
        Account(label=f"overlap:{i}", kind=AccountKind.WALLET, asset=Asset.ECNY) for i in range(2)
    )


def test_rows_written_one_at_a_time_are_in_the_table_when_the_block_ends(pair):
    payer, payee = pair
    transfer = Transfer.objects.create(kind="P2P", state="RECEIVED", idempotency_key="overlap-1")
    with transaction.atomic():
        with rows_inserted(*POSTINGS) as write:
            write((transfer.pk, payer.pk, "ECNY", -250))
            write((transfer.pk, payee.pk, "ECNY", 250))
        assert sorted(Posting.objects.values_list("account_id", "amount")) == sorted(
            [(payer.pk, -250), (payee.pk, 250)]
        )


def test_no_row_written_runs_no_statement(db):
    with CaptureQueriesContext(connection) as queries, rows_inserted(*POSTINGS):
        pass
    assert len(queries) == 0


def test_an_error_while_rows_are_made_inserts_none_of_them(pair):
    payer, _ = pair
    transfer = Transfer.objects.create(kind="P2P", state="RECEIVED", idempotency_key="overlap-2")
    with (
        pytest.raises(RuntimeError, match="while deciding"),
        transaction.atomic(),
        rows_inserted(*POSTINGS) as write,
    ):
        write((transfer.pk, payer.pk, "ECNY", -250))
        raise RuntimeError("while deciding")
    assert not Posting.objects.exists()


def test_batches_past_the_thread_threshold_settle_and_verify(db):
    # 1,200 payments in batches of 1,000: a batch encoding in a thread, then one in place.
    out = io.StringIO()
    call_command(
        "bench",
        "settlement",
        "--transfers",
        "1200",
        "--accounts",
        "40",
        "--batch-size",
        "1000",
        stdout=out,
    )
    assert "settled 1200 transfers" in out.getvalue()
    payments = Transfer.objects.filter(kind="P2P")
    assert not payments.filter(state="RECEIVED").exists()
    settled = payments.filter(state="SETTLED").count()
    assert AuditLeaf.objects.filter(transfer__kind="P2P").count() == settled
    assert Posting.objects.filter(transfer__kind="P2P").count() == 2 * settled
    report = audit_verify()  # every leaf, hash and chain link rebuilt from the ledger
    assert report.ok, report.mismatch
