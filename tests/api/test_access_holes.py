"""Holes the rules of authority closed, each tried through the API and shown shut: the exact
answer, and nothing moved (balances to the fen), created or leaked.

- a central-bank freeze cannot be lifted by the wallet's operator; freeze orders stack;
- an operator cannot open wallets on (or see) another operator's holders;
- a suspended operator's accounts pay nothing out, queued payments included;
- a token minted with a token never outlives it, the tokens a user holds are capped, and
  minting another token buys no fresh rate-limit window.
"""

from datetime import timedelta

import pytest

from settlement import doorbell
from settlement.models import Transfer
from tests.api.conftest import fresh_rate_windows, idem, token_for
from tests.helpers import balance, settle, staff_of
from wallets import services
from wallets.actors import Actor
from wallets.auth import token_issue
from wallets.models import (
    ApiToken,
    FreezeOrder,
    Holder,
    IssuanceRequest,
    IssuanceState,
    KycMethod,
    OperatorStatus,
    Wallet,
)


def balances(*wallets) -> tuple[int, ...]:
    return tuple(balance(wallet) for wallet in wallets)


def pay(client, payer: str, payee: str, amount: str):
    """A payment that waits for its decision: 201 with the settled or rejected transfer."""
    return client.post(
        "/api/v1/transfers?wait=5000",
        {"payer": payer, "payee": payee, "amount": amount},
        format="json",
        **idem(),
    )


def decided(response) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body.get("state"), body.get("reject_code")


# ---------------------------------------------------------------- freeze orders


def test_a_central_bank_freeze_is_lifted_by_the_central_bank_only(api):
    alice, shop = api.number("alice"), api.number("shop")
    path = f"/api/v1/wallets/{alice}"
    approver, staff = api.client("approver"), api.client("icbc_staff")

    order = approver.post(f"{path}/freezes", {"scope": "FULL", "reason": "AML case 42"}, "json")
    assert order.status_code == 201
    made = order.json()
    assert (made["authority"], made["operator"], made["ordered_by"]) == (
        "CENTRAL_BANK",
        None,
        "checker",
    )
    before = balances(api.wallets["alice"], api.wallets["shop"])

    # ICBC's staff operate the wallet, but did not give this order.
    lift = staff.post(f"{path}/freezes/{made['id']}/lift", {"reason": "customer asked"}, "json")
    assert (lift.status_code, lift.json()["code"]) == (403, "FREEZE_AUTHORITY")
    assert lift.json()["authority"] == "CENTRAL_BANK"
    assert FreezeOrder.objects.get(pk=made["id"]).lifted_at is None
    assert staff.get(path).json()["status"] == "FROZEN"
    for payer in ("alice", "icbc_staff"):  # neither the holder nor the operator gets money out
        assert decided(pay(api.client(payer), alice, shop, "1.00")) == (
            201,
            "REJECTED",
            "WALLET_FROZEN",
        )
    assert balances(api.wallets["alice"], api.wallets["shop"]) == before

    lifted = approver.post(f"{path}/freezes/{made['id']}/lift", {"reason": "case closed"}, "json")
    assert lifted.status_code == 200
    assert (lifted.json()["in_force"], lifted.json()["lifted_by"]) == (False, "checker")
    assert staff.get(path).json()["status"] == "ACTIVE"
    assert decided(pay(api.client("alice"), alice, shop, "1.00")) == (201, "SETTLED", None)
    assert balances(api.wallets["alice"], api.wallets["shop"]) == (before[0] - 100, before[1] + 100)


def test_freeze_orders_stack_and_each_authority_lifts_only_its_own(api):
    alice, bob = api.number("alice"), api.number("bob")
    path = f"/api/v1/wallets/{alice}"
    approver, staff = api.client("approver"), api.client("icbc_staff")

    def order(client, scope, reason):
        response = client.post(f"{path}/freezes", {"scope": scope, "reason": reason}, "json")
        assert response.status_code == 201, response.json()
        return response.json()["id"]

    def lift(client, order_id, reason="done"):
        return client.post(f"{path}/freezes/{order_id}/lift", {"reason": reason}, "json")

    def status():
        return staff.get(path).json()["status"]

    operators = order(staff, "FULL", "fraud check")
    banks = order(approver, "FULL", "AML case 42")
    assert (lift(approver, operators).status_code, status()) == (403, "FROZEN")
    assert (lift(staff, operators, "checked").status_code, status()) == (200, "FROZEN")
    assert (lift(approver, banks, "case closed").status_code, status()) == (200, "ACTIVE")

    receive_only = order(staff, "RECEIVE_ONLY", "KYC refresh")
    full = order(approver, "FULL", "AML case 43")
    assert status() == "FROZEN"
    assert (lift(approver, full).status_code, status()) == (200, "RECEIVE_ONLY")
    # Receive-only: money comes in, none goes out.
    before = balances(api.wallets["alice"], api.wallets["bob"])
    assert decided(pay(api.client("alice"), alice, bob, "1.00")) == (
        201,
        "REJECTED",
        "WALLET_RECEIVE_ONLY",
    )
    assert decided(pay(api.client("bob"), bob, alice, "2.00")) == (201, "SETTLED", None)
    assert balances(api.wallets["alice"], api.wallets["bob"]) == (before[0] + 200, before[1] - 200)
    again = lift(approver, full)
    assert (again.status_code, again.json()["code"]) == (409, "INVALID_STATE")  # lifted already

    history = staff.get(f"{path}/freezes").json()["results"]
    assert [h["id"] for h in history] == [full, receive_only, banks, operators]  # newest first
    seen = {
        h["id"]: (h["authority"], h["scope"], h["ordered_by"], h["in_force"], h["lifted_by"])
        for h in history
    }
    assert seen == {
        operators: ("OPERATOR", "FULL", "staff", False, "staff"),
        banks: ("CENTRAL_BANK", "FULL", "checker", False, "checker"),
        receive_only: ("OPERATOR", "RECEIVE_ONLY", "staff", True, None),
        full: ("CENTRAL_BANK", "FULL", "checker", False, "checker"),
    }
    for entry in history:
        assert entry["ordered_at"] and entry["reason"]
        assert (entry["lifted_at"] is None) == entry["in_force"]
        assert (entry["lift_reason"] == "") == entry["in_force"]
    assert {h["reason"] for h in history} == {
        "fraud check",
        "AML case 42",
        "KYC refresh",
        "AML case 43",
    }
    # The central bank sees the same history; the other operator does not see the wallet.
    assert approver.get(f"{path}/freezes").json()["results"] == history
    assert api.client("ccb_staff").get(f"{path}/freezes").status_code == 404


# ---------------------------------------------------------------- another operator's holders


@pytest.fixture
def abc(api):
    """A third operator, ABC, with e-CNY issued and a member of staff."""
    world = api.world
    world.operators["ABC"] = services.operator_onboard(
        actor=world.checker, code="ABC", name="ABC", reserve_deposit=200_000_000
    )
    world.staff_of["ABC"] = staff_of(world.operators["ABC"], "staff_abc")
    settle()
    world.issue("ABC", 1_000_000)
    return world.operators["ABC"]


@pytest.mark.parametrize("operator", ["CCB", "ABC"])
def test_staff_cannot_open_a_wallet_on_another_operators_holder(api, abc, operator):
    other_staff = api.world.staff_of[operator]
    name, phone = "Zhou Xiaoming", "13712345678"
    holder = services.holder_register(
        actor=other_staff,
        operator=api.world.operators[operator],
        display_name=name,
        kyc_method=KycMethod.PHONE_ONLY,
        phone=phone,
    )
    theirs = services.wallet_open(actor=other_staff, holder=holder)
    services.wallet_load(
        actor=other_staff, wallet=theirs, amount=50_000, idempotency_key=f"load-{operator}"
    )
    settle()
    staff = api.client("icbc_staff")
    wallets, holders = Wallet.objects.count(), Holder.objects.count()
    before = balances(theirs, api.wallets["alice"])
    answers = []

    opened = staff.post("/api/v1/wallets", {"holder_id": holder.pseudonym}, "json")
    answers.append(opened)
    assert (opened.status_code, opened.json()["code"]) == (404, "NOT_FOUND")
    assert [e["pointer"] for e in opened.json()["errors"]] == ["/holder_id"]
    # The same answer as for a holder who does not exist: no oracle for who banks where.
    nobody = staff.post("/api/v1/wallets", {"holder_id": "h_doesnotexist"}, "json")
    assert nobody.status_code == 404
    assert opened.content.decode() == nobody.content.decode().replace(
        "h_doesnotexist", holder.pseudonym
    )
    # Nor by naming the other operator: there is no field for it.
    named = staff.post(
        "/api/v1/wallets",
        {"holder_id": holder.pseudonym, "operator": operator},
        "json",
    )
    answers.append(named)
    assert (named.status_code, named.json()["code"]) == (400, "UNKNOWN_FIELD")

    # Their wallets are not there for ICBC's staff either: not to see, load or pay from.
    path = f"/api/v1/wallets/{theirs.number}"
    answers += [
        staff.get(path),
        staff.get(f"{path}/history"),
        staff.get(f"{path}/freezes"),
        staff.post(f"{path}/load", {"amount": "1.00"}, "json", **idem()),
        staff.post(f"{path}/unload", {"amount": "1.00"}, "json", **idem()),
        staff.post(f"{path}/freezes", {"scope": "FULL", "reason": "x"}, "json"),
        staff.post(f"{path}/close", {"reason": "x"}, "json"),
        staff.post(
            "/api/v1/transfers",
            {"payer": theirs.number, "payee": api.number("alice"), "amount": "1.00"},
            "json",
            **idem(),
        ),
    ]
    assert [r.status_code for r in answers[2:]] == [404] * 8
    assert {r.json()["code"] for r in answers[2:]} == {"NOT_FOUND"}
    batch = staff.post(
        "/api/v1/transfers/batch",
        {
            "transfers": [
                {
                    "payer": theirs.number,
                    "payee": api.number("alice"),
                    "amount": "1.00",
                    "idempotency_key": "steal",
                }
            ]
        },
        "json",
        **idem(),
    )
    answers.append(batch)
    assert (batch.status_code, batch.json()["accepted"]) == (202, 0)
    assert batch.json()["results"][0]["problem"]["code"] == "NOT_FOUND"
    # Nor in ICBC staff's lists.
    answers.append(staff.get("/api/v1/wallets", {"page_size": 100}))
    assert theirs.number not in {w["number"] for w in answers[-1].json()["results"]}

    for response in answers:
        assert name not in response.content.decode(), response.request["PATH_INFO"]
        assert phone not in response.content.decode(), response.request["PATH_INFO"]
    assert (Wallet.objects.count(), Holder.objects.count()) == (wallets, holders)
    assert balances(theirs, api.wallets["alice"]) == before
    assert not Transfer.objects.filter(idempotency_key__startswith="api:").exists()


# ---------------------------------------------------------------- a suspended operator


def test_a_suspended_operator_pays_nothing_out_and_its_holders_still_receive(api):
    alice, bob, shop = (api.wallets[name] for name in ("alice", "bob", "shop"))
    icbc = api.world.operators["ICBC"]
    staff, approver, issuer = (api.client(n) for n in ("icbc_staff", "approver", "issuer"))
    vault = icbc.vault_account

    def everything():
        return balances(alice, bob, shop, vault)

    issuance = issuer.post(
        "/api/v1/issuances",
        {"operator": "ICBC", "direction": "ISSUE", "amount": "100.00"},
        "json",
        **idem(),
    ).json()

    # A payment queued while a doorbell is pending (a worker busy elsewhere), then the
    # central bank suspends ICBC before it settles.
    doorbell.raise_flag()
    try:
        queued = staff.post(
            "/api/v1/transfers",
            {"payer": alice.number, "payee": shop.number, "amount": "3.00"},
            "json",
            **idem(),
        )
        assert (queued.status_code, queued.json()["state"]) == (202, "RECEIVED")
        before = everything()
        services.operator_set_status(
            actor=api.world.checker, operator=icbc, status=OperatorStatus.SUSPENDED
        )
        settle()
    finally:
        doorbell.answer()
    transfer = api.client("alice").get(queued["Location"]).json()
    assert (transfer["state"], transfer["reject_code"]) == ("REJECTED", "OPERATOR_SUSPENDED")
    assert everything() == before

    # Accepted as transfers, rejected by the ledger: a load, an unload, payments.
    load = staff.post(f"/api/v1/wallets/{alice.number}/load", {"amount": "50.00"}, "json", **idem())
    unload = staff.post(
        f"/api/v1/wallets/{alice.number}/unload", {"amount": "5.00"}, "json", **idem()
    )
    for response in (load, unload):
        assert response.status_code == 202
        transfer = staff.get(response["Location"]).json()
        assert (transfer["state"], transfer["reject_code"]) == ("REJECTED", "OPERATOR_SUSPENDED")
    for payer in ("alice", "icbc_staff"):
        assert decided(pay(api.client(payer), alice.number, shop.number, "1.00")) == (
            201,
            "REJECTED",
            "OPERATOR_SUSPENDED",
        )
    assert everything() == before

    # Its holders still receive, from another operator's wallet.
    assert decided(pay(api.client("bob"), bob.number, alice.number, "10.00")) == (
        201,
        "SETTLED",
        None,
    )
    after_receiving = (before[0] + 1_000, before[1] - 1_000, before[2], before[3])
    assert everything() == after_receiving

    # No new wallets there, for a new holder or an existing one; nothing is created.
    wallets, holders = Wallet.objects.count(), Holder.objects.count()
    new_holder = {"display_name": "Qian", "kyc_method": "PHONE_ONLY", "phone": "13911112222"}
    for body in ({"holder": new_holder}, {"holder_id": alice.holder.pseudonym}):
        opened = staff.post("/api/v1/wallets", body, "json")
        assert (opened.status_code, opened.json()["code"]) == (409, "OPERATOR_SUSPENDED")
    assert (Wallet.objects.count(), Holder.objects.count()) == (wallets, holders)

    # No issuance to it: neither a new request nor approving one made before.
    refused = issuer.post(
        "/api/v1/issuances",
        {"operator": "ICBC", "direction": "ISSUE", "amount": "1.00"},
        "json",
        **idem(),
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "OPERATOR_SUSPENDED")
    approve = approver.post(f"/api/v1/issuances/{issuance['id']}/approve", format="json", **idem())
    assert (approve.status_code, approve.json()["code"]) == (409, "OPERATOR_SUSPENDED")
    waiting = IssuanceRequest.objects.get(pk=issuance["id"])
    assert (waiting.state, waiting.transfer_id) == (IssuanceState.REQUESTED, None)
    assert everything() == after_receiving

    # Reinstated, it pays again.
    services.operator_set_status(
        actor=api.world.checker, operator=icbc, status=OperatorStatus.ACTIVE
    )
    assert decided(pay(api.client("alice"), alice.number, shop.number, "1.00")) == (
        201,
        "SETTLED",
        None,
    )
    assert everything() == (
        after_receiving[0] - 100,
        after_receiving[1],
        after_receiving[2] + 100,
        after_receiving[3],
    )


# ---------------------------------------------------------------- tokens


def bearer(api, secret: str):
    client = api.client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_token_minted_with_a_token_never_outlives_it(api):
    secret, day = token_issue(
        actor=Actor.system(), user=api.users["alice"], name="a day", ttl=timedelta(days=1)
    )
    with_day = bearer(api, secret)

    longer = with_day.post("/api/v1/tokens", {"name": "asks 30 days", "ttl_days": 30}, "json")
    forever = with_day.post("/api/v1/tokens", {"name": "asks no expiry"}, "json")
    assert (longer.status_code, forever.status_code) == (201, 201)
    for child in (longer.json(), forever.json()):
        assert child["minted_with"] == day.pk
        assert ApiToken.objects.get(pk=child["id"]).expires_at == day.expires_at
    grandchild = bearer(api, forever.json()["token"]).post(
        "/api/v1/tokens", {"name": "from the child"}, "json"
    )
    assert grandchild.json()["minted_with"] == forever.json()["id"]
    assert ApiToken.objects.get(pk=grandchild.json()["id"]).expires_at == day.expires_at
    # Minted from a signed-in session or by the system, a token keeps the expiry it asks for.
    assert ApiToken.objects.get(user__username="alice", name="test").expires_at is None

    descendants = [bearer(api, r.json()["token"]) for r in (longer, forever, grandchild)]
    assert all(c.get("/api/v1/me").status_code == 200 for c in descendants)
    assert api.client("alice").delete(f"/api/v1/tokens/{day.pk}").status_code == 204
    assert with_day.get("/api/v1/me").status_code == 401
    for client in descendants:
        assert client.get("/api/v1/me").status_code == 401
    assert api.client("alice").get("/api/v1/me").status_code == 200  # not minted with it
    listed = {t["name"]: t for t in api.client("alice").get("/api/v1/tokens").json()}
    revoked = ("a day", "asks 30 days", "asks no expiry", "from the child")
    assert all(listed[name]["revoked_at"] for name in revoked)
    assert listed["test"]["revoked_at"] is None


def test_a_user_holds_at_most_twenty_live_tokens(api, settings):
    assert settings.EWALLET_MAX_TOKENS_PER_USER == 20
    alice = api.client("alice")  # holds one already: "test"
    minted = [alice.post("/api/v1/tokens", {"name": f"t{i}"}, "json") for i in range(19)]
    assert {r.status_code for r in minted} == {201}
    rows = ApiToken.objects.count()

    twenty_first = alice.post("/api/v1/tokens", {"name": "one more"}, "json")
    assert (twenty_first.status_code, twenty_first.json()["code"]) == (409, "TOKEN_LIMIT")
    assert twenty_first.json()["limit"] == 20 and "token" not in twenty_first.json()
    assert ApiToken.objects.count() == rows
    # Revoked ones do not count: revoke one, and one more may be minted.
    assert alice.delete(f"/api/v1/tokens/{minted[0].json()['id']}").status_code == 204
    assert alice.post("/api/v1/tokens", {"name": "one more"}, "json").status_code == 201
    assert alice.post("/api/v1/tokens", {"name": "and another"}, "json").status_code == 409
    assert api.client("bob").post("/api/v1/tokens", {"name": "bob's"}, "json").status_code == 201


def test_revoke_all_revokes_every_token_the_calling_one_included(api):
    alice = api.client("alice")
    others = [alice.post("/api/v1/tokens", {"name": f"t{i}"}, "json").json() for i in range(3)]
    system_made = token_for(api.users["alice"], "cli")
    live = ApiToken.objects.filter(user__username="alice", revoked_at__isnull=True).count()
    assert live == 5

    revoked = alice.post("/api/v1/tokens/revoke-all", format="json")
    assert (revoked.status_code, revoked.json()) == (200, {"revoked": 5})
    assert alice.get("/api/v1/me").status_code == 401
    for secret in [t["token"] for t in others] + [system_made]:
        assert bearer(api, secret).get("/api/v1/me").status_code == 401
    assert not ApiToken.objects.filter(user__username="alice", revoked_at__isnull=True).exists()
    assert api.client("bob").get("/api/v1/me").status_code == 200  # bob's are bob's


@pytest.mark.parametrize(
    ("field", "value"), [("user", "bob"), ("user_id", None), ("username", "bob")]
)
def test_no_one_mints_a_token_for_someone_else_through_the_api(api, field, value):
    value = api.users["bob"].pk if value is None else value
    bobs = ApiToken.objects.filter(user__username="bob").count()
    for who in ("alice", "approver", "icbc_staff"):
        response = api.client(who).post("/api/v1/tokens", {"name": "x", field: value}, "json")
        assert (response.status_code, response.json()["code"]) == (400, "UNKNOWN_FIELD")
        assert [e["pointer"] for e in response.json()["errors"]] == [f"/{field}"]
    assert ApiToken.objects.filter(user__username="bob").count() == bobs


# ---------------------------------------------------------------- rate limits


def test_a_users_tokens_share_one_rate_window(api, settings):
    second = token_for(api.users["alice"], "second")
    settings.EWALLET_API_RATE = "3/m"
    fresh_rate_windows()
    first, other = api.client("alice"), bearer(api, second)
    statuses = [c.get("/api/v1/me").status_code for c in (first, other, first, other)]
    assert statuses == [200, 200, 200, 429]
    assert first.get("/api/v1/me").status_code == 429
    # A fresh token is no fresh window (it can only be minted by the system now, too).
    assert bearer(api, token_for(api.users["alice"], "fresh")).get("/api/v1/me").status_code == 429
    limited = other.get("/api/v1/me")
    assert (limited.json()["code"], 1 <= int(limited["Retry-After"]) <= 61) == (
        "RATE_LIMITED",
        True,
    )
    assert api.client("bob").get("/api/v1/me").status_code == 200  # another user's window
