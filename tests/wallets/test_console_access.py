"""Who may open which console page: every page against every role, and URL-guessing
another operator's rows. Each expected status is asserted and every mismatch listed.

Roles: the four central-bank roles, staff of ICBC and of CCB, and a holder (not staff).
Rows: Alice's and Anon's (class 4) wallets, holders and loads are ICBC's, Bob's CCB's; a
pending issuance request is ICBC's; Carol's ICBC wallet is under two freeze orders, ICBC's
own and the central bank's, each with the status change it made.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.money import yuan
from settlement.models import AuditLeaf, Transfer, TransferKind
from tests.helpers import actor_with, balance, hardware_wallet, offline_sync, settle
from tests.wallets.console_world import CENTRAL_BANK, PHONES, STAFF, ConsoleWorld
from wallets import services
from wallets.models import DoubleSpendAlert, FreezeScope, IssuanceDirection, OfflinePayment
from wallets.roles import Role

pytestmark = pytest.mark.django_db

ALL_STAFF = dict.fromkeys(STAFF, 200)
CB = dict.fromkeys(CENTRAL_BANK, 200)
OPERATORS = {"icbc_staff": 200, "ccb_staff": 200}
# ICBC's rows: the central bank and ICBC see them; to CCB's staff they do not exist.
ICBC_ROW = {**CB, "icbc_staff": 200, "ccb_staff": 404}
CCB_ROW = {**CB, "icbc_staff": 404, "ccb_staff": 200}
# A disclosure: the central bank's; to operators' staff no disclosure exists (404 each).
HIDDEN = {"icbc_staff": 404, "ccb_staff": 404}
DISCLOSURE = {**CB, **HIDDEN}


@pytest.fixture
def console(world):
    console = ConsoleWorld.build(world)
    console.pending = services.issuance_request(
        actor=world.maker,
        operator=world.operators["ICBC"],
        amount=yuan(1_000),
        direction=IssuanceDirection.ISSUE,
    )
    console.alice_load = Transfer.objects.filter(
        kind=TransferKind.LOAD, legs__credit=console.wallets["alice"].account
    ).get()
    carol = console.world.wallet("Carol", klass=2, operator="ICBC")
    console.icbc_order = services.wallet_freeze(
        actor=console.actors["icbc_staff"],
        wallet=carol,
        scope=FreezeScope.RECEIVE_ONLY,
        reason="KYC review",
    )
    console.cb_order = services.wallet_freeze(
        actor=console.actors["approver"], wallet=carol, scope=FreezeScope.FULL, reason="AML case 7"
    )
    console.carol_change = carol.status_changes.get(order=console.icbc_order)
    # Escrows between ICBC's holders: one Alice confirms, one the auditor approves.
    for name, condition in (("escrow", {}), ("approval", {"approver": "auditor"})):
        escrow = services.escrow_create(
            actor=console.actors["icbc_staff"],
            payer=console.wallets["alice"].number,
            payee=console.wallets["anon"].number,
            amount=yuan(10),
            condition="APPROVAL" if condition else "PAYER_CONFIRMS",
            idempotency_key=f"console-{name}",
            **condition,
        )
        setattr(console, name, escrow)
    # A voucher programme of the Luohu government, funded, with Alice's application.
    now = timezone.now()
    console.programme = services.voucher_programme_create(
        actor=world.policy,
        name="Luohu red envelopes",
        government_wallet=world.wallet("Luohu District Government", klass=1, load=1_000),
        voucher_amount=yuan(200),
        count=3,
        mccs=["5411"],
        regions=["440303"],
        valid_from=now,
        valid_until=now + timedelta(days=7),
        seed=1,
    )
    services.voucher_programme_fund(actor=world.staff, programme=console.programme)
    settle()
    services.voucher_apply(
        actor=world.staff, programme=console.programme, wallet=console.wallets["alice"]
    )
    # Disclosures of who is behind Anon's pseudonym: one waiting for approvals, and one
    # approved by the approver and a second approver.
    anon = console.wallets["anon"].holder.pseudonym
    console.disclosure, console.disclosed = (
        services.identity_disclosure_request(
            actor=world.maker, pseudonym=anon, reason=f"court order {n}"
        )
        for n in (1, 2)
    )
    for approver in (world.checker, actor_with("checker2", Role.CB_APPROVER)):
        services.identity_disclosure_approve(actor=approver, disclosure_id=console.disclosed.pk)
    # Hardware wallets: Alice's card; a second card of hers, cloned to spend its 1.00 twice
    # at Bob's (a CCB wallet's) card, caught at his sync and alerted to ICBC.
    console.card = hardware_wallet(world, console.wallets["alice"], load=100)
    bobs_card = hardware_wallet(world, console.wallets["bob"])
    cheat = hardware_wallet(world, console.wallets["alice"], load=100)
    twice = [
        d.pay(bobs_card.id, 100, at_ms=at).signed
        for at, d in enumerate((cheat.device.clone(), cheat.device))
    ]
    offline_sync(world, bobs_card, twice)
    console.offline_payment = OfflinePayment.objects.filter(payer=cheat.record).first()
    console.alert = DoubleSpendAlert.objects.filter(device=cheat.record).first()
    return console


def alice(c):
    return c.wallets["alice"]


# (page, URL, expected status per role; staff roles not named get 403; the holder, who is
# not staff, is always sent to the login page)
PAGES = [
    ("dashboard", lambda c: "/admin/", ALL_STAFF),
    ("operators", lambda c: "/admin/wallets/operator/", CB),
    (
        "operator ICBC",
        lambda c: f"/admin/wallets/operator/{c.world.operators['ICBC'].pk}/change/",
        CB,
    ),
    ("onboard operator", lambda c: "/admin/wallets/operator/add/", {"approver": 200}),
    (
        "suspend operator",
        lambda c: f"/admin/wallets/operator/{c.world.operators['ICBC'].pk}/suspend/",
        {"approver": 200},
    ),
    ("issuance requests", lambda c: "/admin/wallets/issuancerequest/", ALL_STAFF),
    ("request issuance", lambda c: "/admin/wallets/issuancerequest/add/", {"issuer": 200}),
    (
        "ICBC's pending request",
        lambda c: f"/admin/wallets/issuancerequest/{c.pending.pk}/change/",
        ICBC_ROW,
    ),
    (
        "approve ICBC's request",
        lambda c: f"/admin/wallets/issuancerequest/{c.pending.pk}/approve/",
        {"approver": 200, "ccb_staff": 404},
    ),
    (
        "reject ICBC's request",
        lambda c: f"/admin/wallets/issuancerequest/{c.pending.pk}/reject/",
        {"approver": 200, "ccb_staff": 404},
    ),
    ("wallet classes", lambda c: "/admin/wallets/walletclass/", CB),
    ("class 4", lambda c: "/admin/wallets/walletclass/4/change/", CB),
    ("edit class 4 limits", lambda c: "/admin/wallets/walletclass/4/limits/", {"policy": 200}),
    ("limit changes", lambda c: "/admin/wallets/historicalwalletclass/", CB),
    ("freeze orders", lambda c: "/admin/wallets/freezeorder/", ALL_STAFF),
    (
        "give a freeze order",
        lambda c: "/admin/wallets/freezeorder/add/",
        {"approver": 200, **OPERATORS},
    ),
    (
        "ICBC's freeze order",
        lambda c: f"/admin/wallets/freezeorder/{c.icbc_order.pk}/change/",
        ICBC_ROW,
    ),
    (
        # Only the authority that gave an order lifts it: not the central bank's approver.
        "lift ICBC's freeze order",
        lambda c: f"/admin/wallets/freezeorder/{c.icbc_order.pk}/lift/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    (
        "the central bank's freeze order",
        lambda c: f"/admin/wallets/freezeorder/{c.cb_order.pk}/change/",
        ICBC_ROW,
    ),
    (
        # ... and not the wallet's operator's staff.
        "lift the central bank's freeze order",
        lambda c: f"/admin/wallets/freezeorder/{c.cb_order.pk}/lift/",
        {"approver": 200, "ccb_staff": 404},
    ),
    ("delete a freeze order", lambda c: f"/admin/wallets/freezeorder/{c.cb_order.pk}/delete/", {}),
    ("wallet status history", lambda c: "/admin/wallets/walletstatuschange/", ALL_STAFF),
    (
        "a status change of Carol's wallet",
        lambda c: f"/admin/wallets/walletstatuschange/{c.carol_change.pk}/change/",
        ICBC_ROW,
    ),
    ("add a status change", lambda c: "/admin/wallets/walletstatuschange/add/", {}),
    # Identity disclosures: the central bank's; the issuer asks, approvers decide, and the
    # requester and approvers of an approved one read the identity.
    ("identity disclosures", lambda c: "/admin/wallets/identitydisclosure/", CB),
    ("request a disclosure", lambda c: "/admin/wallets/identitydisclosure/add/", {"issuer": 200}),
    (
        "a disclosure waiting for approvals",
        lambda c: f"/admin/wallets/identitydisclosure/{c.disclosure.pk}/change/",
        DISCLOSURE,
    ),
    (
        "approve a disclosure",
        lambda c: f"/admin/wallets/identitydisclosure/{c.disclosure.pk}/approve/",
        {"approver": 200, **HIDDEN},
    ),
    (
        "reject a disclosure",
        lambda c: f"/admin/wallets/identitydisclosure/{c.disclosure.pk}/reject/",
        {"approver": 200, **HIDDEN},
    ),
    (
        "the identity, before enough approvals",
        lambda c: f"/admin/wallets/identitydisclosure/{c.disclosure.pk}/identity/",
        HIDDEN,
    ),
    (
        "approve an approved disclosure",
        lambda c: f"/admin/wallets/identitydisclosure/{c.disclosed.pk}/approve/",
        HIDDEN,
    ),
    (
        "the identity, approved",
        lambda c: f"/admin/wallets/identitydisclosure/{c.disclosed.pk}/identity/",
        {"issuer": 200, "approver": 200, **HIDDEN},
    ),
    (
        "request disclosure of Anon (anonymous)",
        lambda c: f"/admin/wallets/holder/{c.wallets['anon'].holder_id}/disclose/",
        {"issuer": 302, "ccb_staff": 404},
    ),
    (
        "request disclosure of Alice (named)",
        lambda c: f"/admin/wallets/holder/{alice(c).holder_id}/disclose/",
        {"ccb_staff": 404},
    ),
    ("audit status", lambda c: "/admin/wallets/auditverification/", CB),
    ("verify now", lambda c: "/admin/wallets/auditverification/verify/", CB),
    # The central bank sees every holder, the anonymous ones by pseudonym only (below).
    ("holders", lambda c: "/admin/wallets/holder/", ALL_STAFF),
    ("onboard holder", lambda c: "/admin/wallets/holder/add/", OPERATORS),
    ("Alice the holder", lambda c: f"/admin/wallets/holder/{alice(c).holder_id}/change/", ICBC_ROW),
    (
        "Anon the holder",
        lambda c: f"/admin/wallets/holder/{c.wallets['anon'].holder_id}/change/",
        ICBC_ROW,
    ),
    (
        "Bob the holder",
        lambda c: f"/admin/wallets/holder/{c.wallets['bob'].holder_id}/change/",
        CCB_ROW,
    ),
    (
        "Bob the holder's history",
        lambda c: f"/admin/wallets/holder/{c.wallets['bob'].holder_id}/history/",
        CCB_ROW,
    ),
    ("wallets", lambda c: "/admin/wallets/wallet/", ALL_STAFF),
    # Rows and revoking: test_console_merchants (a sub-wallet is pushed to a merchant).
    ("sub-wallets", lambda c: "/admin/wallets/subwallet/", ALL_STAFF),
    ("Alice's wallet", lambda c: f"/admin/wallets/wallet/{alice(c).pk}/change/", ICBC_ROW),
    (
        "Alice's wallet's history",
        lambda c: f"/admin/wallets/wallet/{alice(c).pk}/history/",
        ICBC_ROW,
    ),
    (
        "load Alice's wallet",
        lambda c: f"/admin/wallets/wallet/{alice(c).pk}/load/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    (
        "unload Alice's wallet",
        lambda c: f"/admin/wallets/wallet/{alice(c).pk}/unload/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    (
        "freeze Alice's wallet",
        lambda c: f"/admin/wallets/wallet/{alice(c).pk}/freeze/",
        {"approver": 302, "icbc_staff": 302, "ccb_staff": 404},
    ),
    (
        "close Alice's wallet",
        lambda c: f"/admin/wallets/wallet/{alice(c).pk}/close/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    (
        "enrol a device for Alice",
        lambda c: f"/admin/wallets/holder/{alice(c).holder_id}/device/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    ("Bob's wallet", lambda c: f"/admin/wallets/wallet/{c.wallets['bob'].pk}/change/", CCB_ROW),
    ("transfers", lambda c: "/admin/settlement/transfer/", ALL_STAFF),
    (
        "Alice's load",
        lambda c: f"/admin/settlement/transfer/{c.alice_load.pk}/change/",
        ICBC_ROW,
    ),
    (
        "Alice's load's postings",
        lambda c: f"/admin/settlement/posting/{c.alice_load.postings.first().pk}/change/",
        ICBC_ROW,
    ),
    ("add a transfer", lambda c: "/admin/settlement/transfer/add/", {}),
    ("delete Alice's load", lambda c: f"/admin/settlement/transfer/{c.alice_load.pk}/delete/", {}),
    ("postings", lambda c: "/admin/settlement/posting/", ALL_STAFF),
    ("audit leaves", lambda c: "/admin/settlement/auditleaf/", CB),
    ("checkpoints", lambda c: "/admin/settlement/checkpoint/", ALL_STAFF),
    ("signing keys", lambda c: "/admin/settlement/signingkey/", CB),
    # Merchants' webhooks (their rows, and their merchants' staff: test_console_webhooks).
    ("webhook endpoints", lambda c: "/admin/wallets/webhookendpoint/", ALL_STAFF),
    ("register a webhook", lambda c: "/admin/wallets/webhookendpoint/add/", {}),
    ("webhook deliveries", lambda c: "/admin/wallets/webhookdelivery/", ALL_STAFF),
    ("add a webhook delivery", lambda c: "/admin/wallets/webhookdelivery/add/", {}),
    ("users", lambda c: "/admin/auth/user/", {}),
    # Conditional payments: ICBC's holders' escrows; the actions to the party or approver.
    ("escrows", lambda c: "/admin/wallets/escrow/", ALL_STAFF),
    ("add an escrow", lambda c: "/admin/wallets/escrow/add/", {}),
    ("Alice's escrow", lambda c: f"/admin/wallets/escrow/{c.escrow.pk}/change/", ICBC_ROW),
    (
        "confirm Alice's escrow",
        lambda c: f"/admin/wallets/escrow/{c.escrow.pk}/confirm/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    (
        "cancel Alice's escrow",
        lambda c: f"/admin/wallets/escrow/{c.escrow.pk}/cancel/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    (
        "approve Alice's escrow (no approver)",
        lambda c: f"/admin/wallets/escrow/{c.escrow.pk}/approve/",
        {"ccb_staff": 404},
    ),
    (
        "approve the escrow the auditor approves",
        lambda c: f"/admin/wallets/escrow/{c.approval.pk}/approve/",
        {"auditor": 200, "ccb_staff": 404},
    ),
    ("delete Alice's escrow", lambda c: f"/admin/wallets/escrow/{c.escrow.pk}/delete/", {}),
    # Consumption vouchers: the central bank's; its policy staff draw the lottery.
    ("voucher programmes", lambda c: "/admin/wallets/voucherprogramme/", CB),
    (
        "voucher programme",
        lambda c: f"/admin/wallets/voucherprogramme/{c.programme.pk}/change/",
        CB,
    ),
    ("add a voucher programme", lambda c: "/admin/wallets/voucherprogramme/add/", {}),
    (
        "draw a voucher lottery",
        lambda c: f"/admin/wallets/voucherprogramme/{c.programme.pk}/draw/",
        {"policy": 200},
    ),
    # Hardware wallets: ICBC's devices, the payments they pay or take (so a payment to a CCB
    # wallet's card is CCB's too), their double spends for ICBC; the caps for the central
    # bank, edited by its policy staff.
    ("hardware wallets", lambda c: "/admin/wallets/offlinedevice/", ALL_STAFF),
    (
        "Alice's card",
        lambda c: f"/admin/wallets/offlinedevice/{c.card.record.pk}/change/",
        ICBC_ROW,
    ),
    ("add a hardware wallet", lambda c: "/admin/wallets/offlinedevice/add/", {}),
    ("offline payments", lambda c: "/admin/wallets/offlinepayment/", ALL_STAFF),
    (
        "the cloned card's payment to Bob's",
        lambda c: f"/admin/wallets/offlinepayment/{c.offline_payment.pk}/change/",
        {**CB, "icbc_staff": 200, "ccb_staff": 200},
    ),
    ("double-spend alerts", lambda c: "/admin/wallets/doublespendalert/", ALL_STAFF),
    (
        "the cloned card's alert",
        lambda c: f"/admin/wallets/doublespendalert/{c.alert.pk}/change/",
        ICBC_ROW,
    ),
    (
        "acknowledge the cloned card's alert",
        lambda c: f"/admin/wallets/doublespendalert/{c.alert.pk}/acknowledge/",
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    ("offline caps", lambda c: "/admin/wallets/offlinelimit/", CB),
    ("class 2's offline cap", lambda c: "/admin/wallets/offlinelimit/2/change/", CB),
    ("edit class 2's offline cap", lambda c: "/admin/wallets/offlinelimit/2/cap/", {"policy": 200}),
]


@pytest.mark.parametrize(("page", "url", "expected"), PAGES, ids=[page[0] for page in PAGES])
def test_each_role_opens_exactly_its_pages(console, page, url, expected):
    path = url(console)
    mismatches = []
    for who in [*STAFF, "holder"]:
        want = 302 if who == "holder" else expected.get(who, 403)
        got = console.client(who).get(path).status_code
        if got != want:
            mismatches.append(f"{who}: {got}, expected {want}")
    assert not mismatches, f"{page} ({path}): " + "; ".join(mismatches)


def test_the_holder_is_sent_to_the_login_page(console):
    response = console.client("holder").get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_operator_staff_lists_show_only_their_operators_rows(console):
    alice, bob = console.wallets["alice"], console.wallets["bob"]
    icbc = console.client("icbc_staff")
    ccb = console.client("ccb_staff")

    wallets = icbc.get("/admin/wallets/wallet/").content.decode()
    assert alice.number in wallets and bob.number not in wallets
    wallets = ccb.get("/admin/wallets/wallet/").content.decode()
    assert bob.number in wallets and alice.number not in wallets

    holders = ccb.get("/admin/wallets/holder/").content.decode()
    assert "Bob" in holders and "Alice" not in holders

    load_to_bob = Transfer.objects.filter(kind=TransferKind.LOAD, legs__credit=bob.account).get()
    transfers = ccb.get("/admin/settlement/transfer/?kind=LOAD").content.decode()
    assert f"/admin/settlement/transfer/{load_to_bob.pk}/change/" in transfers
    assert f"/admin/settlement/transfer/{console.alice_load.pk}/change/" not in transfers

    postings = ccb.get(f"/admin/settlement/posting/?q={console.alice_load.pk}").content.decode()
    assert alice.number not in postings


def test_guessed_urls_of_another_operators_rows_act_on_nothing(console):
    """CCB's staff POST to ICBC's rows: nothing happens, and nothing is shown."""
    alice = console.wallets["alice"]
    ccb = console.client("ccb_staff")
    before = balance(alice)

    for action in ["load", "unload", "close", "freeze"]:
        response = ccb.post(
            f"/admin/wallets/wallet/{alice.pk}/{action}/",
            {"amount": "1", "nonce": action, "reason": "guessing"},
        )
        assert response.status_code == 404, action
    response = ccb.post(
        "/admin/wallets/freezeorder/add/",
        {"wallet": alice.number, "scope": "FULL", "reason": "guessing"},
    )
    assert response.status_code == 200  # the form again, with the refusal
    assert f"NOT_FOUND: no wallet {alice.number}" in response.content.decode()
    for order in (console.icbc_order, console.cb_order):
        response = ccb.post(f"/admin/wallets/freezeorder/{order.pk}/lift/", {"reason": "guess"})
        assert response.status_code == 404

    alice.account.refresh_from_db()
    assert (alice.account.balance, alice.account.status) == (before, "ACTIVE") != (0, "ACTIVE")
    assert not alice.status_changes.exists() and not alice.freeze_orders.exists()
    console.icbc_order.refresh_from_db()
    console.cb_order.refresh_from_db()
    assert (console.icbc_order.in_force, console.cb_order.in_force) == (True, True)


@pytest.mark.parametrize("role", CENTRAL_BANK)
def test_central_bank_staff_see_anonymous_holders_by_pseudonym_only(console, role):
    """Wallets and holders alike, for every central-bank role: Anon (class 4, phone only)
    is a pseudonym to the central bank, with no phone; Alice (class 2) is known by name.
    ICBC, which did the KYC, sees both; only the central bank sees the link between one
    person's records. The disclosure pages and the audit log name Anon by pseudonym too."""
    anon = console.wallets["anon"].holder
    auditor = console.client(role)
    page = auditor.get("/admin/wallets/wallet/").content.decode()
    assert anon.pseudonym in page and "Anon" not in page
    assert "Alice" in page  # a class-2 holder is known by name
    page = console.client("icbc_staff").get("/admin/wallets/wallet/").content.decode()
    assert "Anon" in page  # the operator did the KYC

    page = auditor.get("/admin/wallets/holder/").content.decode()
    assert anon.pseudonym in page and "Anon" not in page and PHONES["anon"] not in page
    assert "Alice" in page and PHONES["alice"] in page
    for url in [
        f"/admin/wallets/holder/{anon.pk}/change/",
        f"/admin/wallets/holder/{anon.pk}/history/",
        f"/admin/wallets/wallet/{console.wallets['anon'].pk}/change/",
        f"/admin/wallets/wallet/{console.wallets['anon'].pk}/history/",
    ]:
        page = auditor.get(url).content.decode()
        assert "Anon" not in page and PHONES["anon"] not in page, url
    # An anonymous holder gave the phone number only: there is no other number to leak.
    assert anon.id_number_masked == anon.bank_account_masked == ""
    page = auditor.get(f"/admin/wallets/holder/{anon.pk}/change/").content.decode()
    assert anon.pseudonym in page and anon.identity_link in page != ""
    # Neither a search by name nor one by phone number finds the anonymous holder.
    for term, found in [("Anon", 0), (PHONES["anon"], 0), (anon.pseudonym, 1), ("Alice", 1)]:
        response = auditor.get("/admin/wallets/holder/", {"q": term})
        assert response.context["cl"].result_count == found, term
    # Nor sorting by name on the holders and wallets lists (it sorts what is shown).
    for url in ["/admin/wallets/holder/?o=1", "/admin/wallets/wallet/?o=2"]:
        page = auditor.get(url).content.decode()
        assert "Anon" not in page and PHONES["anon"] not in page, url
    # The requests to disclose Anon's identity, and the audit log's record of them.
    for url in [
        "/admin/wallets/identitydisclosure/",
        f"/admin/wallets/identitydisclosure/{console.disclosed.pk}/change/",
        f"/admin/wallets/identitydisclosure/{console.disclosed.pk}/history/",
        "/admin/settlement/auditleaf/",
        *(
            f"/admin/settlement/auditleaf/{index}/change/"
            for index in AuditLeaf.objects.filter(event__isnull=False).values_list(
                "index", flat=True
            )
        ),
    ]:
        page = auditor.get(url).content.decode()
        assert "Anon" not in page and PHONES["anon"] not in page, url
    page = auditor.get(f"/admin/wallets/identitydisclosure/{console.disclosed.pk}/change/")
    assert anon.pseudonym in page.content.decode()

    icbc = console.client("icbc_staff")
    page = icbc.get(f"/admin/wallets/holder/{anon.pk}/change/").content.decode()
    assert "Anon" in page and PHONES["anon"] in page
    assert anon.identity_link not in page and "identity_link" not in page
    response = icbc.get("/admin/wallets/holder/", {"q": PHONES["anon"]})
    assert [holder.pk for holder in response.context["cl"].result_list] == [anon.pk]


def test_the_ledger_cannot_be_edited_even_by_a_superuser(console):
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", password="x")
    client = console.client("issuer")
    client.force_login(root)
    load = console.alice_load
    for model, pk in [
        ("settlement/transfer", load.pk),
        ("settlement/posting", load.postings.first().pk),
        ("settlement/auditleaf", load.audit_leaf.pk),
    ]:
        assert client.get(f"/admin/{model}/{pk}/change/").status_code == 200
        assert client.get(f"/admin/{model}/add/").status_code == 403
        assert client.post(f"/admin/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    page = client.get(f"/admin/settlement/transfer/{load.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    response = client.post(f"/admin/settlement/transfer/{load.pk}/change/", {"memo": "edited"})
    assert response.status_code == 403
    load.refresh_from_db()
    assert load.memo != "edited"


def test_a_voucher_programme_page_shows_its_totals_and_policy_draws_it(console):
    programme = console.programme
    page = console.client("auditor").get(f"/admin/wallets/voucherprogramme/{programme.pk}/change/")
    content = page.content.decode()
    assert "600.00" in content and "Luohu red envelopes" in content
    assert f"/admin/wallets/voucherprogramme/{programme.pk}/draw/" not in content
    policy = console.client("policy")
    assert (
        f"/voucherprogramme/{programme.pk}/draw/"
        in policy.get(f"/admin/wallets/voucherprogramme/{programme.pk}/change/").content.decode()
    )
    response = policy.post(f"/admin/wallets/voucherprogramme/{programme.pk}/draw/", {})
    assert response.status_code == 302
    settle()
    assert programme.grants.get().wallet == console.wallets["alice"]
    assert balance(programme.grants.get().account) == yuan(200)
    # The auditor, not policy staff, draws nothing.
    response = console.client("auditor").post(
        f"/admin/wallets/voucherprogramme/{programme.pk}/draw/", {}
    )
    assert response.status_code == 403
