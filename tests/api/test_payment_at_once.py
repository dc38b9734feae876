"""A payment request in one statement (PostgreSQL): what it does, and that everything it
does not do falls to the claim path with the same answers as before."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from settlement import doorbell
from settlement.models import Transfer, TransferState
from tests.helpers import assert_every_fen_kept, balance, settle
from wallets.models import IdempotencyRecord

pytestmark = pytest.mark.postgres


def body(api, payer="alice", payee="shop", amount="1.00", **extra):
    return {"payer": api.number(payer), "payee": api.number(payee), "amount": amount, **extra}


def pay(client, data, key, query=""):
    return client.post(f"/api/v1/transfers{query}", data, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_well_formed_payment_is_one_statement_and_keeps_its_record(api, monkeypatch):
    alice = api.client("alice")
    pay(alice, body(api), "warm-up")  # tokens and roles are cached per process after this
    # Count the request's own statements: settlement waits (the doorbell would settle at once).
    monkeypatch.setattr(doorbell, "ring", lambda: None)
    with CaptureQueriesContext(connection) as queries:
        response = pay(alice, body(api, amount="2.50", memo="tea"), "once-1")
    assert response.status_code == 202
    assert len(queries.captured_queries) == 1, [q["sql"][:80] for q in queries]
    answer = response.json()
    transfer = Transfer.objects.get(idempotency_key__endswith=":once-1")
    assert (answer["id"], answer["kind"], answer["state"]) == (transfer.pk, "MERCHANT", "RECEIVED")
    assert (answer["amount_fen"], answer["memo"]) == (250, "tea")
    assert response["Location"] == f"/api/v1/transfers/{transfer.pk}"
    record = IdempotencyRecord.objects.get(key="once-1")
    assert (record.status_code, record.response_body) == (202, None)
    # It settles like any other payment.
    settle()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.SETTLED
    assert balance(api.wallets["shop"]) == 100 + 250


def test_its_replay_is_the_first_answer_byte_for_byte_after_settlement(api):
    alice = api.client("alice")
    first = pay(alice, body(api, memo="noodles"), "once-2")
    assert Transfer.objects.get(idempotency_key__endswith=":once-2").state == "SETTLED"
    again = pay(alice, body(api, memo="noodles"), "once-2")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert (again["Location"], again["Content-Type"]) == (first["Location"], first["Content-Type"])
    assert again["Idempotent-Replayed"] == "true"
    # A retry that asks to wait gets the same first answer, not a fresher one.
    waiting = pay(alice, body(api, memo="noodles"), "once-2", "?wait=500")
    assert (waiting.status_code, waiting.content) == (first.status_code, first.content)
    assert Transfer.objects.filter(idempotency_key__endswith=":once-2").count() == 1


def test_what_it_does_not_do_gets_the_same_answers_as_before(api):
    alice = api.client("alice")
    before = {name: balance(wallet) for name, wallet in api.wallets.items()}
    transfers = Transfer.objects.count()
    cases = [
        # someone else's wallet: not found, as if it did not exist
        (body(api, payer="bob"), "refused-1", 404, "NOT_FOUND"),
        # a payee that does not exist
        ({**body(api), "payee": "0" * 16}, "refused-2", 404, "NOT_FOUND"),
        # paying oneself
        (body(api, payee="alice"), "refused-3", 400, None),
    ]
    for data, key, status, code in cases:
        response = pay(alice, data, key)
        assert response.status_code == status, (key, response.json())
        assert response["Content-Type"] == "application/problem+json", key
        if code:
            assert response.json()["code"] == code, key
        replay = pay(alice, data, key)
        assert (replay.status_code, replay.content) == (response.status_code, response.content)
        assert replay["Idempotent-Replayed"] == "true", key
    assert Transfer.objects.count() == transfers
    assert {name: balance(wallet) for name, wallet in api.wallets.items()} == before


def test_a_key_first_used_elsewhere_is_a_conflict_and_moves_nothing(api, audit_key):
    staff = api.client("icbc_staff")
    loaded = staff.post(
        f"/api/v1/wallets/{api.number('alice')}/load",
        {"amount": "5.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared-key",
    )
    assert loaded.status_code in (201, 202)
    before = balance(api.wallets["alice"])
    # The same caller and key, now a payment by staff from the same wallet.
    response = pay(staff, body(api), "shared-key")
    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert balance(api.wallets["alice"]) == before
    # And the other way round: a payment's key reused for a load.
    pay(staff, body(api), "paid-key")
    reused = staff.post(
        f"/api/v1/wallets/{api.number('alice')}/load",
        {"amount": "5.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="paid-key",
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert_every_fen_kept()


def test_a_claim_in_flight_holds_off_the_one_statement_payment(api):
    alice = api.client("alice")
    pay(alice, body(api), "fingerprint")
    record = IdempotencyRecord.objects.get(key="fingerprint")
    # A first request with this key that claimed it and is still running:
    record.pk, record.key, record.status_code = None, "in-flight", None
    record.save()
    response = pay(alice, body(api), "in-flight")
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_IN_FLIGHT"
    assert not Transfer.objects.filter(idempotency_key__endswith=":in-flight").exists()


def _runs_of_the_prepared_payment() -> int:
    """How often this connection has run the one-statement payment as a prepared statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements"
            " WHERE NOT from_sql AND statement LIKE '%%INSERT INTO wallets_idempotencyrecord%%'"
        )
        return cursor.fetchone()[0]


def test_the_statement_is_prepared_once_and_then_only_run(api, settings, monkeypatch):
    monkeypatch.setattr(doorbell, "ring", lambda: None)
    alice = api.client("alice")
    before = _runs_of_the_prepared_payment()
    for n in range(3):
        assert pay(alice, body(api), f"prepared-{n}").status_code == 202
    assert _runs_of_the_prepared_payment() == before + 3
    # Off (behind a pooler in transaction mode): the same answer, nothing prepared.
    settings.EWALLET_DB_PREPARED_STATEMENTS = False
    assert pay(alice, body(api), "unprepared").status_code == 202
    assert _runs_of_the_prepared_payment() == before + 3
    assert Transfer.objects.filter(idempotency_key__contains=":prepared-").count() == 3


def test_the_statement_writes_no_index_another_one_covers(db):
    """Each index is one more write per payment: the idempotency record's lookups and its
    user's cascade are served by the unique (user_id, key), so user_id has no index alone."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, IdempotencyRecord._meta.db_table)
    indexed = sorted(tuple(c["columns"]) for c in found.values() if c["index"] or c["unique"])
    assert indexed == [("created_at",), ("id",), ("user_id", "key")]
