"""Sub-wallets over HTTP, as worked examples: Alice pushes 100.00 to a ride-hailing app
from her phone, the app pulls fares with its own token, one fen over the cap is refused,
Alice revokes it and the rest comes home. Exact statuses and codes; balances to the fen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.selectors import money_totals
from tests.api.conftest import idem
from tests.helpers import balance, settle
from wallets.models import MerchantPayment, SubWallet


@pytest.fixture(autouse=True)
def every_fen_kept(api, audit_key):
    """After every example: money conserved, and the audit log verifies."""
    yield
    settle()
    checkpoint_seal()
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing
    assert audit_verify().ok


def problem(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.status_code, response.json()["code"]


@pytest.fixture
def rides(api):
    merchant = api.world.merchant("Shenzhen Rides", mcc="4121")
    api.users["rides"], api.tokens["rides"] = merchant.staff.user, merchant.token
    return merchant


def push_body(api, rides, cap="100.00", days=7):
    later = timezone.now() + timedelta(days=days)
    return {
        "wallet": api.number("alice"),
        "merchant": rides.merchant.code,
        "cap": cap,
        "expires_at": later.isoformat(),
    }


def pushed(api, rides, cap="100.00") -> dict:
    response = api.client("alice").post(
        "/api/v1/sub-wallets", push_body(api, rides, cap), format="json", **idem()
    )
    assert response.status_code == 201, response.content
    return response.json()


def pull(api, code, amount, who="rides", **body):
    return api.client(who).post(
        f"/api/v1/sub-wallets/{code}/pull?wait=2000",
        {"amount": amount, **body},
        format="json",
        **idem(),
    )


def test_push_pull_to_the_cap_and_revoke(api, rides):
    made = pushed(api, rides)
    code = made["code"]
    assert made["state"] == "ACTIVE" and made["cap_fen"] == 10_000
    assert made["parent"] == api.number("alice")
    assert balance(api.wallets["alice"]) == 90_000
    assert api.client("alice").get(f"/api/v1/sub-wallets/{code}").json()["remaining_fen"] == 10_000

    first = pull(api, code, "60.00", order_reference="ride-1")
    assert first.status_code == 201, first.content
    assert first.json()["state"] == "SETTLED"
    assert first.json()["order_reference"] == "ride-1"
    assert first.json()["remaining_fen"] == 4_000
    assert first["Location"] == f"/api/v1/transfers/{first.json()['transfer']}"
    # More than is left: refused, with what is left, and nothing moves.
    over = pull(api, code, "40.01")
    assert problem(over) == (409, "SUB_WALLET_EXHAUSTED")
    assert over.json()["remaining_fen"] == 4_000
    assert pull(api, code, "40.00").status_code == 201
    assert problem(pull(api, code, "0.01")) == (409, "SUB_WALLET_EXHAUSTED")
    assert balance(rides.wallet) == 10_000
    # The app's payments list shows the pulls.
    listed = api.client("rides").get("/api/v1/merchant-payments").json()["results"]
    assert sorted(p["amount_fen"] for p in listed) == [4_000, 6_000]

    revoked = api.client("alice").post(f"/api/v1/sub-wallets/{code}/revoke", format="json")
    assert revoked.status_code == 200
    assert revoked.json()["state"] == "REVOKED"
    assert problem(pull(api, code, "0.01")) == (409, "SUB_WALLET_REVOKED")
    assert balance(api.wallets["alice"]) == 90_000


def test_revoke_returns_the_unspent_fen(api, rides):
    code = pushed(api, rides, cap="50.00")["code"]
    assert pull(api, code, "12.34").status_code == 201
    revoked = api.client("icbc_staff").post(f"/api/v1/sub-wallets/{code}/revoke", format="json")
    assert revoked.json()["returned_fen"] == 5_000 - 1_234
    sub = SubWallet.objects.get(code=code)
    assert balance(sub.wallet) == 0
    assert balance(api.wallets["alice"]) == 100_000 - 1_234


def test_an_expired_sub_wallet_refuses_pulls(api, rides):
    code = pushed(api, rides)["code"]
    past = timezone.now() - timedelta(minutes=1)
    SubWallet.objects.filter(code=code).update(created_at=past - timedelta(days=1), expires_at=past)
    assert problem(pull(api, code, "1.00")) == (409, "SUB_WALLET_EXPIRED")
    assert api.client("alice").get(f"/api/v1/sub-wallets/{code}").json()["state"] == "EXPIRED"


def test_refusals_have_exact_statuses_and_codes(api, rides):
    client = api.client("alice")
    body = push_body(api, rides)
    assert problem(client.post("/api/v1/sub-wallets", body, format="json")) == (
        400,
        "IDEMPOTENCY_KEY_MISSING",
    )
    unknown = {**body, "merchant": "m_nobody"}
    assert problem(client.post("/api/v1/sub-wallets", unknown, format="json", **idem())) == (
        404,
        "NOT_FOUND",
    )
    past = {**body, "expires_at": (timezone.now() - timedelta(days=1)).isoformat()}
    assert problem(client.post("/api/v1/sub-wallets", past, format="json", **idem())) == (
        400,
        "INVALID_INPUT",
    )
    three_decimals = {**body, "cap": "1.001"}
    assert problem(client.post("/api/v1/sub-wallets", three_decimals, format="json", **idem())) == (
        400,
        "INVALID_AMOUNT",
    )
    extra = {**body, "limit": "1"}
    assert problem(client.post("/api/v1/sub-wallets", extra, format="json", **idem()))[0] == 400
    # Bob cannot push from Alice's wallet: he does not see it.
    bobs = api.client("bob").post("/api/v1/sub-wallets", body, format="json", **idem())
    assert problem(bobs) == (404, "NOT_FOUND")
    assert SubWallet.objects.count() == 0


def test_the_same_key_replays_a_pull(api, rides):
    code = pushed(api, rides)["code"]
    path = f"/api/v1/sub-wallets/{code}/pull"
    client = api.client("rides")
    first = client.post(path, {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="fare-1")
    again = client.post(path, {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="fare-1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    other = client.post(path, {"amount": "6.00"}, format="json", HTTP_IDEMPOTENCY_KEY="fare-1")
    assert problem(other) == (422, "IDEMPOTENCY_CONFLICT")
    assert MerchantPayment.objects.count() == 1


def test_another_merchant_and_holder_see_nothing(api, rides):
    code = pushed(api, rides)["code"]
    books = api.world.merchant("Futian Books", operator="CCB")
    api.users["books"], api.tokens["books"] = books.staff.user, books.token
    for who in ("books", "bob", "ccb_staff"):
        client = api.client(who)
        assert problem(client.get(f"/api/v1/sub-wallets/{code}")) == (404, "NOT_FOUND")
        assert client.get("/api/v1/sub-wallets").json()["results"] == []
        assert problem(pull(api, code, "1.00", who=who)) == (404, "NOT_FOUND")
        revoked = client.post(f"/api/v1/sub-wallets/{code}/revoke", format="json")
        assert problem(revoked) == (404, "NOT_FOUND")
    listed = {s["code"] for s in api.client("rides").get("/api/v1/sub-wallets").json()["results"]}
    assert listed == {code}
    # The holder sees it but does not pull; the app sees it but does not revoke.
    assert problem(pull(api, code, "1.00", who="alice")) == (403, "PERMISSION_DENIED")
    revoked = api.client("rides").post(f"/api/v1/sub-wallets/{code}/revoke", format="json")
    assert problem(revoked) == (403, "PERMISSION_DENIED")
