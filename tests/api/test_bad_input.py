"""Every bad input gets a 400 problem naming the field, and moves no money."""

import pytest

from settlement.models import Transfer
from tests.api.conftest import idem
from tests.helpers import balance

PROBLEM = "application/problem+json"


def pay(api, body, who="alice", **headers):
    return api.client(who).post("/api/v1/transfers", body, format="json", **(headers or idem()))


def payment(api, **overrides):
    return {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "1.00"} | overrides


@pytest.mark.parametrize(
    "amount",
    [
        1.5,  # a JSON number, not a string
        12,
        "1.234",  # three decimals
        "-1.00",
        "0",
        "0.00",
        "1e3",
        "1E3",
        "+1.00",
        " 1.00",
        "1.",
        ".5",
        "01.00",
        "1,00",
        "\uff11.\uff10\uff10",  # full-width digits
        "100000000000000.00",  # beyond ten trillion yuan
        "99999999999999999999999",
        "NaN",
        "Infinity",
        "",
        None,
        True,
        [],
        {},
    ],
)
def test_a_bad_amount_is_a_400_naming_the_field_and_nothing_moves(api, amount):
    before = (balance(api.wallets["alice"]), balance(api.wallets["shop"]))
    transfers = Transfer.objects.count()

    response = pay(api, payment(api, amount=amount))

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "INVALID_AMOUNT"
    assert problem["status"] == 400
    assert problem["type"].endswith("/invalid-amount")
    assert [e["pointer"] for e in problem["errors"]] == ["/amount"]
    assert (balance(api.wallets["alice"]), balance(api.wallets["shop"])) == before
    assert Transfer.objects.count() == transfers


@pytest.mark.parametrize(
    ("body", "code", "pointers"),
    [
        ({"payer": "x"}, "INVALID_INPUT", ["/payer", "/payee", "/amount"]),
        ({"extra": 1}, "UNKNOWN_FIELD", ["/extra"]),
        ({"payee": 1234567890123456}, "INVALID_INPUT", ["/payee"]),
        ({"memo": "x" * 141}, "INVALID_INPUT", ["/memo"]),
        ({"amount": "1.001", "fee": "0.10"}, "INVALID_INPUT", ["/fee", "/amount"]),
    ],
)
def test_missing_unknown_and_wrong_typed_fields_are_named(api, body, code, pointers):
    response = pay(api, {**payment(api), **body} if "payer" not in body else body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == code
    assert sorted(e["pointer"] for e in problem["errors"]) == sorted(pointers)


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "MALFORMED_REQUEST"),
        (b"[1, 2]", "application/json", 400, "INVALID_INPUT"),
        (b'"text"', "application/json", 400, "INVALID_INPUT"),
        (b"payer=1", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"\xff\xfe", "application/json", 400, "MALFORMED_REQUEST"),
    ],
)
def test_bodies_that_are_not_a_json_object(api, raw, content_type, status, code):
    response = api.client("alice").generic(
        "POST", "/api/v1/transfers", raw, content_type=content_type, **idem()
    )
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response["Content-Type"] == PROBLEM


def test_unknown_wallets_and_the_same_wallet(api):
    alice = api.number("alice")
    cases = [
        (payment(api, payer="9" * 16), 404, "NOT_FOUND", "/payer"),
        (payment(api, payee="9" * 16), 404, "NOT_FOUND", "/payee"),
        # Bob's wallet exists but is not Alice's to pay from: the same answer as no wallet.
        (payment(api, payer=api.number("bob")), 404, "NOT_FOUND", "/payer"),
    ]
    for body, status, code, pointer in cases:
        response = pay(api, body)
        problem = response.json()
        assert (response.status_code, problem["code"]) == (status, code), body
        assert problem["errors"][0]["pointer"] == pointer
    same = pay(api, payment(api, payee=alice))
    assert (same.status_code, same.json()["code"]) == (400, "SAME_ACCOUNT")


def test_a_payment_the_ledger_refuses_is_a_rejected_transfer_not_an_error(api):
    """Insufficient funds are decided by settlement: the request succeeds, the transfer is
    REJECTED with its code, and no balance moves."""
    before = balance(api.wallets["alice"])
    response = pay(api, payment(api, amount="5000.00"))  # Alice has 1,000
    assert response.status_code == 202
    transfer = api.client("alice").get(response["Location"]).json()
    assert (transfer["state"], transfer["reject_code"]) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert balance(api.wallets["alice"]) == before


@pytest.mark.parametrize(
    ("query", "pointer"),
    [("wait=-1", "/wait"), ("wait=10001", "/wait"), ("wait=soon", "/wait")],
)
def test_a_bad_wait_is_a_400(api, query, pointer):
    response = api.client("alice").post(
        f"/api/v1/transfers?{query}", payment(api), format="json", **idem()
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["pointer"] == pointer
    assert Transfer.objects.filter(idempotency_key__startswith="api:").count() == 0


def test_batch_items_are_checked_one_by_one(api):
    staff = api.client("icbc_staff")
    item = {"payer": api.number("alice"), "payee": api.number("shop"), "idempotency_key": "i"}
    bad = staff.post(
        "/api/v1/transfers/batch",
        {"transfers": [{**item, "amount": "1.00"}, {**item, "amount": "1.001"}]},
        format="json",
        **idem(),
    )
    # Malformed items fail the whole request (nothing is queued) and each is named.
    assert bad.status_code == 400
    assert [e["pointer"] for e in bad.json()["errors"]] == ["/transfers/1/amount"]
    assert Transfer.objects.filter(idempotency_key__startswith="api:").count() == 0

    too_many = staff.post(
        "/api/v1/transfers/batch",
        {"transfers": [{**item, "amount": "1.00"}] * 1001},
        format="json",
        **idem(),
    )
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["pointer"] == "/transfers"
    empty = staff.post("/api/v1/transfers/batch", {"transfers": []}, format="json", **idem())
    assert empty.status_code == 400


def test_unknown_routes_and_methods_are_problems_too(api):
    client = api.client("alice")
    missing = client.get("/api/v1/no-such-thing")
    assert (missing.status_code, missing["Content-Type"]) == (404, PROBLEM)
    assert missing.json()["code"] == "NOT_FOUND"
    wrong = client.delete("/api/v1/transfers")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
    nobody = api.client(None).get("/api/v1/wallets")
    assert (nobody.status_code, nobody.json()["code"]) == (401, "NOT_AUTHENTICATED")
    assert nobody["WWW-Authenticate"].startswith("Bearer")
    forged = api.client(None)
    forged.credentials(HTTP_AUTHORIZATION="Bearer ecny_not-a-token")
    assert forged.get("/api/v1/wallets").status_code == 401


@pytest.mark.parametrize("escaped", ["a\\u0000b", "\\udb23"])
def test_text_no_database_column_can_hold_is_refused(api, escaped):
    """JSON may escape NUL and lone surrogates; PostgreSQL text cannot hold them."""
    fields = f'"payer": "{api.number("alice")}", "payee": "{api.number("shop")}", "amount": "1"'
    for raw in (f'{{{fields}, "memo": "{escaped}"}}', f'{{{fields}, "{escaped}": 1}}'):
        response = api.client("alice").generic(
            "POST", "/api/v1/transfers", raw.encode(), content_type="application/json", **idem()
        )
        assert (response.status_code, response.json()["code"]) == (400, "MALFORMED_REQUEST")
