"""Who may open which console page: every page against every role, and URL-guessing
another operator's rows. Each expected status is asserted and every mismatch listed.

Roles: the four central-bank roles, staff of ICBC and of CCB, and a holder (not staff).
Rows: Alice's wallet, holder and load are ICBC's; a pending issuance request is ICBC's.
"""

import pytest

from ewallet.money import yuan
from settlement.models import Transfer, TransferKind
from tests.helpers import balance
from tests.wallets.console_world import CENTRAL_BANK, STAFF, ConsoleWorld
from wallets import services
from wallets.models import IssuanceDirection

pytestmark = pytest.mark.django_db

ALL_STAFF = dict.fromkeys(STAFF, 200)
CB = dict.fromkeys(CENTRAL_BANK, 200)
OPERATORS = {"icbc_staff": 200, "ccb_staff": 200}
# ICBC's rows: the central bank and ICBC see them; to CCB's staff they do not exist.
ICBC_ROW = {**CB, "icbc_staff": 200, "ccb_staff": 404}


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
    ("freeze orders", lambda c: "/admin/wallets/walletstatuschange/", ALL_STAFF),
    (
        "give a freeze order",
        lambda c: "/admin/wallets/walletstatuschange/add/",
        {"approver": 200, **OPERATORS},
    ),
    ("audit status", lambda c: "/admin/wallets/auditverification/", CB),
    ("verify now", lambda c: "/admin/wallets/auditverification/verify/", CB),
    ("holders", lambda c: "/admin/wallets/holder/", OPERATORS),
    ("onboard holder", lambda c: "/admin/wallets/holder/add/", OPERATORS),
    (
        "Alice the holder",
        lambda c: f"/admin/wallets/holder/{alice(c).holder_id}/change/",
        # Central-bank staff see wallets, not holders' KYC files.
        {"icbc_staff": 200, "ccb_staff": 404},
    ),
    ("wallets", lambda c: "/admin/wallets/wallet/", ALL_STAFF),
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
    ("users", lambda c: "/admin/auth/user/", {}),
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

    assert ccb.post(f"/admin/wallets/wallet/{alice.pk}/unload/", {"amount": "1"}).status_code == 404
    response = ccb.post(
        "/admin/wallets/walletstatuschange/add/",
        {"wallet": alice.number, "status": "FROZEN", "reason": "guessing"},
    )
    assert response.status_code == 200  # the form again, with the refusal
    assert f"NOT_FOUND: no wallet {alice.number}" in response.content.decode()

    alice.account.refresh_from_db()
    assert (alice.account.balance, alice.account.status) == (before, "ACTIVE") != (0, "ACTIVE")
    assert not alice.status_changes.exists()


def test_central_bank_staff_see_anonymous_holders_by_pseudonym_only(console):
    anon = console.wallets["anon"]
    page = console.client("auditor").get("/admin/wallets/wallet/").content.decode()
    assert anon.holder.pseudonym in page and "Anon" not in page
    assert "Alice" in page  # a class-2 holder is known by name
    page = console.client("icbc_staff").get("/admin/wallets/wallet/").content.decode()
    assert "Anon" in page  # the operator did the KYC


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
