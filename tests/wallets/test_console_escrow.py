"""Conditional payments in the console: each role's list, and the actions as a party or
approver would take them, each through the service (amounts to the fen)."""

import pytest

from ewallet.money import yuan
from settlement.models import Account
from tests.helpers import key, settle
from tests.wallets.console_world import ConsoleWorld
from wallets import services
from wallets.models import Escrow

pytestmark = pytest.mark.django_db


def held(wallet) -> tuple[int, int]:
    account = Account.objects.get(pk=wallet.account_id)
    return account.balance, account.reserved


@pytest.fixture
def console(world):
    return ConsoleWorld.build(world)


def make(console, payee: str, **condition) -> Escrow:
    escrow = services.escrow_create(
        actor=console.actors["icbc_staff"],
        payer=console.wallets["alice"].number,
        payee=console.wallets[payee].number,
        amount=yuan(10),
        condition="APPROVAL" if condition else "PAYER_CONFIRMS",
        idempotency_key=key("console"),
        **condition,
    )
    settle()
    return escrow


def state(escrow: Escrow) -> str:
    return services.escrow_state(Escrow.objects.select_related("transfer").get(pk=escrow.pk))


def test_each_role_lists_its_escrows(console):
    to_anon, to_bob = make(console, "anon"), make(console, "bob")
    rows = {}
    for who in ("icbc_staff", "ccb_staff", "auditor"):
        response = console.client(who).get("/admin/wallets/escrow/")
        rows[who] = {row.pk for row in response.context["cl"].result_list}
    assert rows == {
        "icbc_staff": {to_anon.pk, to_bob.pk},
        "ccb_staff": {to_bob.pk},  # the payee's operator
        "auditor": {to_anon.pk, to_bob.pk},
    }
    page = console.client("icbc_staff").get(f"/admin/wallets/escrow/{to_anon.pk}/change/")
    assert "HELD" in page.content.decode() and "Confirm delivery" in page.content.decode()


def test_the_payers_operator_confirms_delivery(console):
    escrow = make(console, "bob")
    alice, bob = console.wallets["alice"], console.wallets["bob"]
    assert held(alice) == (yuan(1_000), yuan(10))
    # CCB's staff, the payee's operator, may not release it to its own holder.
    response = console.client("ccb_staff").post(f"/admin/wallets/escrow/{escrow.pk}/confirm/")
    assert response.status_code == 403
    response = console.client("icbc_staff").post(f"/admin/wallets/escrow/{escrow.pk}/confirm/")
    assert response.status_code == 302
    settle()
    assert state(escrow) == "RELEASED"
    assert held(alice) == (yuan(990), 0) and held(bob) == (yuan(510), 0)


def test_each_sides_operator_agrees_to_cancel(console):
    escrow = make(console, "bob")
    for who in ("icbc_staff", "ccb_staff"):
        response = console.client(who).post(f"/admin/wallets/escrow/{escrow.pk}/cancel/")
        assert response.status_code == 302, who
    settle()
    assert state(escrow) == "CANCELLED"
    assert held(console.wallets["alice"]) == (yuan(1_000), 0)
    # Decided: a second confirm is refused by the service, shown on the form.
    response = console.client("icbc_staff").post(f"/admin/wallets/escrow/{escrow.pk}/confirm/")
    assert "ESCROW_NOT_HELD" in response.content.decode()


def test_the_named_approver_approves(console):
    escrow = make(console, "anon", approver="auditor")
    response = console.client("auditor").post(f"/admin/wallets/escrow/{escrow.pk}/approve/")
    assert response.status_code == 302
    settle()
    assert state(escrow) == "RELEASED" and held(console.wallets["anon"]) == (yuan(110), 0)
