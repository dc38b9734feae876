"""Merchant acquiring in the console: each page against each role, every action through
the page a person would use, and the refusals the services give shown on the form.

ICBC acquires the Luohu Tea House and the Gusu Bookshop, CCB the Futian Noodle Bar; each
has one staff login with a console password. Alice (ICBC, class 2, 1,000 CNY) has paid
the Tea House's request T-1 of 36.80 CNY.
"""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ewallet.money import yuan
from tests.helpers import balance, key, password_login, settle
from tests.wallets.console_world import CENTRAL_BANK, STAFF, ConsoleWorld, merchant_registered
from wallets import services
from wallets.actors import Actor
from wallets.auth import token_authenticate
from wallets.models import (
    Merchant,
    MerchantPayment,
    MerchantStatus,
    PaymentRequest,
    PaymentRequestKind,
    Refund,
)

pytestmark = pytest.mark.django_db

MERCHANT_STAFF = ["tea_staff", "book_staff", "noodle_staff"]
EVERYONE = [*STAFF, *MERCHANT_STAFF]


@pytest.fixture
def console(world):
    console = ConsoleWorld.build(world)
    console.tea = merchant_registered(
        console, "Luohu Tea House", "ICBC", "tea_staff", "91440300MA5T000001"
    )
    console.books = merchant_registered(
        console, "Gusu Bookshop", "ICBC", "book_staff", "91320500MA5B000002"
    )
    console.noodles = merchant_registered(
        console, "Futian Noodle Bar", "CCB", "noodle_staff", "91440300MA5N000003"
    )
    tea_staff = Actor.of(console.users["tea_staff"])
    console.request = services.payment_request_create(
        actor=tea_staff, merchant=console.tea, amount=3_680, order_reference="T-1"
    )
    console.payment = services.payment_request_pay(
        actor=console.actors["icbc_staff"],
        payload=services.request_payload(console.request),
        wallet=console.wallets["alice"].number,
        idempotency_key=key("qr"),
    ).payment
    settle()
    console.refund = services.refund_create(
        actor=tea_staff, original=console.payment.transfer, amount=100, idempotency_key=key("r")
    )
    settle()
    return console


def tea(c):
    return c.tea.pk


def sub(c):
    """Alice's sub-wallet for the Tea House, pushed by ICBC's staff for her (made when first
    asked for, so the other examples' balances stay as they were)."""
    if not hasattr(c, "sub"):
        c.sub = services.sub_wallet_push(
            actor=c.actors["icbc_staff"],
            parent=c.wallets["alice"],
            merchant=c.tea.code,
            cap=yuan(50),
            expires_at=timezone.now() + timedelta(days=30),
        )
        settle()
    return c.sub


# Rows of the Tea House: the central bank, ICBC (its acquirer) and its own staff see them;
# to CCB's staff and to another merchant's staff, even one of ICBC's, they do not exist.
TEA_ROW = {
    **dict.fromkeys(CENTRAL_BANK, 200),
    "icbc_staff": 200,
    "tea_staff": 200,
    "ccb_staff": 404,
    "book_staff": 404,
    "noodle_staff": 404,
}
EVERYONE_200 = dict.fromkeys(EVERYONE, 200)
# Acting for the Tea House's operator: ICBC's staff only.
TEA_OPERATOR = {"icbc_staff": 200, "ccb_staff": 404, "book_staff": 404, "noodle_staff": 404}
# Acting for the Tea House: its own staff only.
TEA_ITSELF = {"tea_staff": 200, "ccb_staff": 404, "book_staff": 404, "noodle_staff": 404}

# (page, URL, expected status per user; users not named get 403; the holder, who is not
# staff, is sent to the login page)
PAGES = [
    ("dashboard", lambda c: "/admin/", EVERYONE_200),
    ("merchants", lambda c: "/admin/wallets/merchant/", EVERYONE_200),
    ("the Tea House", lambda c: f"/admin/wallets/merchant/{tea(c)}/change/", TEA_ROW),
    ("its history", lambda c: f"/admin/wallets/merchant/{tea(c)}/history/", TEA_ROW),
    (
        "register a merchant",
        lambda c: "/admin/wallets/merchant/add/",
        {"icbc_staff": 200, "ccb_staff": 200},
    ),
    ("enrol Tea House staff", lambda c: f"/admin/wallets/merchant/{tea(c)}/staff/", TEA_OPERATOR),
    ("suspend the Tea House", lambda c: f"/admin/wallets/merchant/{tea(c)}/suspend/", TEA_OPERATOR),
    (
        "reinstate the Tea House",
        lambda c: f"/admin/wallets/merchant/{tea(c)}/reinstate/",
        TEA_OPERATOR,
    ),
    ("delete the Tea House", lambda c: f"/admin/wallets/merchant/{tea(c)}/delete/", {}),
    ("payment requests", lambda c: "/admin/wallets/paymentrequest/", EVERYONE_200),
    (
        "request T-1",
        lambda c: f"/admin/wallets/paymentrequest/{c.request.pk}/change/",
        TEA_ROW,
    ),
    (
        "new payment request",
        lambda c: "/admin/wallets/paymentrequest/new/",
        dict.fromkeys(MERCHANT_STAFF, 200),
    ),
    (
        "new collection code",
        lambda c: "/admin/wallets/paymentrequest/collection/",
        dict.fromkeys(MERCHANT_STAFF, 200),
    ),
    ("add a request the default way", lambda c: "/admin/wallets/paymentrequest/add/", {}),
    (
        "cancel request T-1",
        lambda c: f"/admin/wallets/paymentrequest/{c.request.pk}/cancel/",
        TEA_ITSELF,
    ),
    ("merchant payments", lambda c: "/admin/wallets/merchantpayment/", EVERYONE_200),
    (
        "Alice's payment of T-1",
        lambda c: f"/admin/wallets/merchantpayment/{c.payment.pk}/change/",
        TEA_ROW,
    ),
    (
        "refund it",
        lambda c: f"/admin/wallets/merchantpayment/{c.payment.pk}/refund/",
        TEA_ITSELF,
    ),
    ("refunds", lambda c: "/admin/wallets/refund/", EVERYONE_200),
    ("the refund", lambda c: f"/admin/wallets/refund/{c.refund.pk}/change/", TEA_ROW),
    ("add a refund the default way", lambda c: "/admin/wallets/refund/add/", {}),
    # A merchant's staff see their own settlement wallet, and nobody's else.
    (
        "the Tea House's wallet",
        lambda c: f"/admin/wallets/wallet/{c.tea.settlement_wallet_id}/change/",
        TEA_ROW,
    ),
    (
        "Alice's wallet",
        lambda c: f"/admin/wallets/wallet/{c.wallets['alice'].pk}/change/",
        {
            **dict.fromkeys(CENTRAL_BANK, 200),
            "icbc_staff": 200,
            **dict.fromkeys(["ccb_staff", *MERCHANT_STAFF], 404),
        },
    ),
    ("holders", lambda c: "/admin/wallets/holder/", dict.fromkeys(STAFF, 200)),
    # Sub-wallets: Alice's for the Tea House is seen by her operator, the Tea House and the
    # central bank; only her operator's staff revoke it here (she does from her app).
    ("sub-wallets", lambda c: "/admin/wallets/subwallet/", EVERYONE_200),
    (
        "Alice's sub-wallet for the Tea House",
        lambda c: f"/admin/wallets/subwallet/{sub(c).pk}/change/",
        TEA_ROW,
    ),
    (
        "revoke Alice's sub-wallet",
        lambda c: f"/admin/wallets/subwallet/{sub(c).pk}/revoke/",
        TEA_OPERATOR,
    ),
    ("add a sub-wallet the default way", lambda c: "/admin/wallets/subwallet/add/", {}),
]


@pytest.mark.parametrize(("page", "url", "expected"), PAGES, ids=[page[0] for page in PAGES])
def test_each_role_opens_exactly_its_merchant_pages(console, page, url, expected):
    path = url(console)
    mismatches = []
    for who in [*EVERYONE, "holder"]:
        want = 302 if who == "holder" else expected.get(who, 403)
        got = console.client(who).get(path).status_code
        if got != want:
            mismatches.append(f"{who}: {got}, expected {want}")
    assert not mismatches, f"{page} ({path}): " + "; ".join(mismatches)


def listed(client: Client, url: str) -> set[int]:
    return {row.pk for row in client.get(url).context["cl"].result_list}


def test_each_list_shows_exactly_the_roles_scope(console):
    tea, books, noodles = console.tea.pk, console.books.pk, console.noodles.pk
    merchants = "/admin/wallets/merchant/"
    assert listed(console.client("auditor"), merchants) == {tea, books, noodles}
    assert listed(console.client("icbc_staff"), merchants) == {tea, books}
    assert listed(console.client("ccb_staff"), merchants) == {noodles}
    assert listed(console.client("tea_staff"), merchants) == {tea}
    assert listed(console.client("book_staff"), merchants) == {books}

    book_staff = Actor.of(console.users["book_staff"])
    code = services.collection_code_create(actor=book_staff, merchant=console.books)
    requests = "/admin/wallets/paymentrequest/"
    assert listed(console.client("tea_staff"), requests) == {console.request.pk}
    assert listed(console.client("book_staff"), requests) == {code.pk}
    assert listed(console.client("icbc_staff"), requests) == {console.request.pk, code.pk}
    assert listed(console.client("ccb_staff"), requests) == set()
    for url, row in [
        ("/admin/wallets/merchantpayment/", console.payment.pk),
        ("/admin/wallets/refund/", console.refund.pk),
    ]:
        for who, sees in [("issuer", True), ("icbc_staff", True), ("tea_staff", True)]:
            assert (row in listed(console.client(who), url)) is sees, (url, who)
        for who in ["ccb_staff", "book_staff", "noodle_staff"]:
            assert listed(console.client(who), url) == set(), (url, who)


def test_no_list_or_filter_names_a_merchant_out_of_scope(console):
    lists = [
        "/admin/wallets/merchant/",
        "/admin/wallets/paymentrequest/",
        "/admin/wallets/merchantpayment/",
        "/admin/wallets/refund/",
    ]
    for who, unseen in [
        ("ccb_staff", ["Luohu Tea House", "Gusu Bookshop"]),
        ("icbc_staff", ["Futian Noodle Bar"]),
        ("book_staff", ["Luohu Tea House", "Futian Noodle Bar"]),
    ]:
        client = console.client(who)
        for url in lists:
            page = client.get(url).content.decode()
            assert not [name for name in unseen if name in page], (who, url)


def test_the_merchant_list_names_category_region_wallet_and_balance(console):
    page = console.client("icbc_staff").get("/admin/wallets/merchant/").content.decode()
    wallet = console.tea.settlement_wallet
    for shown in ["Luohu Tea House", console.tea.code, "5812 Restaurants"]:
        assert shown in page, shown
    assert "440303 Shenzhen, Luohu" in page and wallet.number in page
    # 36.80 paid, 1.00 refunded: 35.80 to the fen.
    assert balance(wallet) == 3_580 and "35.80" in page


def test_the_sidebar_shows_each_role_its_merchant_pages(console):
    links = [
        "/admin/wallets/merchant/",
        "/admin/wallets/paymentrequest/",
        "/admin/wallets/merchantpayment/",
        "/admin/wallets/refund/",
    ]
    for who in ["auditor", "icbc_staff", "tea_staff"]:
        page = console.client(who).get("/admin/").content.decode()
        assert all(f'href="{link}"' in page for link in links), who
    page = console.client("tea_staff").get("/admin/").content.decode()
    assert 'href="/admin/wallets/holder/"' not in page
    assert 'id="merchant-balance" data-fen="3580"' in page


# ---------------------------------------------------------------- buttons


def buttons(client: Client, url: str, actions: list[str]) -> set[str]:
    """The actions whose links a page (a list, or a row's page) shows."""
    page = client.get(url).content.decode()
    return {name for name in actions if f'href="{url.removesuffix("change/")}{name}/"' in page}


def test_the_central_bank_sees_but_has_no_buttons(console):
    merchant = f"/admin/wallets/merchant/{console.tea.pk}/change/"
    request = f"/admin/wallets/paymentrequest/{console.request.pk}/change/"
    payment = f"/admin/wallets/merchantpayment/{console.payment.pk}/change/"
    requests = "/admin/wallets/paymentrequest/"
    merchants = "/admin/wallets/merchant/"
    for who in CENTRAL_BANK:
        client = console.client(who)
        assert buttons(client, merchant, ["staff", "suspend", "reinstate"]) == set(), who
        assert buttons(client, request, ["cancel"]) == set(), who
        assert buttons(client, payment, ["refund"]) == set(), who
        assert buttons(client, requests, ["new", "collection"]) == set(), who
        assert "/admin/wallets/merchant/add/" not in client.get(merchants).content.decode()
    # The operator registers and enrols, the merchant asks and refunds: each its own.
    icbc = console.client("icbc_staff")
    assert buttons(icbc, merchant, ["staff", "suspend", "reinstate"]) == {
        "staff",
        "suspend",
        "reinstate",
    }
    assert buttons(icbc, payment, ["refund"]) == set()
    assert buttons(icbc, requests, ["new", "collection"]) == set()
    assert "/admin/wallets/merchant/add/" in icbc.get(merchants).content.decode()
    tea = console.client("tea_staff")
    assert buttons(tea, merchant, ["staff", "suspend", "reinstate"]) == set()
    assert buttons(tea, payment, ["refund"]) == {"refund"}
    assert buttons(tea, request, ["cancel"]) == {"cancel"}
    assert buttons(tea, requests, ["new", "collection"]) == {"new", "collection"}


# ---------------------------------------------------------------- merchants


def test_operator_staff_register_a_merchant(console):
    icbc = console.client("icbc_staff")
    form = {
        "name": "Nanshan Pharmacy",
        "mcc": "5912",
        "region": "440305",
        "licence_number": "91440300MA5FXXXX01",
        "bank_account": "6222000011114444",
        "phone": "13800009999",
    }
    response = icbc.post("/admin/wallets/merchant/add/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    pharmacy = Merchant.objects.get(name="Nanshan Pharmacy")
    assert (pharmacy.operator.code, pharmacy.mcc, pharmacy.region) == ("ICBC", "5912", "440305")
    assert response["Location"] == f"/admin/wallets/merchant/{pharmacy.pk}/change/"
    assert pharmacy.settlement_wallet.kind == "MERCHANT"
    page = icbc.get(response["Location"]).content.decode()
    assert "5912 Pharmacies" in page and "440305 Shenzhen, Nanshan" in page
    # A region that is no six-digit code: the service's refusal, on the form.
    response = icbc.post("/admin/wallets/merchant/add/", {**form, "region": "44030"})
    assert response.status_code == 200
    assert "INVALID_INPUT: a region is a six-digit administrative division code" in (
        response.content.decode()
    )
    assert Merchant.objects.filter(name="Nanshan Pharmacy").count() == 1
    # The central bank registers none (no button, and the page is refused).
    assert console.client("approver").post("/admin/wallets/merchant/add/", form).status_code == 403


def test_the_operator_enrols_merchant_staff_who_then_sign_in(console):
    icbc = console.client("icbc_staff")
    url = f"/admin/wallets/merchant/{console.tea.pk}/staff/"
    answer = icbc.post(url, {"name": "till 2", "username": "tea_till2", "password": "green-tea-42"})
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    page = answer.content.decode()
    secret = page.split('data-fact="token"><code>')[1].split("</code>")[0]
    till = User.objects.get(username="tea_till2")
    assert token_authenticate(secret).user == till
    assert till.is_staff and till.merchant_staff.merchant == console.tea
    # Kept nowhere else: not in the history, not on the merchant's page.
    history = " ".join(LogEntry.objects.values_list("change_message", flat=True))
    assert "tea_till2" in history and secret not in history
    assert "green-tea-42" not in history
    merchant_page = icbc.get(f"/admin/wallets/merchant/{console.tea.pk}/change/").content.decode()
    assert secret not in merchant_page and "tea_till2" in merchant_page

    # The new login signs in with its password and sees its merchant only.
    client = Client()
    assert password_login(client, "tea_till2", "green-tea-42")
    assert listed(client, "/admin/wallets/merchant/") == {console.tea.pk}

    # A password the validators refuse: the service's message, and no login made.
    answer = icbc.post(url, {"name": "till 3", "username": "tea_till3", "password": "short"})
    assert answer.status_code == 200
    assert "INVALID_INPUT: This password is too short" in answer.content.decode()
    assert not User.objects.filter(username="tea_till3").exists()
    # Another operator's staff do not find the merchant at all.
    answer = console.client("ccb_staff").post(
        url, {"name": "x", "username": "tea_x", "password": "green-tea-42"}
    )
    assert answer.status_code == 404
    assert not User.objects.filter(username="tea_x").exists()


def test_the_operator_suspends_and_reinstates_a_merchant(console):
    icbc = console.client("icbc_staff")
    base = f"/admin/wallets/merchant/{console.tea.pk}"
    assert icbc.post(f"{base}/suspend/").status_code == 302
    console.tea.refresh_from_db()
    assert console.tea.status == MerchantStatus.SUSPENDED
    # A suspended merchant asks for no payments: the service says so on the form.
    response = console.client("tea_staff").post(
        "/admin/wallets/paymentrequest/new/", {"amount": "10.00"}
    )
    assert response.status_code == 200
    assert "MERCHANT_SUSPENDED" in response.content.decode()
    assert icbc.post(f"{base}/reinstate/").status_code == 302
    console.tea.refresh_from_db()
    assert console.tea.status == MerchantStatus.ACTIVE
    for who in ["approver", "tea_staff"]:
        assert console.client(who).post(f"{base}/suspend/").status_code == 403, who
    assert console.client("ccb_staff").post(f"{base}/suspend/").status_code == 404
    console.tea.refresh_from_db()
    assert console.tea.status == MerchantStatus.ACTIVE


# ---------------------------------------------------------------- payment requests


def test_merchant_staff_make_a_request_whose_page_shows_the_qr_and_its_payload(console):
    tea = console.client("tea_staff")
    response = tea.post(
        "/admin/wallets/paymentrequest/new/",
        {"amount": "128.50", "order_reference": "T-2", "memo": "two pots", "expires_in_minutes": 5},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    made = PaymentRequest.objects.get(order_reference="T-2")
    assert (made.merchant, made.kind, made.amount) == (console.tea, "DYNAMIC", 12_850)
    assert 299 <= (made.expires_at - made.created_at).total_seconds() <= 301
    page = tea.get(response["Location"]).content.decode()
    assert 'id="request-qr" src="data:image/png;base64,' in page
    payload = page.split('id="request-payload" style="word-break:break-all">')[1].split("<")[0]
    assert services.request_from_payload(payload) == made
    assert "OPEN" in page and "128.50" in page

    # One order, one request: the second is refused with the service's message.
    response = tea.post(
        "/admin/wallets/paymentrequest/new/", {"amount": "1.00", "order_reference": "T-2"}
    )
    assert response.status_code == 200
    assert "CONFLICT: order &#x27;T-2&#x27; already has a payment request" in (
        response.content.decode()
    )
    # An expiry beyond the longest allowed: refused by the service too.
    response = tea.post(
        "/admin/wallets/paymentrequest/new/", {"amount": "1.00", "expires_in_minutes": 100_000}
    )
    assert "INVALID_INPUT: a request expires within" in response.content.decode()

    response = tea.post("/admin/wallets/paymentrequest/collection/", {"memo": "front counter"})
    assert response.status_code == 302
    code = PaymentRequest.objects.get(memo="front counter")
    assert (code.kind, code.amount, code.merchant) == (PaymentRequestKind.STATIC, None, console.tea)
    page = tea.get(response["Location"]).content.decode()
    assert 'id="request-qr"' in page and "the payer&#x27;s" in page


def test_merchant_staff_cancel_an_open_request_and_never_a_paid_one(console):
    tea_staff = Actor.of(console.users["tea_staff"])
    open_request = services.payment_request_create(
        actor=tea_staff, merchant=console.tea, amount=500, order_reference="T-9"
    )
    tea = console.client("tea_staff")
    assert tea.post(f"/admin/wallets/paymentrequest/{open_request.pk}/cancel/").status_code == 302
    open_request.refresh_from_db()
    assert services.request_state(open_request) == services.RequestState.CANCELLED
    response = tea.post(f"/admin/wallets/paymentrequest/{console.request.pk}/cancel/")
    assert response.status_code == 200
    assert "REQUEST_ALREADY_PAID" in response.content.decode()
    assert services.request_state(console.request) == services.RequestState.PAID
    # ICBC's staff see the request but do not act for the merchant.
    response = console.client("icbc_staff").post(
        f"/admin/wallets/paymentrequest/{open_request.pk}/cancel/"
    )
    assert response.status_code == 403


# ---------------------------------------------------------------- payments and refunds


def refund_nonce(client: Client, payment: MerchantPayment) -> str:
    page = client.get(f"/admin/wallets/merchantpayment/{payment.pk}/refund/").content.decode()
    return page.split('name="nonce" value="')[1].split('"')[0]


def test_a_refund_through_the_form_moves_exactly_its_amount_once(console):
    """36.80 paid, 1.00 refunded already; a refund of 12.34 submitted twice from one form
    refunds once, to the fen; 23.47 more is 0.01 too many, refused, nothing moved."""
    alice, shop = console.wallets["alice"], console.tea.settlement_wallet
    payment = console.payment
    alice_before, shop_before = balance(alice), balance(shop)
    assert (alice_before, shop_before) == (yuan(1_000) - 3_680 + 100, 3_580)

    tea = console.client("tea_staff")
    url = f"/admin/wallets/merchantpayment/{payment.pk}/refund/"
    form = tea.get(url).content.decode()
    assert 'data-fact="left to refund">35.80 CNY' in form
    nonce = refund_nonce(tea, payment)
    for _ in range(2):
        response = tea.post(url, {"amount": "12.34", "reason": "one pot spilt", "nonce": nonce})
        assert response.status_code == 302, response.content.decode()[-2000:]
    settle()
    refunds = Refund.objects.filter(original=payment.transfer).exclude(pk=console.refund.pk)
    assert [(r.amount, r.reason, r.transfer.state) for r in refunds] == [
        (1_234, "one pot spilt", "SETTLED")
    ]
    assert balance(alice) == alice_before + 1_234
    assert balance(shop) == shop_before - 1_234
    page = tea.get("/admin/wallets/merchantpayment/").content.decode()
    assert "13.34" in page  # refunded so far: 1.00 + 12.34

    response = tea.post(url, {"amount": "23.47", "reason": "", "nonce": refund_nonce(tea, payment)})
    assert response.status_code == 200
    assert "REFUND_EXCEEDS_PAYMENT: 2346 fen of payment" in response.content.decode()
    response = tea.post(url, {"amount": "12.345", "nonce": refund_nonce(tea, payment)})
    assert "at most two decimals" in response.content.decode()
    settle()
    assert balance(alice) == alice_before + 1_234
    assert balance(shop) == shop_before - 1_234
    # Neither ICBC's staff nor the central bank give the merchant's money back.
    for who in ["icbc_staff", "approver"]:
        response = console.client(who).post(url, {"amount": "1.00", "nonce": f"{who}-n"})
        assert response.status_code == 403, who
    assert balance(shop) == shop_before - 1_234


def test_the_payment_and_refund_pages_tell_what_happened(console):
    tea = console.client("tea_staff")
    payment = tea.get(f"/admin/wallets/merchantpayment/{console.payment.pk}/change/")
    page = payment.content.decode()
    assert console.wallets["alice"].number in page and "T-1" in page and "SETTLED" in page
    assert f"/admin/wallets/refund/{console.refund.pk}/change/" in page
    page = tea.get(f"/admin/wallets/refund/{console.refund.pk}/change/").content.decode()
    assert f"/admin/wallets/merchantpayment/{console.payment.pk}/change/" in page
    assert "1.00" in page and "SETTLED" in page
    page = tea.get(f"/admin/wallets/paymentrequest/{console.request.pk}/change/").content.decode()
    assert "PAID" in page and f"/admin/wallets/merchantpayment/{console.payment.pk}/" in page


def test_sub_wallets_are_listed_in_scope_and_revoked_by_the_holders_operator(console):
    pushed, alice = sub(console), console.wallets["alice"]
    url = "/admin/wallets/subwallet/"
    for who in ["auditor", "icbc_staff", "tea_staff"]:
        assert listed(console.client(who), url) == {pushed.pk}, who
    for who in ["ccb_staff", "book_staff", "noodle_staff"]:
        assert listed(console.client(who), url) == set(), who
    page = console.client("tea_staff").get(f"{url}{pushed.pk}/change/").content.decode()
    assert "50.00" in page and "/revoke/" not in page  # the merchant pulls, never revokes
    before = balance(alice)
    revoke = f"{url}{pushed.pk}/revoke/"
    assert console.client("tea_staff").post(revoke).status_code == 403
    response = console.client("icbc_staff").post(revoke)
    assert response.status_code == 302, response.content
    settle()
    assert balance(alice) == before + yuan(50)
    assert balance(pushed.wallet) == 0
    assert LogEntry.objects.filter(object_id=str(pushed.pk)).exists()
