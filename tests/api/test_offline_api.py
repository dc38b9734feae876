"""Hardware wallets over HTTP, as worked examples: ICBC registers Alice's card, she loads
500.00 into it from her phone, pays Bob's card 36.80 with no network, Bob's app syncs (and
again: nothing more), a cloned card is caught and its operator takes the case up. Exact
statuses and codes; balances to the fen."""

import random

import pytest
from django.db import connection
from django.utils import timezone

from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.selectors import money_totals
from tests.api.conftest import idem
from tests.helpers import balance, settle
from wallets import offline
from wallets.models import DoubleSpendAlert, OfflinePayment

NOW_MS = int(timezone.now().timestamp() * 1000)


@pytest.fixture(autouse=True)
def every_fen_kept(api, audit_key):
    yield
    settle()
    checkpoint_seal()
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing
    assert audit_verify().ok


def problem(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.status_code, response.json()["code"]


def register(api, who: str, owner: str, seed: int):
    """A card for `owner`'s wallet, registered by `who`: (its answer, its simulator)."""
    secret = offline.Device.new_key(random.Random(f"api-card:{seed}"))
    response = api.client(who).post(
        "/api/v1/offline-devices",
        {
            "wallet": api.number(owner),
            "public_key": offline.public_key_of(secret).hex(),
            "name": f"{owner}'s card",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    certificate = offline.Certificate.decode(bytes.fromhex(body["certificate"]))
    device = offline.Device(secret, certificate, bytes.fromhex(body["ca_public_key"]))
    return body, device


def as_json(signed: offline.SignedPayment) -> dict:
    payment = signed.payment
    return {
        "version": payment.version,
        "payer": payment.payer,
        "payee": payment.payee,
        "amount_fen": payment.amount,
        "counter": payment.counter,
        "prev_hash": payment.prev_hash.hex(),
        "time_ms": payment.time_ms,
        "signature": signed.signature.hex(),
    }


def sync(api, who: str, device_id: str, payments) -> dict:
    response = api.client(who).post(
        f"/api/v1/offline-devices/{device_id}/sync",
        {"payments": [as_json(p) for p in payments]},
        format="json",
    )
    assert response.status_code == 200, response.content
    settle()
    return response.json()


def load(api, who: str, device_id: str, amount: str):
    return api.client(who).post(
        f"/api/v1/offline-devices/{device_id}/load", {"amount": amount}, format="json", **idem()
    )


def test_register_load_pay_offline_and_sync_from_both_sides(api):
    card, alice = register(api, "icbc_staff", "alice", 1)
    assert card["wallet"] == api.number("alice") and card["state"] == "ACTIVE"
    assert (card["cap"], card["cap_fen"], card["device_id"]) == ("2000.00", 200_000, alice.id)
    bobs, bob = register(api, "bob", "bob", 2)  # Bob registers his own from his phone
    assert bobs["cap_fen"] == 50_000  # class 4: 500.00

    loaded = load(api, "alice", alice.id, "500.00")
    assert loaded.status_code == 202, loaded.content
    assert loaded.json()["kind"] == "OFFLINE_LOAD"
    settle()
    assert balance(api.wallets["alice"]) == 50_000  # 1,000.00 less 500.00
    shown = api.client("alice").get(f"/api/v1/offline-devices/{alice.id}").json()
    assert (shown["loaded_fen"], shown["available_fen"]) == (50_000, 50_000)
    alice.loaded = shown["loaded_fen"]

    offer = alice.pay(bob.id, 3_680, at_ms=NOW_MS)
    bob.receive(offer, now_s=NOW_MS // 1000)
    answer = sync(api, "bob", bob.id, bob.upload())
    (item,) = answer["results"]
    assert (item["result"], item["code"]) == ("ACCEPTED", None)
    assert item["payment"]["state"] == "SETTLED"
    assert (item["payment"]["amount"], item["payment"]["payee_wallet"]) == (
        "36.80",
        api.number("bob"),
    )
    assert item["hash"] == offer.signed.hash.hex() and answer["blocked"] == []
    assert balance(api.wallets["bob"]) == 10_000 + 3_680

    again = sync(api, "icbc_staff", alice.id, alice.upload())
    assert [i["result"] for i in again["results"]] == ["DUPLICATE"]
    assert again["device"]["available_fen"] == 50_000 - 3_680
    assert sync(api, "bob", bob.id, [offer.signed])["results"][0]["result"] == "DUPLICATE"
    assert balance(api.wallets["bob"]) == 13_680 and OfflinePayment.objects.count() == 1

    listed = api.client("alice").get(f"/api/v1/offline-devices/{alice.id}/payments").json()
    assert [p["hash"] for p in listed["results"]] == [offer.signed.hash.hex()]
    transfers = api.client("alice").get("/api/v1/transfers?kind=OFFLINE_PAYMENT").json()
    assert [t["amount"] for t in transfers["results"]] == ["36.80"]  # her card's reserve


def test_every_refusal_has_its_status_and_code(api):
    _, alice = register(api, "alice", "alice", 3)
    _, bob = register(api, "bob", "bob", 4)
    secret = offline.Device.new_key(random.Random("api-card:3"))
    body = {"wallet": api.number("alice"), "public_key": offline.public_key_of(secret).hex()}
    assert problem(api.client("alice").post("/api/v1/offline-devices", body, format="json")) == (
        409,
        "CONFLICT",
    )
    body["public_key"] = "00" * 31
    response = api.client("alice").post("/api/v1/offline-devices", body, format="json")
    assert problem(response) == (400, "INVALID_INPUT")
    body["public_key"] = "zz" * 32
    response = api.client("alice").post("/api/v1/offline-devices", body, format="json")
    assert problem(response) == (400, "INVALID_INPUT")
    assert response.json()["errors"][0]["pointer"] == "/public_key"

    assert problem(load(api, "alice", alice.id, "2000.01")) == (409, "OFFLINE_CAP_EXCEEDED")
    over = load(api, "alice", alice.id, "2000.01").json()
    assert over["available_fen"] == 200_000
    assert problem(load(api, "alice", alice.id, "0.001")) == (400, "INVALID_AMOUNT")
    assert problem(load(api, "bob", alice.id, "1.00")) == (404, "NOT_FOUND")
    assert problem(load(api, "auditor", alice.id, "1.00")) == (403, "PERMISSION_DENIED")
    response = api.client("alice").post(
        f"/api/v1/offline-devices/{alice.id}/load", {"amount": "1.00"}, format="json"
    )
    assert problem(response) == (400, "IDEMPOTENCY_KEY_MISSING")

    assert load(api, "alice", alice.id, "100.00").status_code == 202
    settle()
    alice.loaded = 10_000
    signed = alice.pay(bob.id, 500, at_ms=NOW_MS).signed
    altered = dict(as_json(signed), amount_fen=5_000)
    stranger = dict(as_json(signed), payee="ab" * 16)
    response = api.client("bob").post(
        f"/api/v1/offline-devices/{bob.id}/sync",
        {"payments": [altered, stranger, as_json(signed)]},
        format="json",
    )
    assert response.status_code == 200
    results = [(r["result"], r["code"]) for r in response.json()["results"]]
    assert results == [
        ("REFUSED", "OFFLINE_SIGNATURE_INVALID"),
        ("REFUSED", "OFFLINE_NOT_A_PARTY"),
        ("ACCEPTED", None),
    ]
    response = api.client("alice").post(
        f"/api/v1/offline-devices/{alice.id}/sync", {"payments": [stranger]}, format="json"
    )
    assert response.json()["results"][0]["code"] == "OFFLINE_DEVICE_UNKNOWN"
    # Malformed input is refused whole, with a pointer.
    response = api.client("bob").post(
        f"/api/v1/offline-devices/{bob.id}/sync",
        {"payments": [dict(as_json(signed), counter=0)]},
        format="json",
    )
    assert problem(response) == (400, "INVALID_INPUT")
    assert response.json()["errors"][0]["pointer"] == "/payments/0/counter"
    response = api.client("bob").post(
        f"/api/v1/offline-devices/{bob.id}/sync",
        {"payments": [dict(as_json(signed), extra=1)]},
        format="json",
    )
    assert problem(response) == (400, "UNKNOWN_FIELD")
    assert balance(api.wallets["bob"]) == 10_500


def test_a_cloned_card_is_blocked_its_operator_alerted_and_the_loss_bounded(api):
    """Alice's card holds 300.00; a clone of it spends the same 300.00 at the tea shop
    (counter 1 both times). Bob syncs first and is paid; the shop is paid nothing of it."""
    _, alice = register(api, "icbc_staff", "alice", 5)
    _, bob = register(api, "bob", "bob", 6)
    _, shop = register(api, "ccb_staff", "shop", 7)  # the merchant's counter terminal
    assert load(api, "icbc_staff", alice.id, "300.00").status_code == 202
    settle()
    alice.loaded = 30_000
    clone = alice.clone()
    bob.receive(alice.pay(bob.id, 30_000, at_ms=NOW_MS), now_s=NOW_MS // 1000)
    shop.receive(clone.pay(shop.id, 30_000, at_ms=NOW_MS), now_s=NOW_MS // 1000)
    first = sync(api, "bob", bob.id, bob.upload())
    assert first["results"][0]["payment"]["state"] == "SETTLED"
    second = sync(api, "ccb_staff", shop.id, shop.upload())
    paid = second["results"][0]["payment"]
    assert (paid["state"], paid["allocated_fen"], paid["shortfall_fen"]) == ("SHORT", 0, 30_000)
    assert second["blocked"] == [alice.id]
    assert balance(api.wallets["bob"]) == 10_000 + 30_000
    assert balance(api.wallets["shop"]) == 0

    alerts = api.client("icbc_staff").get("/api/v1/double-spend-alerts").json()["results"]
    assert sorted((a["shape"], a["key"]) for a in alerts) == [
        ("COUNTER_REUSED", "1"),
        ("OVER_RESERVE", ""),
    ]
    assert all(a["device_state"] == "BLOCKED" for a in alerts)
    assert api.client("ccb_staff").get("/api/v1/double-spend-alerts").json()["results"] == []
    assert api.client("alice").get("/api/v1/double-spend-alerts").json()["results"] == []
    alert = alerts[0]["id"]
    response = api.client("auditor").post(
        f"/api/v1/double-spend-alerts/{alert}/acknowledge", {"note": "x"}, format="json"
    )
    assert problem(response) == (403, "PERMISSION_DENIED")
    response = api.client("icbc_staff").post(
        f"/api/v1/double-spend-alerts/{alert}/acknowledge",
        {"note": "card recalled; case 2020-118"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["note"] == "card recalled; case 2020-118"
    assert DoubleSpendAlert.objects.get(pk=alert).acknowledged_by.username == "staff"

    assert problem(load(api, "icbc_staff", alice.id, "1.00")) == (409, "DEVICE_BLOCKED")
    assert api.client("bob").get("/api/v1/offline-blocklist").json() == {"blocked": [alice.id]}
    shown = api.client("auditor").get(f"/api/v1/offline-devices/{alice.id}").json()
    assert (shown["state"], shown["claimed_fen"], shown["allocated_fen"]) == (
        "BLOCKED",
        60_000,
        30_000,
    )
    assert shown["shortfall_fen"] == 30_000 and shown["available_fen"] == 0


@pytest.mark.postgres
def test_two_syncs_racing_with_the_same_payments_settle_them_once(api):
    """On PostgreSQL, Bob's app and Alice's terminal upload the same ten payments at the
    same moment, twice over: each is stored and paid once."""
    import threading

    _, alice = register(api, "icbc_staff", "alice", 8)
    _, bob = register(api, "ccb_staff", "bob", 9)
    assert load(api, "icbc_staff", alice.id, "100.00").status_code == 202
    settle()
    alice.loaded = 10_000
    payments = [alice.pay(bob.id, 1_000, at_ms=NOW_MS + i).signed for i in range(10)]
    barrier = threading.Barrier(4)
    answers = []

    def upload(who, device_id):
        try:
            barrier.wait()
            response = api.client(who).post(
                f"/api/v1/offline-devices/{device_id}/sync",
                {"payments": [as_json(p) for p in payments]},
                format="json",
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=upload, args=args)
        for args in [("bob", bob.id), ("icbc_staff", alice.id)] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settle()
    assert answers == [200] * 4
    assert OfflinePayment.objects.count() == 10
    assert balance(api.wallets["bob"]) == 10_000 + 10_000
    assert not DoubleSpendAlert.objects.exists()
