"""The console keeps to the rules of authority, through the pages a person would use:

- a central-bank freeze order is lifted by the central bank only, never by the operator
  whose wallet it is;
- an operator's staff never see another operator's holders (by list, search or guessed
  URL), and onboard holders at their own operator only;
- a suspended operator's wallets take loads that the ledger rejects (OPERATOR_SUSPENDED),
  and no fen moves.
Real commits: settlement runs when a request commits.
"""

import pytest

from settlement.models import Transfer, TransferKind
from tests.helpers import balance
from tests.wallets.console_world import PHONES, ConsoleWorld
from wallets.models import FreezeOrder, Holder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def console(world):
    return ConsoleWorld.build(world)


def test_a_central_bank_freeze_is_lifted_by_the_central_bank_only(console):
    """The approver orders Alice's ICBC wallet frozen, "AML case 42". ICBC's staff see the
    order but are offered no Lift, and their POST to the Lift URL is refused (403): the
    wallet stays frozen and the order in force. The approver lifts it."""
    alice = console.wallets["alice"]
    approver, icbc = console.client("approver"), console.client("icbc_staff")

    # From the wallet's page: Freeze order opens the order form for this wallet.
    response = approver.get(f"/admin/wallets/wallet/{alice.pk}/freeze/")
    assert (response.status_code, response["Location"]) == (
        302,
        f"/admin/wallets/freezeorder/add/?wallet={alice.number}",
    )
    form = approver.get(response["Location"]).content.decode()
    assert f'value="{alice.number}"' in form
    response = approver.post(
        "/admin/wallets/freezeorder/add/",
        {"wallet": alice.number, "scope": "FULL", "reason": "AML case 42"},
    )
    assert response.status_code == 302
    order = FreezeOrder.objects.get(wallet=alice)
    assert (order.authority, order.reason, order.in_force) == ("CENTRAL_BANK", "AML case 42", True)
    alice.account.refresh_from_db()
    assert alice.account.status == "FROZEN"

    lift_url = f"/admin/wallets/freezeorder/{order.pk}/lift/"
    page = icbc.get(f"/admin/wallets/freezeorder/{order.pk}/change/")
    assert page.status_code == 200  # ICBC sees the order on its wallet ...
    assert "AML case 42" in page.content.decode()
    assert lift_url not in page.content.decode()  # ... and is offered no Lift
    assert icbc.get(lift_url).status_code == 403
    assert icbc.post(lift_url, {"reason": "our customer says it is fine"}).status_code == 403
    order.refresh_from_db()
    alice.account.refresh_from_db()
    assert (order.in_force, order.lifted_by, alice.account.status) == (True, None, "FROZEN")
    assert [change.new_status for change in alice.status_changes.all()] == ["FROZEN"]
    # Nor does ICBC's own Load get money in: a frozen wallet receives nothing.
    before = balance(alice)
    icbc.post(f"/admin/wallets/wallet/{alice.pk}/load/", {"amount": "10", "nonce": "n1"})
    load = Transfer.objects.filter(kind=TransferKind.LOAD).latest("pk")
    assert (load.state, load.reject_code, balance(alice)) == ("REJECTED", "WALLET_FROZEN", before)

    page = approver.get(f"/admin/wallets/freezeorder/{order.pk}/change/").content.decode()
    assert lift_url in page
    response = approver.post(lift_url, {"reason": "AML case 42 closed"})
    assert response.status_code == 302
    order.refresh_from_db()
    alice.account.refresh_from_db()
    assert (order.in_force, order.lifted_by, order.lift_reason, alice.account.status) == (
        False,
        console.users["approver"],
        "AML case 42 closed",
        "ACTIVE",
    )


def test_operator_staff_never_see_another_operators_holder(console):
    """Bob is CCB's holder. To ICBC's staff he is not there: not in the list, not found by
    name, phone or pseudonym, and his pages are 404; his phone number appears nowhere."""
    bob = console.wallets["bob"]
    holder = bob.holder
    icbc = console.client("icbc_staff")

    for term in ["Bob", PHONES["bob"], holder.pseudonym]:  # (a search page echoes its term)
        response = icbc.get("/admin/wallets/holder/", {"q": term})
        assert (response.status_code, response.context["cl"].result_count) == (200, 0), term
    for url in ["/admin/wallets/holder/", "/admin/wallets/wallet/"]:
        page = icbc.get(url).content.decode()
        assert "Bob" not in page and PHONES["bob"] not in page
        assert holder.pseudonym not in page and bob.number not in page
    for url in [
        f"/admin/wallets/holder/{holder.pk}/change/",
        f"/admin/wallets/holder/{holder.pk}/history/",
        f"/admin/wallets/wallet/{bob.pk}/change/",
        f"/admin/wallets/wallet/{bob.pk}/load/",
    ]:
        response = icbc.get(url)
        assert response.status_code == 404, url
        assert "Bob" not in response.content.decode() and PHONES["bob"] not in (
            response.content.decode()
        )
    # CCB's staff, who did the KYC, see him and his phone.
    page = console.client("ccb_staff").get(f"/admin/wallets/holder/{holder.pk}/change/")
    assert "Bob" in page.content.decode() and PHONES["bob"] in page.content.decode()


def test_onboarding_creates_holders_at_the_staffs_own_operator_only(console):
    """The onboarding form has no operator to choose: ICBC's staff onboard at ICBC, even
    when a forged POST names CCB."""
    ccb = console.world.operators["CCB"]
    icbc = console.client("icbc_staff")
    form = icbc.get("/admin/wallets/holder/add/").content.decode()
    assert 'name="operator"' not in form
    response = icbc.post(
        "/admin/wallets/holder/add/",
        {
            "display_name": "Wang Fang",
            "kind": "PERSON",
            "kyc_method": "PHONE_ONLY",
            "phone": "13700000007",
            "wallet_class": "",
            "operator": ccb.pk,
        },
    )
    assert response.status_code == 302
    holder = Holder.objects.get(display_name="Wang Fang")
    wallet = holder.wallets.get()
    assert (holder.operator.code, wallet.operator.code, wallet.wallet_class_id) == (
        "ICBC",
        "ICBC",
        4,
    )
    assert response["Location"] == f"/admin/wallets/holder/{holder.pk}/change/"
    assert (
        "Wang Fang"
        not in console.client("ccb_staff").get("/admin/wallets/holder/").content.decode()
    )
    # Kept in the rows' history by pseudonym: the central bank reads it and knows an
    # anonymous holder by pseudonym only.
    auditor = console.client("auditor")
    for url in [
        f"/admin/wallets/holder/{holder.pk}/history/",
        f"/admin/wallets/wallet/{wallet.pk}/history/",
    ]:
        page = auditor.get(url).content.decode()
        assert f"holder {holder.pseudonym} onboarded at ICBC" in page, url
        assert "Wang Fang" not in page and "13700000007" not in page, url


def test_a_suspended_operators_wallets_take_no_load(console):
    """The approver suspends ICBC. ICBC's staff load 50 CNY into Alice's wallet from its
    page: the transfer is REJECTED with OPERATOR_SUSPENDED and no fen moves; opening a
    wallet there is refused on the form. Reinstated, the same load settles."""
    icbc_operator = console.world.operators["ICBC"]
    alice = console.wallets["alice"]
    approver, icbc = console.client("approver"), console.client("icbc_staff")
    response = approver.post(f"/admin/wallets/operator/{icbc_operator.pk}/suspend/")
    assert response.status_code == 302
    icbc_operator.refresh_from_db()
    assert icbc_operator.status == "SUSPENDED"
    wallet_before, vault_before = balance(alice), balance(icbc_operator.vault_account)

    load_url = f"/admin/wallets/wallet/{alice.pk}/load/"
    assert icbc.get(load_url).status_code == 200
    response = icbc.post(load_url, {"amount": "50", "nonce": "suspended"})
    assert response.status_code == 302
    load = Transfer.objects.filter(kind=TransferKind.LOAD).latest("pk")
    load_to_alice = load.legs.get()
    assert (load_to_alice.credit_id, load_to_alice.amount) == (alice.account_id, 5_000)
    assert (load.state, load.reject_code) == ("REJECTED", "OPERATOR_SUSPENDED")
    assert (balance(alice), balance(icbc_operator.vault_account)) == (wallet_before, vault_before)
    page = icbc.get(f"/admin/settlement/transfer/{load.pk}/change/").content.decode()
    assert "REJECTED" in page and "The paying account&#x27;s operator is suspended" in page

    response = icbc.post(
        "/admin/wallets/holder/add/",
        {"display_name": "Zhao Lei", "kind": "PERSON", "kyc_method": "PHONE_ONLY",
         "phone": "13700000008", "wallet_class": ""},
    )  # fmt: skip
    assert response.status_code == 200
    assert "OPERATOR_SUSPENDED: operator ICBC is suspended" in response.content.decode()
    assert not Holder.objects.filter(display_name="Zhao Lei").exists()

    assert (
        approver.post(f"/admin/wallets/operator/{icbc_operator.pk}/reinstate/").status_code == 302
    )
    icbc.post(load_url, {"amount": "50", "nonce": "reinstated"})
    load = Transfer.objects.filter(kind=TransferKind.LOAD).latest("pk")
    assert (load.state, load.reject_code) == ("SETTLED", "")
    assert balance(alice) == wallet_before + 5_000
    assert balance(icbc_operator.vault_account) == vault_before - 5_000
