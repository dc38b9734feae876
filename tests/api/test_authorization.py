"""Who may do what: every endpoint x every role x own and someone else's object.

One world per test; each case builds what it needs fresh (a token, an issuance request, a
wallet to freeze or close, a freeze order to lift), and a case that changes state changes
it to what it was (a class to the current class) or moves a fen, so the cases do not
depend on each other's order. Every mismatch is collected and reported together, so one
run shows every leak.
"""

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from settlement.audit.checkpoint import checkpoint_seal
from settlement.models import Transfer
from tests.api.conftest import token_for
from tests.helpers import actor_with, hardware_wallet, offline_sync
from wallets import offline, services
from wallets.actors import Actor
from wallets.auth import token_issue
from wallets.models import ApiToken, DoubleSpendAlert, FreezeScope, WebhookDelivery
from wallets.roles import Role

ROLES = [
    "anon",
    "alice",
    "bob",
    "icbc_staff",
    "ccb_staff",
    "issuer",
    "approver",
    "policy",
    "auditor",
    "shop_staff",  # the staff of an ICBC merchant, the Luohu Fresh Market
    "books_staff",  # the staff of another merchant, Futian Books, at CCB
]
CENTRAL_BANK = {"issuer", "approver", "policy", "auditor"}
_keys = itertools.count()


@dataclass
class Case:
    name: str
    method: str
    path: Callable  # (api, fixtures) -> path; may create what the case acts on
    expect: dict[str, int]
    body: dict | Callable | None = None
    idempotent: bool = False
    # The code every 403 of this case must carry, where it is a specific one.
    denied_code: str | None = None
    # Call with a token minted for the case (the case revokes the caller's tokens).
    own_token: bool = False


def everyone(status: int, anon: int = 401, **overrides: int) -> dict[str, int]:
    return {role: status for role in ROLES} | {"anon": anon} | overrides


def only(allowed: dict[str, int], seen: set[str], denied: int = 403) -> dict[str, int]:
    """`allowed` roles get their status; others who can see the object 403; the rest 404."""
    return {role: allowed.get(role, denied if role in seen else 404) for role in ROLES} | {
        "anon": 401
    }


def cb(status: int) -> dict[str, int]:
    return {role: status for role in CENTRAL_BANK}


SEES_ALICE = {"alice", "icbc_staff", *CENTRAL_BANK}
SEES_BOB = {"bob", "ccb_staff", *CENTRAL_BANK}
SEES_ALICE_TO_SHOP = {"alice", "icbc_staff", "ccb_staff", *CENTRAL_BANK}
SEES_ICBC_ISSUANCE = {"icbc_staff", *CENTRAL_BANK}
SEES_SHOP = {"shop_staff", "icbc_staff", *CENTRAL_BANK}  # the merchant and all it receives
# A sub-wallet Alice pushed to the shop: her side, the shop's staff and the central bank.
SEES_ALICES_SUB = {"alice", "icbc_staff", "shop_staff", *CENTRAL_BANK}


def wallet(name, suffix=""):
    return lambda api, fx: f"/api/v1/wallets/{api.number(name)}{suffix}"


def fresh_token(api, fx):
    _, token = token_issue(actor=Actor.system(), user=api.users["alice"], name="to revoke")
    return f"/api/v1/tokens/{token.pk}"


def fresh_wallet(owner: str, suffix: str = ""):
    """A new, empty wallet for the same holder as `owner`'s, opened by their operator."""

    def path(api, fx):
        holder = api.wallets[owner].holder
        wallet = services.wallet_open(
            actor=api.world.staff_of[api.wallets[owner].operator.code], holder=holder
        )
        return f"/api/v1/wallets/{wallet.number}{suffix}"

    return path


def fresh_order(owner: str, by: str):
    """A new wallet of `owner`'s holder under a FULL freeze ordered by `by`; the path lifts it."""

    def path(api, fx):
        holder = api.wallets[owner].holder
        wallet = services.wallet_open(
            actor=api.world.staff_of[api.wallets[owner].operator.code], holder=holder
        )
        order = services.wallet_freeze(
            actor=api.actors[by], wallet=wallet, scope=FreezeScope.FULL, reason="case"
        )
        return f"/api/v1/wallets/{wallet.number}/freezes/{order.pk}/lift"

    return path


def open_for(owner: str):
    return lambda api, fx: {"holder_id": api.wallets[owner].holder.pseudonym}


def fresh_issuance(suffix):
    def path(api, fx):
        request = services.issuance_request(
            actor=api.world.maker,
            operator=api.world.operators["ICBC"],
            amount=100,
            direction="ISSUE",
        )
        return f"/api/v1/issuances/{request.pk}{suffix}"

    return path


def payment(api, fx):
    return {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "0.01"}


def batch(api, fx):
    item = {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "0.01"}
    return {"transfers": [{**item, "idempotency_key": f"item-{next(_keys)}"}]}


def shop(suffix: str = ""):
    return lambda api, fx: f"/api/v1/merchants/{fx['shop'].merchant.code}{suffix}"


def new_merchant(api, fx):
    return {
        "name": "New shop",
        "mcc": "5812",
        "region": "440304",
        "licence_number": f"91440300MA5R{next(_keys):06d}",
    }


def fresh_request(suffix: str = ""):
    """A new 0.01 request of the shop's, made by its staff."""

    def path(api, fx):
        made = services.payment_request_create(actor=fx["shop"].staff, amount=1)
        return f"/api/v1/payment-requests/{made.code}{suffix}"

    return path


def shop_hook(name: str, suffix: str = ""):
    """One of the shop's webhook endpoints, registered by its staff in the fixtures."""
    return lambda api, fx: f"/api/v1/webhooks/{fx[name].pk}{suffix}"


def shop_delivery(suffix: str = ""):
    return lambda api, fx: f"/api/v1/webhook-deliveries/{fx['shop_delivery']}{suffix}"


def pay_the_shop_from_alices(api, fx):
    made = services.payment_request_create(actor=fx["shop"].staff, amount=1)
    return {"payload": services.request_payload(made), "wallet": api.number("alice")}


def fresh_escrow(suffix: str = "", **condition):
    """A new escrow of 0.01 from alice's wallet to bob's, made by alice."""

    def path(api, fx):
        approver = condition.get("approver")
        made = services.escrow_create(
            actor=api.actors["alice"],
            payer=api.number("alice"),
            payee=api.number("bob"),
            amount=1,
            condition=condition.get("condition", "PAYER_CONFIRMS"),
            approver=approver and api.users[approver].get_username(),
            idempotency_key=f"escrow-{next(_keys)}",
        )
        return f"/api/v1/escrows/{made.pk}{suffix}"

    return path


def escrow_from_alices(api, fx):
    return {
        "payer": api.number("alice"),
        "payee": api.number("bob"),
        "amount": "0.01",
        "condition": "PAYER_CONFIRMS",
    }


def fresh_sub_wallet(suffix: str = ""):
    """A new 0.01 sub-wallet Alice pushed to the shop."""

    def path(api, fx):
        made = services.sub_wallet_push(
            actor=api.actors["alice"],
            parent=api.wallets["alice"],
            merchant=fx["shop"].merchant.code,
            cap=1,
            expires_at=timezone.now() + timedelta(days=1),
        )
        return f"/api/v1/sub-wallets/{made.code}{suffix}"

    return path


def push_from_alices_to_the_shop(api, fx):
    return {
        "wallet": api.number("alice"),
        "merchant": fx["shop"].merchant.code,
        "cap": "0.01",
        "expires_at": (timezone.now() + timedelta(days=1)).isoformat(),
    }


def fresh_disclosure(suffix: str = "", approvals: int = 0):
    """A new request by the issuer to disclose who is behind Bob's pseudonym (Bob is
    anonymous: class 4, phone only), with the matrix's approver's approval and then a
    second approver's, as many as `approvals` says."""

    def path(api, fx):
        made = services.identity_disclosure_request(
            actor=api.actors["issuer"],
            pseudonym=api.wallets["bob"].holder.pseudonym,
            reason="court order 42",
        )
        for approver in [api.actors["approver"], fx["approver2"]][:approvals]:
            services.identity_disclosure_approve(actor=approver, disclosure_id=made.pk)
        return f"/api/v1/disclosures/{made.pk}{suffix}"

    return path


def disclose_bob(api, fx):
    return {"holder": api.wallets["bob"].holder.pseudonym, "reason": "court order 43"}


def card(name: str, suffix: str = ""):
    """A hardware wallet registered in the fixtures (alice's card)."""
    return lambda api, fx: f"/api/v1/offline-devices/{fx[name].id}{suffix}"


def new_card_for_alices(api, fx):
    secret = offline.Device.new_key(random.Random(f"matrix-card:{next(_keys)}"))
    return {"wallet": api.number("alice"), "public_key": offline.public_key_of(secret).hex()}


CASES = [
    Case("health", "get", lambda api, fx: "/api/v1/health", everyone(200, anon=200)),
    Case("me", "get", lambda api, fx: "/api/v1/me", everyone(200)),
    Case("tokens", "get", lambda api, fx: "/api/v1/tokens", everyone(200)),
    Case("token create", "post", lambda api, fx: "/api/v1/tokens", everyone(201), {"name": "x"}),
    Case("token revoke: alice's", "delete", fresh_token, everyone(404, alice=204)),
    Case(
        "tokens revoke-all",
        "post",
        lambda api, fx: "/api/v1/tokens/revoke-all",
        everyone(200),
        own_token=True,
    ),
    Case(
        "device enrol: alice's holder",
        "post",
        lambda api, fx: f"/api/v1/holders/{api.wallets['alice'].holder.pseudonym}/devices",
        only({"icbc_staff": 201}, SEES_ALICE),
        {"name": "phone"},
    ),
    Case("wallets", "get", lambda api, fx: "/api/v1/wallets", everyone(200)),
    Case(
        "wallet open",
        "post",
        lambda api, fx: "/api/v1/wallets",
        everyone(403, icbc_staff=201, ccb_staff=201),
        {"holder": {"display_name": "New", "kyc_method": "PHONE_ONLY", "phone": "13900000000"}},
    ),
    Case("wallet: alice's", "get", wallet("alice"), only(dict.fromkeys(SEES_ALICE, 200), set())),
    Case("wallet: bob's", "get", wallet("bob"), only(dict.fromkeys(SEES_BOB, 200), set())),
    Case(
        "history: alice's",
        "get",
        wallet("alice", "/history"),
        only(dict.fromkeys(SEES_ALICE, 200), set()),
    ),
    Case(
        "history: bob's",
        "get",
        wallet("bob", "/history"),
        only(dict.fromkeys(SEES_BOB, 200), set()),
    ),
    Case(
        "class: alice's",
        "post",
        wallet("alice", "/class"),
        only({"icbc_staff": 200}, SEES_ALICE),
        {"wallet_class": 2},
    ),
    Case(
        "wallet open: alice's holder (ICBC's)",
        "post",
        lambda api, fx: "/api/v1/wallets",
        only({"icbc_staff": 201}, SEES_ALICE),
        open_for("alice"),
    ),
    Case(
        "wallet open: bob's holder (CCB's)",
        "post",
        lambda api, fx: "/api/v1/wallets",
        only({"ccb_staff": 201}, SEES_BOB),
        open_for("bob"),
    ),
    Case(
        "freezes: alice's",
        "get",
        wallet("alice", "/freezes"),
        only(dict.fromkeys(SEES_ALICE, 200), set()),
    ),
    Case(
        "freezes: bob's",
        "get",
        wallet("bob", "/freezes"),
        only(dict.fromkeys(SEES_BOB, 200), set()),
    ),
    Case(
        "freeze: alice's",
        "post",
        fresh_wallet("alice", "/freezes"),
        only({"icbc_staff": 201, "approver": 201}, SEES_ALICE),
        {"scope": "RECEIVE_ONLY", "reason": "review"},
    ),
    Case(
        "freeze: bob's",
        "post",
        fresh_wallet("bob", "/freezes"),
        only({"ccb_staff": 201, "approver": 201}, SEES_BOB),
        {"scope": "FULL", "reason": "review"},
    ),
    Case(
        "lift: ICBC's order on alice's",
        "post",
        fresh_order("alice", by="icbc_staff"),
        only({"icbc_staff": 200}, SEES_ALICE),
        {"reason": "cleared"},
        denied_code="FREEZE_AUTHORITY",
    ),
    Case(
        "lift: the central bank's order on alice's",
        "post",
        fresh_order("alice", by="approver"),
        only({"approver": 200}, SEES_ALICE),
        {"reason": "cleared"},
        denied_code="FREEZE_AUTHORITY",
    ),
    Case(
        "lift: CCB's order on bob's",
        "post",
        fresh_order("bob", by="ccb_staff"),
        only({"ccb_staff": 200}, SEES_BOB),
        {"reason": "cleared"},
        denied_code="FREEZE_AUTHORITY",
    ),
    Case(
        "lift: the central bank's order on bob's",
        "post",
        fresh_order("bob", by="approver"),
        only({"approver": 200}, SEES_BOB),
        {"reason": "cleared"},
        denied_code="FREEZE_AUTHORITY",
    ),
    Case(
        "close: alice's",
        "post",
        fresh_wallet("alice", "/close"),
        only({"icbc_staff": 200}, SEES_ALICE),
        {"reason": "asked to"},
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "close: bob's",
        "post",
        fresh_wallet("bob", "/close"),
        only({"ccb_staff": 200}, SEES_BOB),
        {"reason": "asked to"},
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "load: alice's",
        "post",
        wallet("alice", "/load"),
        only({"icbc_staff": 202}, SEES_ALICE),
        {"amount": "0.01"},
        idempotent=True,
    ),
    Case(
        "unload: alice's",
        "post",
        wallet("alice", "/unload"),
        only({"icbc_staff": 202}, SEES_ALICE),
        {"amount": "0.01"},
        idempotent=True,
    ),
    Case(
        "pay from alice's",
        "post",
        lambda api, fx: "/api/v1/transfers",
        only({"alice": 202, "icbc_staff": 202}, CENTRAL_BANK),
        payment,
        idempotent=True,
    ),
    Case("transfers", "get", lambda api, fx: "/api/v1/transfers", everyone(200)),
    Case(
        "transfer: alice to shop",
        "get",
        lambda api, fx: f"/api/v1/transfers/{fx['alice_to_shop']}",
        only(dict.fromkeys(SEES_ALICE_TO_SHOP, 200), set()),
    ),
    Case(
        "transfer: bob to shop",
        "get",
        lambda api, fx: f"/api/v1/transfers/{fx['bob_to_shop']}",
        only(dict.fromkeys(SEES_BOB | {"ccb_staff"}, 200), set()),
    ),
    Case(
        "receipt: alice to shop",
        "get",
        lambda api, fx: f"/api/v1/transfers/{fx['alice_to_shop']}/receipt",
        only(dict.fromkeys(SEES_ALICE_TO_SHOP, 200), set()),
    ),
    Case(
        "receipt: bob to shop",
        "get",
        lambda api, fx: f"/api/v1/transfers/{fx['bob_to_shop']}/receipt",
        only(dict.fromkeys(SEES_BOB, 200), set()),
    ),
    Case(
        "batch",
        "post",
        lambda api, fx: "/api/v1/transfers/batch",
        everyone(403, icbc_staff=202, ccb_staff=202),
        batch,
        idempotent=True,
    ),
    Case("merchants", "get", lambda api, fx: "/api/v1/merchants", everyone(200)),
    Case(
        "merchant register",
        "post",
        lambda api, fx: "/api/v1/merchants",
        everyone(403, icbc_staff=201, ccb_staff=201),
        new_merchant,
        idempotent=True,
    ),
    Case("merchant: the shop", "get", shop(), only(dict.fromkeys(SEES_SHOP, 200), set())),
    Case(
        "merchant staff enrol: the shop's",
        "post",
        shop("/staff"),
        only({"icbc_staff": 201}, SEES_SHOP),
        {"name": "till"},
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "merchant status: the shop's",
        "post",
        shop("/status"),
        only({"icbc_staff": 200}, SEES_SHOP),
        {"status": "ACTIVE"},
        denied_code="PERMISSION_DENIED",
    ),
    Case("payment requests", "get", lambda api, fx: "/api/v1/payment-requests", everyone(200)),
    Case(
        "payment request create",
        "post",
        lambda api, fx: "/api/v1/payment-requests",
        everyone(403, shop_staff=201, books_staff=201),
        {"amount": "0.01"},
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "payment request: the shop's",
        "get",
        fresh_request(),
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case(
        "qr.png: the shop's",
        "get",
        fresh_request("/qr.png"),
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case(
        "qr.svg: the shop's",
        "get",
        fresh_request("/qr.svg"),
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case(
        "payment request cancel: the shop's",
        "post",
        fresh_request("/cancel"),
        only({"shop_staff": 200}, SEES_SHOP),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "pay the shop's code from alice's",
        "post",
        lambda api, fx: "/api/v1/payments/qr",
        only({"alice": 202, "icbc_staff": 202}, set()),
        pay_the_shop_from_alices,
        idempotent=True,
    ),
    Case("merchant payments", "get", lambda api, fx: "/api/v1/merchant-payments", everyone(200)),
    Case(
        "refund: alice's payment to the shop",
        "post",
        lambda api, fx: f"/api/v1/transfers/{fx['shop_paid']}/refunds",
        # The payer sees the payment but not the merchant's side of it: 404, as elsewhere.
        only({"shop_staff": 201}, {"icbc_staff", *CENTRAL_BANK}),
        {"amount": "0.01"},
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case("refunds", "get", lambda api, fx: "/api/v1/refunds", everyone(200)),
    Case(
        "refund: the shop's",
        "get",
        lambda api, fx: f"/api/v1/refunds/{fx['shop_refund']}",
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case("escrows", "get", lambda api, fx: "/api/v1/escrows", everyone(200)),
    Case(
        "escrow create: from alice's",
        "post",
        lambda api, fx: "/api/v1/escrows",
        only({"alice": 201, "icbc_staff": 201}, CENTRAL_BANK),
        escrow_from_alices,
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "escrow: alice's to bob",
        "get",
        fresh_escrow(),
        only(dict.fromkeys(SEES_ALICE | SEES_BOB, 200), set()),
    ),
    Case(
        "escrow confirm: alice's to bob",
        "post",
        fresh_escrow("/confirm"),
        only({"alice": 202, "icbc_staff": 202}, SEES_ALICE | SEES_BOB),
        idempotent=True,
        denied_code="NOT_THE_PAYER",
    ),
    Case(
        # The approver named is a third party's login: the other merchant's staff.
        "escrow approve: alice's to bob, books_staff approves",
        "post",
        fresh_escrow("/approve", condition="APPROVAL", approver="books_staff"),
        only({"books_staff": 202}, SEES_ALICE | SEES_BOB),
        idempotent=True,
        denied_code="NOT_THE_APPROVER",
    ),
    Case(
        "escrow cancel: alice's to bob",
        "post",
        fresh_escrow("/cancel"),
        only(
            dict.fromkeys(["alice", "icbc_staff", "bob", "ccb_staff"], 200), SEES_ALICE | SEES_BOB
        ),
        idempotent=True,
        denied_code="NOT_A_PARTY",
    ),
    Case("sub-wallets", "get", lambda api, fx: "/api/v1/sub-wallets", everyone(200)),
    Case(
        "sub-wallet push from alice's to the shop",
        "post",
        lambda api, fx: "/api/v1/sub-wallets",
        only({"alice": 201, "icbc_staff": 201}, SEES_ALICE),
        push_from_alices_to_the_shop,
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "sub-wallet: alice's to the shop",
        "get",
        fresh_sub_wallet(),
        only(dict.fromkeys(SEES_ALICES_SUB, 200), set()),
    ),
    Case(
        "sub-wallet revoke: alice's to the shop",
        "post",
        fresh_sub_wallet("/revoke"),
        only({"alice": 200, "icbc_staff": 200}, SEES_ALICES_SUB),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "sub-wallet pull: alice's to the shop",
        "post",
        fresh_sub_wallet("/pull"),
        only({"shop_staff": 202}, SEES_ALICES_SUB),
        {"amount": "0.01"},
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case("offline devices", "get", lambda api, fx: "/api/v1/offline-devices", everyone(200)),
    Case(
        "offline device register on alice's",
        "post",
        lambda api, fx: "/api/v1/offline-devices",
        only({"alice": 201, "icbc_staff": 201}, SEES_ALICE),
        new_card_for_alices,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "offline device: alice's card",
        "get",
        card("alice_card"),
        only(dict.fromkeys(SEES_ALICE, 200), set()),
    ),
    Case(
        "offline load: alice's card",
        "post",
        card("alice_card", "/load"),
        only({"alice": 202, "icbc_staff": 202}, SEES_ALICE),
        {"amount": "0.01"},
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "offline sync: alice's card",
        "post",
        card("alice_card", "/sync"),
        only({"alice": 200, "icbc_staff": 200}, SEES_ALICE),
        {"payments": []},
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "offline payments: alice's card",
        "get",
        card("alice_card", "/payments"),
        only(dict.fromkeys(SEES_ALICE, 200), set()),
    ),
    Case("offline blocklist", "get", lambda api, fx: "/api/v1/offline-blocklist", everyone(200)),
    Case(
        "double-spend alerts", "get", lambda api, fx: "/api/v1/double-spend-alerts", everyone(200)
    ),
    Case(
        # Alice's other card spent twice: its operator takes the case up; the holder does
        # not see the case, the central bank looks on.
        "double-spend alert acknowledge: alice's cloned card's",
        "post",
        lambda api, fx: f"/api/v1/double-spend-alerts/{fx['alert']}/acknowledge",
        only({"icbc_staff": 200}, {"icbc_staff", *CENTRAL_BANK}),
        {"note": "card recalled"},
        denied_code="PERMISSION_DENIED",
    ),
    Case("webhooks", "get", lambda api, fx: "/api/v1/webhooks", everyone(200)),
    Case(
        "webhook register",
        "post",
        lambda api, fx: "/api/v1/webhooks",
        everyone(403, shop_staff=201, books_staff=201),
        {"url": "http://127.0.0.1:9/events"},
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "webhook: the shop's",
        "get",
        shop_hook("shop_hook"),
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case(
        "webhook rotate secret: the shop's",
        "post",
        shop_hook("shop_hook", "/rotate-secret"),
        only({"shop_staff": 200}, SEES_SHOP),
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        # An endpoint of its own, so the others stay live (switching off twice is harmless).
        "webhook switch off: the shop's",
        "delete",
        shop_hook("shop_hook_to_switch_off"),
        only({"shop_staff": 200}, SEES_SHOP),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "webhook deliveries: the shop's endpoint's",
        "get",
        shop_hook("shop_hook", "/deliveries"),
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case("webhook deliveries", "get", lambda api, fx: "/api/v1/webhook-deliveries", everyone(200)),
    Case(
        "webhook delivery: the shop's",
        "get",
        shop_delivery(),
        only(dict.fromkeys(SEES_SHOP, 200), set()),
    ),
    Case(
        "webhook redeliver: the shop's",
        "post",
        shop_delivery("/redeliver"),
        only({"shop_staff": 202}, SEES_SHOP),
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case("issuances", "get", lambda api, fx: "/api/v1/issuances", everyone(200)),
    Case(
        "issuance request",
        "post",
        lambda api, fx: "/api/v1/issuances",
        everyone(403, issuer=201),
        {"operator": "ICBC", "direction": "ISSUE", "amount": "1.00"},
        idempotent=True,
    ),
    Case(
        "issuance: ICBC's",
        "get",
        fresh_issuance(""),
        only(dict.fromkeys(SEES_ICBC_ISSUANCE, 200), set()),
    ),
    Case(
        "issuance approve: ICBC's",
        "post",
        fresh_issuance("/approve"),
        only({"approver": 200}, SEES_ICBC_ISSUANCE),
        idempotent=True,
    ),
    Case(
        "issuance reject: ICBC's",
        "post",
        fresh_issuance("/reject"),
        only({"approver": 200}, SEES_ICBC_ISSUANCE),
        {"reason": "not needed"},
    ),
    Case("voucher programmes", "get", lambda api, fx: "/api/v1/voucher-programmes", everyone(200)),
    Case(
        "voucher programme",
        "get",
        lambda api, fx: f"/api/v1/voucher-programmes/{fx['programme']}",
        everyone(200),
    ),
    Case(
        "vouchers: alice's",
        "get",
        wallet("alice", "/vouchers"),
        only(dict.fromkeys(SEES_ALICE, 200), set()),
    ),
    Case(
        "vouchers: bob's",
        "get",
        wallet("bob", "/vouchers"),
        only(dict.fromkeys(SEES_BOB, 200), set()),
    ),
    Case("money supply", "get", lambda api, fx: "/api/v1/money-supply", everyone(403) | cb(200)),
    # Identity disclosures: the central bank's alone (403 to everyone else, whatever the
    # id); the issuer asks, approvers decide, requester and approvers read the identity.
    Case(
        "disclosures",
        "get",
        lambda api, fx: "/api/v1/disclosures",
        everyone(403) | cb(200),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure request: bob's pseudonym",
        "post",
        lambda api, fx: "/api/v1/disclosures",
        everyone(403, issuer=201),
        disclose_bob,
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure: of bob",
        "get",
        fresh_disclosure(),
        everyone(403) | cb(200),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure: one that does not exist",
        "get",
        lambda api, fx: "/api/v1/disclosures/999999",
        everyone(403) | cb(404),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure approve: of bob",
        "post",
        fresh_disclosure("/approve"),
        everyone(403, approver=200),
        idempotent=True,
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure reject: of bob",
        "post",
        fresh_disclosure("/reject"),
        everyone(403, approver=200),
        {"reason": "the order names another number"},
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure identity: of bob, one approval of two",
        "get",
        fresh_disclosure("/identity", approvals=1),
        everyone(403, issuer=409, approver=409),
        denied_code="PERMISSION_DENIED",
    ),
    Case(
        "disclosure identity: of bob, approved",
        "get",
        fresh_disclosure("/identity", approvals=2),
        everyone(403, issuer=200, approver=200),
        denied_code="PERMISSION_DENIED",
    ),
    Case("checkpoints", "get", lambda api, fx: "/api/v1/audit/checkpoints", everyone(200, 200)),
    Case("latest", "get", lambda api, fx: "/api/v1/audit/checkpoints/latest", everyone(200, 200)),
    Case("keys", "get", lambda api, fx: "/api/v1/audit/keys", everyone(200, 200)),
    Case(
        "consistency",
        "get",
        lambda api, fx: f"/api/v1/audit/consistency?first=1&second={fx['size']}",
        everyone(200, 200),
    ),
]


@pytest.fixture
def fixtures(api, audit_key):
    alice, bob, shop = (api.number(name) for name in ("alice", "bob", "shop"))
    # The cases open a wallet for Bob's anonymous record each time they freeze or close
    # one, and two operators open for one new phone number: the matrix is about who may
    # act, so one person's class-4 cap (tests/wallets/test_wallets_per_person.py, and over
    # HTTP tests/api/test_anonymity_api.py) is lifted here.
    services.wallet_class_update(actor=api.actors["policy"], number=4, wallets_per_person=None)
    # A second approver, outside the matrix: a disclosure takes two besides its requester.
    fx_approver2 = actor_with("approver2", Role.CB_APPROVER)
    fx = {
        "alice_to_shop": services.payment_submit(
            actor=api.actors["alice"], payer=alice, payee=shop, amount=100, idempotency_key="fx-1"
        )[0].pk,
        "bob_to_shop": services.payment_submit(
            actor=api.actors["bob"], payer=bob, payee=shop, amount=100, idempotency_key="fx-2"
        )[0].pk,
    }
    assert set(Transfer.objects.filter(pk__in=fx.values()).values_list("state", flat=True)) == {
        "SETTLED"
    }
    # Two merchants, each with a login of its own staff; the shop registers two webhooks
    # (one for the case that switches it off); alice pays the shop 10.00, which refunds
    # 0.01 of it, and each is an event delivered (attempted: no one listens) to both.
    for role, merchant in (
        ("shop_staff", api.world.merchant("Luohu Fresh Market")),
        ("books_staff", api.world.merchant("Futian Books", operator="CCB")),
    ):
        api.users[role], api.tokens[role] = merchant.staff.user, merchant.token
        fx[role.removesuffix("_staff")] = merchant
    for name in ("shop_hook", "shop_hook_to_switch_off"):
        fx[name] = services.webhook_register(actor=fx["shop"].staff, url="http://127.0.0.1:9/")
    request = services.payment_request_create(actor=fx["shop"].staff, amount=1_000)
    paid = services.payment_request_pay(
        actor=api.actors["alice"],
        payload=services.request_payload(request),
        wallet=alice,
        idempotency_key="fx-3",
    )
    fx["shop_paid"] = paid.transfer.pk
    fx["shop_refund"] = services.refund_create(
        actor=fx["shop"].staff, original=paid.transfer, amount=1, idempotency_key="fx-4"
    ).pk
    fx["shop_delivery"] = WebhookDelivery.objects.filter(endpoint=fx["shop_hook"]).first().pk
    # A voucher programme of the Luohu government (its terms public to every caller).
    now = timezone.now()
    fx["programme"] = services.voucher_programme_create(
        actor=api.actors["policy"],
        name="Luohu red envelopes",
        government_wallet=api.world.wallet("Luohu District Government", klass=1),
        voucher_amount=20_000,
        count=10,
        mccs=["5411"],
        regions=["440303"],
        valid_from=now,
        valid_until=now + timedelta(days=7),
        seed=1,
    ).pk
    fx["approver2"] = fx_approver2
    # Alice's card, 1.00 loaded; Bob's; and a second card of Alice's, cloned to spend its
    # 1.00 twice at Bob's: caught at Bob's sync, its operator alerted.
    fx["alice_card"] = hardware_wallet(api.world, api.wallets["alice"], load=100)
    bobs_card = hardware_wallet(api.world, api.wallets["bob"])
    cheat = hardware_wallet(api.world, api.wallets["alice"], load=100)
    twice = [
        d.pay(bobs_card.id, 100, at_ms=at).signed
        for at, d in enumerate((cheat.device.clone(), cheat.device))
    ]
    offline_sync(api.world, bobs_card, twice)
    fx["alert"] = DoubleSpendAlert.objects.filter(device=cheat.record).first().pk
    fx["size"] = checkpoint_seal().size
    return fx


def test_every_endpoint_by_every_role(api, fixtures):
    assert {role for case in CASES for role in case.expect} == set(ROLES)
    mismatches = []
    for case in CASES:
        for role in ROLES:
            client = api.client(None if role == "anon" else role)
            if case.own_token and role != "anon":
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(api.users[role])}")
            path = case.path(api, fixtures)
            body = case.body(api, fixtures) if callable(case.body) else case.body
            headers = {"HTTP_IDEMPOTENCY_KEY": f"m-{next(_keys)}"} if case.idempotent else {}
            response = getattr(client, case.method)(path, body, format="json", **headers)
            if case.own_token and role != "anon":  # every token of theirs is revoked now
                api.tokens[role] = token_for(api.users[role])
            if response.status_code != case.expect[role]:
                detail = response.json().get("code") if response.content else ""
                mismatches.append(
                    f"{case.name} as {role}: {response.status_code} {detail}, "
                    f"expected {case.expect[role]}"
                )
            if response.status_code >= 400:
                assert response["Content-Type"] == "application/problem+json", (case.name, role)
            if response.status_code == 403 and case.denied_code:
                code = response.json()["code"]
                if code != case.denied_code:
                    mismatches.append(f"{case.name} as {role}: 403 {code}, not {case.denied_code}")
    assert mismatches == []


def test_lists_show_only_what_each_role_may_see(api, fixtures):
    numbers = {name: api.number(name) for name in ("alice", "bob", "shop")}
    expected_wallets = {
        "alice": {"alice"},
        "bob": {"bob"},
        "icbc_staff": {"alice"},
        "ccb_staff": {"bob", "shop"},
        "auditor": {"alice", "bob", "shop"},
    }
    for role, names in expected_wallets.items():
        listed = {w["number"] for w in api.client(role).get("/api/v1/wallets").json()["results"]}
        assert listed & set(numbers.values()) == {numbers[n] for n in names}, role

    expected_transfers = {
        "alice": {"alice_to_shop"},
        "bob": {"bob_to_shop"},
        "shop": {"alice_to_shop", "bob_to_shop"},
        "icbc_staff": {"alice_to_shop"},
        "ccb_staff": {"alice_to_shop", "bob_to_shop"},
        "auditor": {"alice_to_shop", "bob_to_shop"},
    }
    ids = {fixtures["alice_to_shop"]: "alice_to_shop", fixtures["bob_to_shop"]: "bob_to_shop"}
    for role, names in expected_transfers.items():
        listed = {t["id"] for t in api.client(role).get("/api/v1/transfers").json()["results"]}
        assert {ids[i] for i in listed if i in ids} == names, role
        if role in ("alice", "bob"):  # a holder sees no one else's loads or issuance
            assert all(i in ids or _touches_own(api, role, i) for i in listed), role


def _touches_own(api, role, transfer_id) -> bool:
    """The transfer moves money of the holder's wallet, or of one of its hardware wallets'
    reserves."""
    wallet = api.wallets[role]
    accounts = [wallet.account_id, *wallet.offline_devices.values_list("account_id", flat=True)]
    legs = Transfer.objects.get(pk=transfer_id).legs
    return legs.filter(Q(debit_id__in=accounts) | Q(credit_id__in=accounts)).exists()


def test_the_central_bank_knows_anonymous_holders_by_pseudonym_only(api, fixtures):
    bob = api.number("bob")  # class 4: phone only
    as_cb = api.client("auditor").get(f"/api/v1/wallets/{bob}").json()["holder"]
    as_operator = api.client("ccb_staff").get(f"/api/v1/wallets/{bob}").json()["holder"]
    as_bob = api.client("bob").get(f"/api/v1/wallets/{bob}").json()["holder"]
    assert as_cb["name"] is None and as_cb["id"].startswith("h_")
    assert as_operator["name"] == as_bob["name"] == "Bob"
    # Only the central bank sees the link between one person's records at several operators.
    assert len(as_cb["identity_link"]) == 64
    assert as_operator["identity_link"] is None and as_bob["identity_link"] is None
    named = api.client("auditor").get(f"/api/v1/wallets/{api.number('alice')}").json()
    assert named["holder"]["name"] == "Alice"  # class 2: real-name KYC


def test_an_approver_who_made_the_request_cannot_approve_it(api):
    from django.contrib.auth.models import Group

    both = api.users["issuer"]
    both.groups.add(Group.objects.get(name="cb_approver"))
    client = api.client("issuer")
    made = client.post(
        "/api/v1/issuances",
        {"operator": "ICBC", "direction": "ISSUE", "amount": "5.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="self",
    ).json()
    response = client.post(
        f"/api/v1/issuances/{made['id']}/approve", format="json", HTTP_IDEMPOTENCY_KEY="self-2"
    )
    assert (response.status_code, response.json()["code"]) == (403, "MAKER_CHECKER")


def test_a_revoked_or_expired_token_stops_working(api):
    from datetime import timedelta

    from django.utils import timezone

    client = api.client("alice")
    assert client.get("/api/v1/me").status_code == 200
    token = ApiToken.objects.get(prefix=api.tokens["alice"][:11])
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    assert client.get("/api/v1/me").status_code == 401
    token.expires_at, token.revoked_at = None, timezone.now()
    token.save()
    assert client.get("/api/v1/me").status_code == 401
    assert ApiToken.objects.filter(key_hash=api.tokens["alice"]).count() == 0  # hashed at rest
