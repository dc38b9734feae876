"""Merchant acquiring over HTTP, as worked examples: ICBC registers the Luohu Fresh Market
and enrols its till; the till asks for 36.80 and shows the QR code; Carol pays it from her
phone; the till refunds part. Balances to the fen; every refusal moves nothing."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from settlement.models import Transfer
from tests.api.conftest import idem
from tests.helpers import MerchantAt, balance
from wallets import qr, services
from wallets.models import Merchant, MerchantPayment, PaymentRequest, Refund

MERCHANT = {
    "name": "Luohu Fresh Market",
    "mcc": "5411",
    "region": "440303",
    "licence_number": "91440300MA5G000001",
    "bank_account": "6222000011113333",
}


def as_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def post(client: APIClient, path: str, body=None, key: str | None = None, **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, body, format="json", **headers)


def problem(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.status_code, response.json()["code"]


@pytest.fixture
def shop(api) -> MerchantAt:
    """A merchant acquired by ICBC, and its till's login."""
    return api.world.merchant("Luohu Fresh Market")


@pytest.fixture
def till(shop) -> APIClient:
    return as_token(shop.token)


@pytest.fixture
def carol(api):
    """An ICBC class-2 holder with 300 yuan, paying from her phone: a device token of hers,
    enrolled by her operator."""
    wallet = api.world.wallet("Carol", klass=2, load=300)
    secret, _ = services.holder_device_enrol(
        actor=api.world.staff_of["ICBC"], holder=wallet.holder, name="phone"
    )
    return wallet, as_token(secret)


def ask(till: APIClient, amount: str = "36.80", **fields) -> dict:
    answer = post(till, "/api/v1/payment-requests", {"amount": amount, **fields}, **idem())
    assert answer.status_code == 201, answer.content
    return answer.json()


def pay(client: APIClient, payload: str, wallet, key: str | None = None, **fields):
    body = {"payload": payload, "wallet": wallet.number, **fields}
    return post(
        client, "/api/v1/payments/qr?wait=5000", body, key or idem()["HTTP_IDEMPOTENCY_KEY"]
    )


# ---------------------------------------------------------------- merchants


def test_an_operator_registers_a_merchant_and_enrols_its_staff(api):
    staff = api.client("icbc_staff")
    made = post(staff, "/api/v1/merchants", MERCHANT, "reg-1")
    assert made.status_code == 201, made.content
    body = made.json()
    merchant = Merchant.objects.get(code=body["code"])
    assert body == {
        "code": merchant.code,
        "name": "Luohu Fresh Market",
        "mcc": "5411",
        "category": "Grocery stores and supermarkets",
        "region": "440303",
        "status": "ACTIVE",
        "operator": "ICBC",
        "wallet": merchant.settlement_wallet.number,
        "created_at": body["created_at"],
    }
    assert made["Location"] == f"/api/v1/merchants/{merchant.code}"
    assert merchant.settlement_wallet.kind == "MERCHANT"
    # A retry with the same key registers nothing more and answers the same bytes.
    again = post(staff, "/api/v1/merchants", MERCHANT, "reg-1")
    assert again.content == made.content and again["Idempotent-Replayed"] == "true"
    assert Merchant.objects.count() == 1

    assert staff.get(f"/api/v1/merchants/{merchant.code}").json() == body
    assert api.client("auditor").get(f"/api/v1/merchants/{merchant.code}").status_code == 200
    assert api.client("ccb_staff").get(f"/api/v1/merchants/{merchant.code}").status_code == 404

    enrolled = post(staff, f"/api/v1/merchants/{merchant.code}/staff", {"name": "till 1"})
    assert enrolled.status_code == 201, enrolled.content
    till = as_token(enrolled.json()["token"])
    me = till.get("/api/v1/me").json()
    assert (me["roles"], me["merchant"], me["operator"], me["holder"]) == (
        ["merchant"],
        merchant.code,
        None,
        None,
    )
    listed = till.get("/api/v1/merchants").json()["results"]
    assert [m["code"] for m in listed] == [merchant.code]


def test_registration_refusals_create_nothing(api):
    staff = api.client("icbc_staff")
    unknown_category = post(staff, "/api/v1/merchants", {**MERCHANT, "mcc": "0000"}, "r-1")
    assert problem(unknown_category) == (400, "INVALID_INPUT")
    assert unknown_category.json()["errors"][0]["pointer"] == "/mcc"
    bad_region = post(staff, "/api/v1/merchants", {**MERCHANT, "region": "44030"}, "r-2")
    assert problem(bad_region) == (400, "INVALID_INPUT")
    no_key = post(staff, "/api/v1/merchants", MERCHANT)
    assert problem(no_key) == (400, "IDEMPOTENCY_KEY_MISSING")
    for who in ("alice", "auditor", "approver"):  # no operator to register at
        assert problem(post(api.client(who), "/api/v1/merchants", MERCHANT, "r-3")) == (
            403,
            "PERMISSION_DENIED",
        ), who
    assert Merchant.objects.count() == 0


def test_only_the_merchants_operator_suspends_it_and_then_it_is_paid_nothing(
    api, shop, till, carol
):
    wallet, phone = carol
    request = ask(till, "5.00")
    path = f"/api/v1/merchants/{shop.merchant.code}/status"
    assert problem(post(till, path, {"status": "SUSPENDED"})) == (403, "PERMISSION_DENIED")
    assert problem(post(api.client("auditor"), path, {"status": "SUSPENDED"})) == (
        403,
        "PERMISSION_DENIED",
    )
    assert problem(post(api.client("ccb_staff"), path, {"status": "SUSPENDED"})) == (
        404,
        "NOT_FOUND",
    )
    suspended = post(api.client("icbc_staff"), path, {"status": "SUSPENDED"})
    assert (suspended.status_code, suspended.json()["status"]) == (200, "SUSPENDED")

    assert problem(pay(phone, request["payload"], wallet)) == (409, "MERCHANT_SUSPENDED")
    refused = post(till, "/api/v1/payment-requests", {"amount": "1.00"}, **idem())
    assert problem(refused) == (409, "MERCHANT_SUSPENDED")
    assert (balance(wallet), balance(shop.wallet)) == (30_000, 0)

    post(api.client("icbc_staff"), path, {"status": "ACTIVE"})
    assert pay(phone, request["payload"], wallet).json()["state"] == "SETTLED"
    assert (balance(wallet), balance(shop.wallet)) == (30_000 - 500, 500)


# ---------------------------------------------------------------- requests and paying them


def test_a_till_asks_for_36_80_and_carol_pays_it_from_her_phone(api, shop, till, carol):
    wallet, phone = carol
    request = ask(till, "36.80", order_reference="A-1", memo="vegetables", expires_in=600)
    code = request["code"]
    assert request["kind"] == "DYNAMIC" and request["merchant"] == shop.merchant.code
    assert (request["amount"], request["amount_fen"]) == ("36.80", 3_680)
    assert (request["order_reference"], request["memo"], request["state"]) == (
        "A-1",
        "vegetables",
        "OPEN",
    )
    assert request["payload"] == services.request_payload(PaymentRequest.objects.get(code=code))
    assert request["qr_png"] == f"/api/v1/payment-requests/{code}/qr.png"
    assert request["qr_svg"] == f"/api/v1/payment-requests/{code}/qr.svg"
    assert till.get(request["qr_png"])["Content-Type"] == "image/png"

    paid = pay(phone, request["payload"], wallet, key="carol-1")
    assert paid.status_code == 201, paid.content
    body = paid.json()
    assert (body["kind"], body["state"], body["reject_code"]) == ("MERCHANT", "SETTLED", None)
    assert (body["payer"], body["payee"]) == (wallet.number, shop.wallet.number)
    assert (body["amount"], body["amount_fen"]) == ("36.80", 3_680)
    assert (body["request"], body["merchant"]) == (code, shop.merchant.code)
    assert body["memo"] == "A-1" and body["refund_of"] is None
    assert paid["Location"] == f"/api/v1/transfers/{body['id']}"
    assert (balance(wallet), balance(shop.wallet)) == (30_000 - 3_680, 3_680)
    assert till.get(f"/api/v1/payment-requests/{code}").json()["state"] == "PAID"

    # The same key again: the first answer, byte for byte, and nothing paid twice.
    again = pay(phone, request["payload"], wallet, key="carol-1")
    assert again.content == paid.content and again["Idempotent-Replayed"] == "true"
    # A new key: the request is paid already.
    assert problem(pay(phone, request["payload"], wallet)) == (409, "REQUEST_ALREADY_PAID")
    assert (balance(wallet), balance(shop.wallet)) == (30_000 - 3_680, 3_680)
    # Paid requests are not cancelled.
    cancel = post(till, f"/api/v1/payment-requests/{code}/cancel")
    assert problem(cancel) == (409, "REQUEST_ALREADY_PAID")


def test_without_wait_the_payment_answers_202_queued(api, shop, till, carol):
    wallet, phone = carol
    request = ask(till, "1.00")
    body = {"payload": request["payload"], "wallet": wallet.number}
    queued = post(phone, "/api/v1/payments/qr", body, **idem())
    assert (queued.status_code, queued.json()["state"]) == (202, "RECEIVED")
    # Settled on commit here (settlement in-process), so the transfer says so now.
    transfer = phone.get(queued["Location"]).json()
    assert (transfer["state"], transfer["kind"]) == ("SETTLED", "MERCHANT")


def test_the_operator_of_the_paying_wallet_pays_for_it_as_a_gateway(api, shop, till):
    alice = api.wallets["alice"]
    request = ask(till, "2.50")
    paid = pay(api.client("icbc_staff"), request["payload"], alice)
    assert (paid.status_code, paid.json()["state"]) == (201, "SETTLED")
    assert balance(alice) == 100_000 - 250 and balance(shop.wallet) == 250


def test_every_refusal_has_its_code_and_moves_nothing(api, shop, till, carol):
    wallet, phone = carol
    bob = api.wallets["bob"]
    before = {w.number: balance(w) for w in (wallet, bob, shop.wallet)}
    request = ask(till, "10.00")
    payload = request["payload"]

    fields, _ = qr.open_payload(b"", payload)
    cheaper = qr.sign(b"\0", qr.Fields(fields.request, fields.merchant, 1, fields.expires))
    altered = ".".join([*cheaper.split(".")[:2], payload.split(".")[2]])
    foreign = qr.sign(b"k" * 32, qr.Fields("pr_unknown", shop.merchant.code, 1_000, 2**31))
    expired = ask(till, "10.00", expires_in=60)
    PaymentRequest.objects.filter(code=expired["code"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expired_payload = services.request_payload(PaymentRequest.objects.get(code=expired["code"]))
    cancelled = ask(till, "10.00")
    assert post(till, f"/api/v1/payment-requests/{cancelled['code']}/cancel").status_code == 200
    static = post(till, "/api/v1/payment-requests", {"kind": "STATIC"}, **idem()).json()

    cases = [
        ("a code signed with another key", {"payload": foreign}, (400, "REQUEST_FORGED")),
        ("not a payment code", {"payload": "https://example.com/p?x=1"}, (400, "REQUEST_FORGED")),
        ("our code, its amount changed", {"payload": altered}, (400, "REQUEST_ALTERED")),
        ("expired", {"payload": expired_payload}, (409, "REQUEST_EXPIRED")),
        ("cancelled", {"payload": cancelled["payload"]}, (409, "REQUEST_CANCELLED")),
        ("another amount", {"payload": payload, "amount": "1.00"}, (400, "INVALID_AMOUNT")),
        ("a static code, no amount", {"payload": static["payload"]}, (400, "INVALID_AMOUNT")),
        ("bad amount", {"payload": static["payload"], "amount": "1.001"}, (400, "INVALID_AMOUNT")),
        ("someone else's wallet", {"payload": payload, "wallet": bob.number}, (404, "NOT_FOUND")),
        ("no such wallet", {"payload": payload, "wallet": "0" * 16}, (404, "NOT_FOUND")),
    ]
    for name, fields_given, expected in cases:
        body = {"wallet": wallet.number, **fields_given}
        answer = post(phone, "/api/v1/payments/qr", body, **idem())
        assert problem(answer) == expected, name
    assert {w.number: balance(w) for w in (wallet, bob, shop.wallet)} == before
    assert MerchantPayment.objects.count() == 0
    # Someone else's wallet and one that does not exist are one answer.
    not_mine = post(phone, "/api/v1/payments/qr", {"payload": payload, "wallet": bob.number}, "x")
    none = post(phone, "/api/v1/payments/qr", {"payload": payload, "wallet": "0" * 16}, "y")
    assert not_mine.json()["detail"].replace(bob.number, "N") == none.json()["detail"].replace(
        "0" * 16, "N"
    )
    # The same key for another payment.
    first = pay(phone, payload, wallet, key="once")
    assert first.status_code == 201
    assert problem(pay(phone, static["payload"], wallet, key="once", amount="1.00")) == (
        422,
        "IDEMPOTENCY_CONFLICT",
    )
    after = {w.number: balance(w) for w in (wallet, bob, shop.wallet)}
    assert after == {
        **before,
        wallet.number: before[wallet.number] - 1_000,
        shop.wallet.number: before[shop.wallet.number] + 1_000,
    }
    assert MerchantPayment.objects.count() == 1


def test_a_static_code_takes_what_the_payer_enters_again_and_again(api, shop, till, carol):
    wallet, phone = carol
    made = post(till, "/api/v1/payment-requests", {"kind": "STATIC", "memo": "till 2"}, **idem())
    assert made.status_code == 201, made.content
    code = made.json()
    assert (code["kind"], code["amount"], code["amount_fen"], code["expires_at"]) == (
        "STATIC",
        None,
        None,
        None,
    )
    assert code["state"] == "OPEN"
    for amount in ("12.00", "0.99"):
        paid = pay(phone, code["payload"], wallet, amount=amount)
        assert (paid.status_code, paid.json()["state"]) == (201, "SETTLED"), paid.content
    assert (balance(wallet), balance(shop.wallet)) == (30_000 - 1_299, 1_299)
    assert till.get(f"/api/v1/payment-requests/{code['code']}").json()["state"] == "OPEN"
    # A static code carries no amount, order or expiry; a dynamic one needs an amount.
    for body, field in (
        ({"kind": "STATIC", "amount": "1.00"}, "/amount"),
        ({"kind": "STATIC", "order_reference": "A-2"}, "/order_reference"),
        ({"kind": "DYNAMIC"}, "/amount"),
    ):
        refused = post(till, "/api/v1/payment-requests", body, **idem())
        assert problem(refused) == (400, "INVALID_INPUT"), body
        assert refused.json()["errors"][0]["pointer"] == field


def test_request_refusals(api, shop, till):
    ask(till, "1.00", order_reference="A-7")
    twice = post(
        till, "/api/v1/payment-requests", {"amount": "2.00", "order_reference": "A-7"}, **idem()
    )
    assert problem(twice) == (409, "CONFLICT")
    too_long = post(
        till, "/api/v1/payment-requests", {"amount": "2.00", "expires_in": 8 * 24 * 3600}, **idem()
    )
    assert problem(too_long) == (400, "INVALID_INPUT")
    assert too_long.json()["errors"][0]["pointer"] == "/expires_in"
    for who in ("icbc_staff", "alice", "auditor"):  # not a merchant's staff
        answer = post(api.client(who), "/api/v1/payment-requests", {"amount": "1.00"}, **idem())
        assert problem(answer) == (403, "PERMISSION_DENIED"), who
    assert PaymentRequest.objects.count() == 1


def test_cancelling_twice_is_harmless_and_lists_filter_by_state(api, shop, till, carol):
    wallet, phone = carol
    opened = ask(till, "1.00")
    cancelled = ask(till, "2.00")
    paid = ask(till, "3.00")
    expired = ask(till, "4.00")
    for _ in range(2):
        answer = post(till, f"/api/v1/payment-requests/{cancelled['code']}/cancel")
        assert (answer.status_code, answer.json()["state"]) == (200, "CANCELLED")
    pay(phone, paid["payload"], wallet)
    PaymentRequest.objects.filter(code=expired["code"]).update(expires_at=timezone.now())
    expected = {
        "OPEN": [opened["code"]],
        "CANCELLED": [cancelled["code"]],
        "PAID": [paid["code"]],
        "EXPIRED": [expired["code"]],
        "PENDING": [],
    }
    for state, codes in expected.items():
        listed = till.get(f"/api/v1/payment-requests?state={state}").json()["results"]
        assert [r["code"] for r in listed] == codes, state
        assert all(r["state"] == state for r in listed)
    everything = till.get("/api/v1/payment-requests").json()["results"]
    assert [r["code"] for r in everything] == [
        expired["code"],
        paid["code"],
        cancelled["code"],
        opened["code"],
    ]
    assert problem(till.get("/api/v1/payment-requests?state=LOST")) == (400, "INVALID_INPUT")


# ---------------------------------------------------------------- payments received, refunds


def paid_request(till, phone, wallet, amount: str) -> int:
    request = ask(till, amount)
    answer = pay(phone, request["payload"], wallet)
    assert answer.json()["state"] == "SETTLED", answer.content
    return answer.json()["id"]


def refund(till, transfer_id: int, amount: str, key: str | None = None, **fields):
    return post(
        till,
        f"/api/v1/transfers/{transfer_id}/refunds?wait=5000",
        {"amount": amount, **fields},
        key or idem()["HTTP_IDEMPOTENCY_KEY"],
    )


def test_the_till_refunds_part_then_the_rest_and_not_a_fen_more(api, shop, till, carol):
    wallet, phone = carol
    original = paid_request(till, phone, wallet, "100.00")
    assert (balance(wallet), balance(shop.wallet)) == (20_000, 10_000)

    listed = till.get("/api/v1/merchant-payments").json()["results"]
    assert len(listed) == 1
    row = listed[0]
    assert (row["transfer"], row["state"], row["payer"], row["amount"]) == (
        original,
        "SETTLED",
        wallet.number,
        "100.00",
    )
    assert (row["refunded"], row["refundable"], row["refundable_fen"]) == ("0.00", "100.00", 10_000)
    decided = Transfer.objects.get(pk=original).decided_at
    assert row["refundable_until"].startswith(
        (decided + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%S")
    )

    first = refund(till, original, "30.00", key="r-1", reason="one item returned")
    assert first.status_code == 201, first.content
    made = first.json()
    assert (made["original"], made["state"], made["amount"], made["amount_fen"]) == (
        original,
        "SETTLED",
        "30.00",
        3_000,
    )
    assert made["reason"] == "one item returned" and made["merchant"] == shop.merchant.code
    assert first["Location"] == f"/api/v1/refunds/{made['id']}"
    assert (balance(wallet), balance(shop.wallet)) == (23_000, 7_000)
    # The same key: the same answer, nothing refunded twice; with another amount: 422.
    again = refund(till, original, "30.00", key="r-1", reason="one item returned")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert problem(refund(till, original, "31.00", key="r-1")) == (422, "IDEMPOTENCY_CONFLICT")

    over = refund(till, original, "70.01")
    assert problem(over) == (409, "REFUND_EXCEEDS_PAYMENT")
    assert over.json()["refundable_fen"] == 7_000
    assert (balance(wallet), balance(shop.wallet)) == (23_000, 7_000)
    assert refund(till, original, "70.00").json()["state"] == "SETTLED"
    last = refund(till, original, "0.01")
    assert problem(last) == (409, "REFUND_EXCEEDS_PAYMENT")
    assert last.json()["refundable_fen"] == 0
    assert (balance(wallet), balance(shop.wallet)) == (30_000, 0)

    row = till.get("/api/v1/merchant-payments").json()["results"][0]
    assert (row["refunded"], row["refunded_fen"], row["refundable"]) == ("100.00", 10_000, "0.00")
    refunds = till.get("/api/v1/refunds").json()["results"]
    assert [(r["amount"], r["original"]) for r in refunds] == [
        ("70.00", original),
        ("30.00", original),
    ]
    assert till.get(first["Location"]).json() == made | {"decided_at": made["decided_at"]}

    # Carol's history and the refund's transfer both say what it gives back.
    history = phone.get(f"/api/v1/wallets/{wallet.number}/history?kind=REFUND").json()
    assert [
        (h["kind"], h["direction"], h["amount"], h["refund_of"]) for h in history["results"]
    ] == [
        ("REFUND", "in", "70.00", original),
        ("REFUND", "in", "30.00", original),
    ]
    payment_row = phone.get(f"/api/v1/wallets/{wallet.number}/history?kind=MERCHANT").json()
    assert payment_row["results"][0]["refund_of"] is None
    transfer = phone.get(f"/api/v1/transfers/{made['transfer']}").json()
    assert (transfer["kind"], transfer["refund_of"]) == ("REFUND", original)
    assert phone.get(f"/api/v1/transfers/{original}").json()["refund_of"] is None


def test_refund_refusals_each_with_its_code(api, shop, till, carol, settings):
    wallet, phone = carol
    original = paid_request(till, phone, wallet, "10.00")
    other = api.world.merchant("Futian Books", operator="CCB")
    # Rejected by the ledger: Dave has 1 yuan for a 5-yuan request.
    dave = api.world.wallet("Dave", klass=2, load=1)
    request = ask(till, "5.00")
    rejected = pay(api.client("icbc_staff"), request["payload"], dave).json()
    assert (rejected["state"], rejected["reject_code"]) == ("REJECTED", "INSUFFICIENT_FUNDS")
    person_to_person = api.world.pay(wallet, api.wallets["alice"], 1)
    before = (balance(wallet), balance(shop.wallet), balance(dave))

    assert problem(refund(till, rejected["id"], "1.00")) == (409, "NOT_REFUNDABLE")
    assert problem(refund(api.client("icbc_staff"), original, "1.00")) == (403, "PERMISSION_DENIED")
    assert problem(refund(api.client("auditor"), original, "1.00")) == (403, "PERMISSION_DENIED")
    assert problem(refund(phone, original, "1.00")) == (404, "NOT_FOUND")  # Carol paid it
    assert problem(refund(till, person_to_person.pk, "1.00")) == (404, "NOT_FOUND")
    # Another merchant's staff: byte for byte the answer for a transfer that does not exist.
    theirs = refund(as_token(other.token), original, "1.00")
    missing = refund(as_token(other.token), 10**9, "1.00")
    assert problem(theirs) == (404, "NOT_FOUND") and theirs.content == missing.content
    assert problem(refund(till, original, "0.00")) == (400, "INVALID_AMOUNT")
    settings.EWALLET_REFUND_WINDOW_DAYS = 0
    assert problem(refund(till, original, "1.00")) == (409, "REFUND_WINDOW_CLOSED")
    assert (balance(wallet), balance(shop.wallet), balance(dave)) == before
    assert Refund.objects.count() == 0


def test_a_merchants_staff_see_only_their_merchants_requests_payments_and_refunds(
    api, shop, till, carol
):
    wallet, phone = carol
    other = api.world.merchant("Futian Books", operator="CCB")
    theirs = as_token(other.token)
    request = ask(till, "8.00")
    original = paid_request(till, phone, wallet, "9.00")
    made = refund(till, original, "1.00").json()
    own = ask(theirs, "2.00")

    for path in ("/api/v1/payment-requests", "/api/v1/merchant-payments", "/api/v1/refunds"):
        listed = theirs.get(path).json()["results"]
        assert all(row["merchant"] == other.merchant.code for row in listed), path
    assert [r["code"] for r in theirs.get("/api/v1/payment-requests").json()["results"]] == [
        own["code"]
    ]
    # Each of the shop's things, by its address, is byte for byte a thing that does not exist.
    code = request["code"]
    for path, missing in (
        (f"/api/v1/payment-requests/{code}", "/api/v1/payment-requests/pr_none"),
        (f"/api/v1/payment-requests/{code}/qr.png", "/api/v1/payment-requests/pr_none/qr.png"),
        (f"/api/v1/payment-requests/{code}/qr.svg", "/api/v1/payment-requests/pr_none/qr.svg"),
        (f"/api/v1/refunds/{made['id']}", "/api/v1/refunds/999999999"),
        (f"/api/v1/merchants/{shop.merchant.code}", "/api/v1/merchants/m_none"),
        (f"/api/v1/transfers/{original}", "/api/v1/transfers/999999999"),
    ):
        seen, absent = theirs.get(path), theirs.get(missing)
        assert problem(seen) == (404, "NOT_FOUND"), path
        assert seen.content == absent.content, path
    for path, missing in (
        (f"/api/v1/payment-requests/{code}/cancel", "/api/v1/payment-requests/pr_none/cancel"),
        (f"/api/v1/merchants/{shop.merchant.code}/staff", "/api/v1/merchants/m_none/staff"),
    ):
        seen, absent = post(theirs, path, {"name": "x"}), post(theirs, missing, {"name": "x"})
        assert problem(seen) == (404, "NOT_FOUND") and seen.content == absent.content, path
    assert PaymentRequest.objects.get(code=code).cancelled_at is None

    # Operators see the merchants they acquire; the central bank sees all.
    def codes(who, path="/api/v1/payment-requests"):
        return {r["merchant"] for r in api.client(who).get(path).json()["results"]}

    assert codes("icbc_staff") == {shop.merchant.code}
    assert codes("ccb_staff") == {other.merchant.code}
    assert codes("auditor") == {shop.merchant.code, other.merchant.code}
    assert codes("icbc_staff", "/api/v1/refunds") == {shop.merchant.code}
    assert codes("ccb_staff", "/api/v1/merchant-payments") == set()
    assert codes("alice") == set() and codes("alice", "/api/v1/merchant-payments") == set()


# ---------------------------------------------------------------- racing refunds


@pytest.mark.postgres
def test_racing_refunds_never_give_back_more_than_the_payment(api, shop, till, carol):
    wallet, phone = carol
    original = paid_request(till, phone, wallet, "100.00")
    barrier = threading.Barrier(8)
    answers, lock = [], threading.Lock()

    def send(index: int):
        client = as_token(shop.token)
        barrier.wait()
        try:
            answer = refund(client, original, "30.00", key=f"race-{index}")
            with lock:
                answers.append(answer)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    outcomes = sorted((a.status_code, a.json().get("code")) for a in answers)
    assert outcomes == [(201, None)] * 3 + [(409, "REFUND_EXCEEDS_PAYMENT")] * 5
    assert Refund.objects.filter(original_id=original).count() == 3
    assert (balance(wallet), balance(shop.wallet)) == (20_000 + 9_000, 1_000)
    assert services.refundable(Transfer.objects.get(pk=original)) == 1_000
