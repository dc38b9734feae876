"""Idempotency-Key: required, replayed, conflicting, in flight, scoped to the caller."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from settlement.models import Transfer
from tests.helpers import balance
from wallets.models import IdempotencyRecord


def body(api, amount="1.00"):
    return {"payer": api.number("alice"), "payee": api.number("shop"), "amount": amount}


def post(client, data, key, path="/api/v1/transfers"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, data, format="json", **headers)


def test_a_money_moving_post_without_a_key_is_a_400(api):
    money_moving = [
        ("alice", "/api/v1/transfers", body(api)),
        ("icbc_staff", "/api/v1/transfers/batch", {"transfers": []}),
        ("icbc_staff", f"/api/v1/wallets/{api.number('alice')}/load", {"amount": "1.00"}),
        ("icbc_staff", f"/api/v1/wallets/{api.number('alice')}/unload", {"amount": "1.00"}),
        ("issuer", "/api/v1/issuances", {"operator": "ICBC", "direction": "ISSUE", "amount": "1"}),
    ]
    for who, path, data in money_moving:
        response = post(api.client(who), data, None, path)
        assert response.status_code == 400, path
        assert response.json()["code"] == "IDEMPOTENCY_KEY_MISSING", path
    assert Transfer.objects.filter(idempotency_key__startswith="api:").count() == 0


def test_the_same_key_and_body_replay_the_first_response(api):
    alice = api.client("alice")
    first = post(alice, body(api), "pay-1")
    again = post(alice, {**body(api)}, "pay-1")  # same JSON, keys in another order
    assert first.status_code in (201, 202)
    assert again.status_code == first.status_code
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Transfer.objects.filter(idempotency_key__endswith=":pay-1").count() == 1
    assert balance(api.wallets["shop"]) == 100  # paid once


def test_a_replay_is_the_first_answer_byte_for_byte(api):
    alice = api.client("alice")
    for key, data in (("bytes-1", body(api)), ("bytes-2", body(api, "0.001"))):
        first = post(alice, data, key)
        again = post(alice, data, key)
        assert (again.status_code, again.content) == (first.status_code, first.content), key
        assert again["Content-Type"] == first["Content-Type"], key
    # A record completed before bodies were kept as text still replays the same JSON.
    first = post(alice, body(api), "bytes-1")
    IdempotencyRecord.objects.filter(key="bytes-1").update(response_body=first.json())
    old = post(alice, body(api), "bytes-1")
    assert (old.status_code, old.json()) == (first.status_code, first.json())
    assert old["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_a_422_and_changes_nothing(api):
    alice = api.client("alice")
    post(alice, body(api, "1.00"), "pay-2")
    before = balance(api.wallets["alice"])
    response = post(alice, body(api, "2.00"), "pay-2")
    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert balance(api.wallets["alice"]) == before


def test_a_request_whose_first_is_still_running_is_a_409_with_retry_after(api):
    alice = api.client("alice")
    first = post(alice, body(api), "pay-3")  # to learn the fingerprint the request makes
    record = IdempotencyRecord.objects.get(key="pay-3")
    # As if a first request with this key had claimed it and were still running:
    record.key, record.status_code, record.created_at = "pay-4", None, timezone.now()
    record.pk = None
    record.save()
    in_flight = post(alice, body(api), "pay-4")
    assert in_flight.status_code == 409
    assert in_flight.json()["code"] == "IDEMPOTENCY_IN_FLIGHT"
    assert int(in_flight["Retry-After"]) >= 1
    assert first.status_code in (201, 202)


def test_a_claim_abandoned_by_a_dead_process_is_taken_over(api, settings):
    alice = api.client("alice")
    post(alice, body(api), "pay-5")
    record = IdempotencyRecord.objects.get(key="pay-5")
    record.pk, record.key, record.status_code = None, "pay-6", None
    record.created_at = timezone.now() - timedelta(
        seconds=settings.EWALLET_IDEMPOTENCY_CLAIM_SECONDS + 1
    )
    record.save()
    response = post(alice, body(api), "pay-6")
    assert response.status_code in (201, 202)
    assert IdempotencyRecord.objects.get(key="pay-6").status_code == response.status_code


def test_keys_are_scoped_to_the_caller(api):
    """Two callers using the same key make two operations, not a conflict or a replay."""
    mine = post(api.client("alice"), body(api), "shared")
    theirs = post(
        api.client("bob"),
        {"payer": api.number("bob"), "payee": api.number("shop"), "amount": "1.00"},
        "shared",
    )
    assert mine.status_code in (201, 202) and theirs.status_code in (201, 202)
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs


def test_a_rejected_request_is_replayed_as_rejected(api):
    alice = api.client("alice")
    bad = post(alice, body(api, "1.001"), "pay-7")
    again = post(alice, body(api, "1.001"), "pay-7")
    assert bad.status_code == again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/problem+json"


@pytest.mark.postgres
def test_twenty_concurrent_identical_requests_make_exactly_one_transfer(api):
    barrier = threading.Barrier(20)
    responses = []
    lock = threading.Lock()

    def send():
        client = api.client("alice")
        barrier.wait()
        try:
            response = post(client, body(api, "3.00"), "burst")
            with lock:
                responses.append(response)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    transfers = Transfer.objects.filter(idempotency_key__endswith=":burst")
    assert transfers.count() == 1
    transfer_id = transfers.get().pk
    assert len(responses) == 20
    outcomes = {(r.status_code, r.json().get("id"), r.json().get("code")) for r in responses}
    for status, returned_id, code in outcomes:
        if status == 409:
            assert code == "IDEMPOTENCY_IN_FLIGHT"
        else:
            assert (status in (201, 202), returned_id) == (True, transfer_id)
    assert balance(api.wallets["shop"]) == 300  # paid exactly once
    fresh = [r for r in responses if r.status_code != 409 and "Idempotent-Replayed" not in r]
    assert len(fresh) == 1


def test_batches_are_idempotent_per_request_and_per_item(api):
    staff = api.client("icbc_staff")
    item = {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "1.00"}
    batch = {"transfers": [{**item, "idempotency_key": "a"}, {**item, "idempotency_key": "b"}]}
    first = post(staff, batch, "batch-1", "/api/v1/transfers/batch")
    assert first.status_code == 202
    assert [r["status"] for r in first.json()["results"]] == [202, 202]
    # The same items in a new request: each is found under its own key, nothing is paid twice.
    overlap = {"transfers": [{**item, "idempotency_key": "b"}, {**item, "idempotency_key": "c"}]}
    second = post(staff, overlap, "batch-2", "/api/v1/transfers/batch")
    results = second.json()["results"]
    assert [r["status"] for r in results] == [200, 202]
    assert results[0]["id"] == first.json()["results"][1]["id"]
    # An item key reused for a different payment is refused alone.
    changed = {"transfers": [{**item, "amount": "9.00", "idempotency_key": "a"}]}
    third = post(staff, changed, "batch-3", "/api/v1/transfers/batch").json()["results"][0]
    assert (third["status"], third["problem"]["code"]) == (422, "IDEMPOTENCY_CONFLICT")
    assert balance(api.wallets["shop"]) == 300
