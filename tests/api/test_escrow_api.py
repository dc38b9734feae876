"""Conditional payments over HTTP, as worked examples: Alice (ICBC, 1,000 yuan) holds money
for Bob (CCB, 100 yuan) until she confirms delivery, a notary approves, or both cancel.
Balances and reserved funds to the fen; every refusal an exact status and code."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.money import yuan
from settlement.models import Account
from tests.api.conftest import idem, token_for
from tests.helpers import user_with


def held(api, name) -> tuple[int, int]:
    account = Account.objects.get(pk=api.wallets[name].account_id)
    return account.balance, account.reserved


def problem(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.status_code, response.json()["code"]


def create(api, who="alice", **body):
    body = {"payer": api.number("alice"), "payee": api.number("bob"), **body}
    body.setdefault("condition", "PAYER_CONFIRMS")
    body.setdefault("amount", "25.00")
    return api.client(who).post("/api/v1/escrows", body, format="json", **idem())


def act(api, who, escrow_id, action, **headers):
    headers = headers or idem()
    return api.client(who).post(f"/api/v1/escrows/{escrow_id}/{action}", format="json", **headers)


def read(api, who, escrow_id) -> dict:
    response = api.client(who).get(f"/api/v1/escrows/{escrow_id}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def notary(api):
    """An arbiter: a login of its own with an API token, no role."""
    api.users["notary"] = user_with("notary")
    api.tokens["notary"] = token_for(api.users["notary"])
    return "notary"


def test_held_until_the_payer_confirms_then_paid_to_the_fen(api):
    response = create(api, amount="25.50", memo="a lamp")
    assert response.status_code == 201, response.content
    made = response.json()
    assert response["Location"] == f"/api/v1/escrows/{made['id']}"
    assert (made["state"], made["condition"], made["amount"], made["amount_fen"]) == (
        "HELD",
        "PAYER_CONFIRMS",
        "25.50",
        2_550,
    )
    assert read(api, "bob", made["id"])["state"] == "HELD"
    assert held(api, "alice") == (yuan(1_000), 2_550) and held(api, "bob") == (yuan(100), 0)
    # Bob cannot release it to himself; it is not an approval escrow.
    assert problem(act(api, "bob", made["id"], "confirm")) == (403, "NOT_THE_PAYER")
    assert problem(act(api, "alice", made["id"], "approve")) == (409, "CONDITION_NOT_MET")
    confirmed = act(api, "alice", made["id"], "confirm", HTTP_IDEMPOTENCY_KEY="c-1")
    assert confirmed.status_code == 202 and confirmed.json()["release"] is not None
    assert read(api, "alice", made["id"])["state"] == "RELEASED"
    assert held(api, "alice") == (yuan(1_000) - 2_550, 0)
    assert held(api, "bob") == (yuan(100) + 2_550, 0)
    # The same key again is the same answer; a new one is refused.
    again = act(api, "alice", made["id"], "confirm", HTTP_IDEMPOTENCY_KEY="c-1")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert problem(act(api, "alice", made["id"], "confirm")) == (409, "ESCROW_NOT_HELD")
    assert problem(act(api, "bob", made["id"], "cancel")) == (409, "ESCROW_NOT_HELD")
    assert held(api, "bob") == (yuan(100) + 2_550, 0)


def test_released_when_the_named_notary_approves(api, notary):
    made = create(api, condition="APPROVAL", approver="notary", amount="60.00").json()
    assert made["approver"] == "notary"
    assert problem(act(api, "alice", made["id"], "approve")) == (403, "NOT_THE_APPROVER")
    assert problem(act(api, "icbc_staff", made["id"], "approve")) == (403, "NOT_THE_APPROVER")
    assert problem(act(api, "alice", made["id"], "confirm")) == (409, "CONDITION_NOT_MET")
    # The notary sees it (and no one else's), and approves.
    listed = api.client("notary").get("/api/v1/escrows").json()["results"]
    assert [e["id"] for e in listed] == [made["id"]]
    assert act(api, "notary", made["id"], "approve").status_code == 202
    assert read(api, "notary", made["id"])["state"] == "RELEASED"
    assert held(api, "alice") == (yuan(940), 0) and held(api, "bob") == (yuan(160), 0)


def test_both_sides_cancel_and_nothing_moves(api):
    made = create(api, amount="99.99").json()
    agreed = act(api, "alice", made["id"], "cancel")
    assert agreed.status_code == 200 and agreed.json()["payer_cancelled_at"] is not None
    assert agreed.json()["void"] is None
    assert held(api, "alice") == (yuan(1_000), 9_999)
    # The central bank sees it but is no party to it.
    assert problem(act(api, "auditor", made["id"], "cancel")) == (403, "NOT_A_PARTY")
    voided = act(api, "bob", made["id"], "cancel")
    assert voided.status_code == 202 and voided.json()["void"] is not None
    assert read(api, "alice", made["id"])["state"] == "CANCELLED"
    assert held(api, "alice") == (yuan(1_000), 0) and held(api, "bob") == (yuan(100), 0)


def test_release_at_and_what_the_ledger_refuses(api):
    at = (timezone.now() + timedelta(days=1)).isoformat()
    made = create(api, condition="RELEASE_AT", release_at=at, timeout=3 * 24 * 3600).json()
    assert made["release_at"] is not None and made["state"] == "HELD"
    assert problem(act(api, "alice", made["id"], "confirm")) == (409, "CONDITION_NOT_MET")
    # More than Alice has: the escrow exists, the ledger refused to hold it.
    refused = create(api, amount="1000.01").json()
    shown = read(api, "alice", refused["id"])
    assert (shown["state"], shown["reject_code"]) == ("REFUSED", "INSUFFICIENT_FUNDS")
    assert problem(act(api, "alice", refused["id"], "confirm")) == (409, "ESCROW_NOT_HELD")
    assert held(api, "alice") == (yuan(1_000), 2_500)
    states = api.client("alice").get("/api/v1/escrows?state=REFUSED").json()["results"]
    assert [e["id"] for e in states] == [refused["id"]]


def test_refusals_on_creating(api, notary):
    alice, bob = api.number("alice"), api.number("bob")
    cases = [
        ("alice", {"condition": "RELEASE_AT"}, (400, "INVALID_INPUT")),
        ("alice", {"condition": "APPROVAL"}, (400, "INVALID_INPUT")),
        ("alice", {"condition": "APPROVAL", "approver": "alice"}, (400, "INVALID_INPUT")),
        ("alice", {"approver": "notary"}, (400, "INVALID_INPUT")),
        ("alice", {"timeout": 91 * 24 * 3600}, (400, "INVALID_INPUT")),
        ("alice", {"condition": "LATER"}, (400, "INVALID_INPUT")),
        ("alice", {"amount": "0.001"}, (400, "INVALID_AMOUNT")),
        ("alice", {"colour": "red"}, (400, "UNKNOWN_FIELD")),
        ("alice", {"payee": alice}, (400, "SAME_ACCOUNT")),
        ("bob", {}, (404, "NOT_FOUND")),  # Bob does not pay from Alice's wallet
        ("ccb_staff", {}, (404, "NOT_FOUND")),
        ("auditor", {}, (403, "PERMISSION_DENIED")),
        ("shop", {}, (404, "NOT_FOUND")),
    ]
    for who, body, expected in cases:
        assert problem(create(api, who, **body)) == expected, (who, body)
    response = api.client("alice").post(
        "/api/v1/escrows",
        {"payer": alice, "payee": bob, "amount": "1.00", "condition": "PAYER_CONFIRMS"},
        format="json",
    )
    assert problem(response) == (400, "IDEMPOTENCY_KEY_MISSING")
    assert held(api, "alice") == (yuan(1_000), 0)
    assert api.client("alice").get("/api/v1/escrows").json()["results"] == []


def test_each_sees_only_their_escrows(api):
    made = create(api).json()
    seen = {
        who: [e["id"] for e in api.client(who).get("/api/v1/escrows").json()["results"]]
        for who in ["alice", "bob", "shop", "icbc_staff", "ccb_staff", "auditor", "issuer"]
    }
    assert {who for who, ids in seen.items() if made["id"] in ids} == {
        "alice",
        "bob",
        "icbc_staff",
        "ccb_staff",
        "auditor",
        "issuer",
    }
    assert api.client("shop").get(f"/api/v1/escrows/{made['id']}").status_code == 404
    assert problem(act(api, "shop", made["id"], "cancel")) == (404, "NOT_FOUND")
