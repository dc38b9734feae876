"""Who may act, through the services, as worked examples; and each rule's two forms (the
predicate a service raises from, the filter a list is scoped by) agreeing on every row."""

import pytest
from django.contrib.auth.models import User

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.models import Transfer
from settlement.sql import fetch
from tests.helpers import actor_with, balance, key, settle, staff_of
from wallets import authority, selectors, services
from wallets.actors import Actor
from wallets.models import FreezeOrder, Holder, Wallet, WalletKind
from wallets.roles import Role


def refused(code: str):
    """pytest.raises for a domain error, checked for its code on exit."""

    class Refusal:
        def __enter__(self):
            self.raises = pytest.raises(EwalletError)
            self.info = self.raises.__enter__()
            return self.info

        def __exit__(self, *exc):
            swallowed = self.raises.__exit__(*exc)
            assert self.info.value.code == code, self.info.value
            return swallowed

    return Refusal()


# --------------------------------------------------------------- freeze orders


def test_a_central_bank_freeze_is_not_lifted_by_the_operator(world):
    """The reported hole: ICBC staff unfroze a central-bank freeze ("AML case 42")."""
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    order = services.wallet_freeze(
        actor=world.checker, wallet=alice, scope="FULL", reason="AML case 42"
    )
    assert (order.authority, order.operator_id, alice.account.status) == (
        "CENTRAL_BANK",
        None,
        "FROZEN",
    )
    with refused("FREEZE_AUTHORITY"):
        services.freeze_lift(actor=world.staff, order=order, reason="customer called")
    order.refresh_from_db()
    assert order.in_force
    assert world.state(world.pay(alice, bob, 10)) == ("REJECTED", "WALLET_FROZEN")
    assert (balance(alice), balance(bob)) == (yuan(100), 0)

    services.freeze_lift(actor=world.checker, order=order, reason="case closed")
    assert world.state(world.pay(alice, bob, 10)) == ("SETTLED", "")


def test_an_operators_freeze_is_lifted_by_that_operator_only(world):
    alice = world.wallet("Alice", load=100)
    order = services.wallet_freeze(actor=world.staff, wallet=alice, scope="FULL", reason="fraud")
    assert (order.authority, order.operator_id) == ("OPERATOR", world.operators["ICBC"].pk)
    with refused("FREEZE_AUTHORITY"):  # the central bank did not give it
        services.freeze_lift(actor=world.checker, order=order, reason="no")
    with refused("NOT_FOUND"):  # another operator does not even see the wallet
        services.freeze_lift(actor=world.staff_of["CCB"], order=order, reason="no")
    services.freeze_lift(actor=world.staff, order=order, reason="cleared")
    order.refresh_from_db()
    assert (order.in_force, order.lifted_by, order.lift_reason) == (
        False,
        world.staff.user,
        "cleared",
    )
    with refused("INVALID_STATE"):
        services.freeze_lift(actor=world.staff, order=order, reason="twice")


def test_freeze_orders_stack_until_none_is_in_force(world):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob", load=100)
    bank = services.wallet_freeze(
        actor=world.checker, wallet=alice, scope="RECEIVE_ONLY", reason="AML"
    )
    own = services.wallet_freeze(actor=world.staff, wallet=alice, scope="FULL", reason="fraud")
    assert Wallet.objects.get(pk=alice.pk).status == "FROZEN"
    services.freeze_lift(actor=world.staff, order=own, reason="cleared")
    # The bank's receive-only order still holds: in yes, out no.
    assert Wallet.objects.get(pk=alice.pk).status == "RECEIVE_ONLY"
    assert world.state(world.pay(bob, alice, 5)) == ("SETTLED", "")
    assert world.state(world.pay(alice, bob, 5)) == ("REJECTED", "WALLET_RECEIVE_ONLY")
    services.freeze_lift(actor=world.checker, order=bank, reason="case closed")
    assert Wallet.objects.get(pk=alice.pk).status == "ACTIVE"
    history = list(alice.status_changes.order_by("pk").values_list("old_status", "new_status"))
    assert history == [
        ("ACTIVE", "RECEIVE_ONLY"),
        ("RECEIVE_ONLY", "FROZEN"),
        ("FROZEN", "RECEIVE_ONLY"),
        ("RECEIVE_ONLY", "ACTIVE"),
    ]


def test_who_may_order_a_freeze(world):
    alice = world.wallet("Alice")
    before = FreezeOrder.objects.count()
    with refused("PERMISSION_DENIED"):  # sees it, may not freeze it
        services.wallet_freeze(actor=world.maker, wallet=alice, scope="FULL", reason="x")
    with refused("NOT_FOUND"):  # another operator's wallet is not there for CCB
        services.wallet_freeze(actor=world.staff_of["CCB"], wallet=alice, scope="FULL", reason="x")
    with refused("INVALID_INPUT"):
        services.wallet_freeze(actor=world.staff, wallet=alice, scope="FULL", reason="  ")
    assert FreezeOrder.objects.count() == before
    assert Wallet.objects.get(pk=alice.pk).status == "ACTIVE"


# --------------------------------------------------------------- holders belong to operators


def test_an_operator_cannot_open_a_wallet_on_another_operators_holder(world):
    """The reported hole: ICBC staff opened a class-2 ICBC wallet on ABC's KYC."""
    ccb_holder = world.wallet("Chen", klass=4, operator="CCB").holder
    wallets = Wallet.objects.count()
    with refused("NOT_FOUND") as error:
        services.wallet_open(actor=world.staff, holder=ccb_holder, wallet_class=4)
    assert "Chen" not in str(error.value) and ccb_holder.phone not in str(error.value)
    with refused("PERMISSION_DENIED"):
        services.holder_register(
            actor=world.staff,
            operator=world.operators["CCB"],
            display_name="Chen",
            kyc_method="PHONE_ONLY",
            phone="13900000001",
        )
    assert Wallet.objects.count() == wallets
    # The central bank sees the holder but opens no wallets.
    with refused("PERMISSION_DENIED"):
        services.wallet_open(actor=world.checker, holder=ccb_holder)


def test_one_person_at_two_operators_is_two_records_linked_by_a_keyed_hash(world):
    kyc = {"kyc_method": "REMOTE_ID", "id_number": "11010119900101123X"}
    at_icbc = services.holder_register(
        actor=world.staff, operator=world.operators["ICBC"], display_name="Li Wei", **kyc
    )
    at_ccb = services.holder_register(
        actor=world.staff_of["CCB"],
        operator=world.operators["CCB"],
        display_name="Li Wei",
        kyc_method="REMOTE_ID",
        id_number="110101 19900101 123x",  # the same number, written another way
    )
    other = services.holder_register(
        actor=world.staff,
        operator=world.operators["ICBC"],
        display_name="Li Wei",
        kyc_method="REMOTE_ID",
        id_number="110101199001011248",
    )
    assert at_icbc.pk != at_ccb.pk and at_icbc.pseudonym != at_ccb.pseudonym
    assert len(at_icbc.identity_link) == 64
    assert at_icbc.identity_link == at_ccb.identity_link != other.identity_link
    assert "11010119900101123" not in at_icbc.identity_link


# --------------------------------------------------------------- operator suspension


def test_a_suspended_operators_wallets_receive_but_do_not_pay_or_load(world):
    alice = world.wallet("Alice", operator="ICBC", load=100)
    bob = world.wallet("Bob", operator="CCB", load=100)
    queued = world.pay_later(alice, bob, yuan(10))  # before the suspension, settled after
    services.operator_set_status(
        actor=world.checker, operator=world.operators["ICBC"], status="SUSPENDED"
    )
    settle()
    assert world.state(queued) == ("REJECTED", "OPERATOR_SUSPENDED")
    assert world.state(world.pay(alice, bob, 1)) == ("REJECTED", "OPERATOR_SUSPENDED")
    load = services.wallet_load(actor=world.staff, wallet=alice, amount=100, idempotency_key=key())
    unload = services.wallet_unload(
        actor=world.staff, wallet=alice, amount=100, idempotency_key=key()
    )
    settle()
    assert world.state(load) == world.state(unload) == ("REJECTED", "OPERATOR_SUSPENDED")
    assert (balance(alice), balance(bob)) == (yuan(100), yuan(100))
    # Its holders still receive.
    assert world.state(world.pay(bob, alice, 7)) == ("SETTLED", "")
    assert balance(alice) == yuan(107)

    services.operator_set_status(
        actor=world.checker, operator=world.operators["ICBC"], status="ACTIVE"
    )
    assert world.state(world.pay(alice, bob, 7)) == ("SETTLED", "")


def test_a_suspended_operator_can_be_redeemed_from_but_not_issued_to(world):
    icbc = world.operators["ICBC"]
    services.operator_set_status(actor=world.checker, operator=icbc, status="SUSPENDED")
    vault = balance(icbc.vault_account)
    redeem = world.issue("ICBC", 1_000, direction="REDEEM")
    assert world.state(redeem) == ("SETTLED", "")
    assert balance(icbc.vault_account) == vault - yuan(1_000)
    with refused("OPERATOR_SUSPENDED"):
        world.issue("ICBC", 1_000)


def test_only_the_central_banks_approver_suspends(world):
    with refused("PERMISSION_DENIED"):
        services.operator_set_status(
            actor=world.staff, operator=world.operators["ICBC"], status="SUSPENDED"
        )
    world.operators["ICBC"].refresh_from_db()
    assert world.operators["ICBC"].status == "ACTIVE"


# --------------------------------------------------------------- money movements


def test_who_may_load_pay_and_batch(world):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob", operator="CCB")
    transfers = Transfer.objects.count()
    with refused("NOT_FOUND"):
        services.wallet_load(
            actor=world.staff_of["CCB"], wallet=alice, amount=1, idempotency_key=key()
        )
    with refused("PERMISSION_DENIED"):
        services.wallet_load(actor=world.checker, wallet=alice, amount=1, idempotency_key=key())
    with refused("NOT_FOUND"):  # CCB's staff may pay only from CCB's wallets
        services.payment_submit(
            actor=world.staff_of["CCB"],
            payer=alice.number,
            payee=bob.number,
            amount=1,
            idempotency_key=key(),
        )
    with refused("PERMISSION_DENIED"):  # the central bank sees the wallet, may not pay from it
        services.payment_submit(
            actor=world.checker,
            payer=alice.number,
            payee=bob.number,
            amount=1,
            idempotency_key=key(),
        )
    with refused("PERMISSION_DENIED"):
        services.payments_submit_many(actor=world.checker, payments=[])
    assert Transfer.objects.count() == transfers
    assert balance(alice) == yuan(100)


def test_a_holder_pays_from_their_own_wallet_only(world):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob", load=100)
    user = User.objects.create_user("alice")
    Holder.objects.filter(pk=alice.holder_id).update(user=user)
    holder = Actor.of(user)
    transfer, _, _ = services.payment_submit(
        actor=holder, payer=alice.number, payee=bob.number, amount=100, idempotency_key=key()
    )
    settle()
    assert world.state(transfer) == ("SETTLED", "")
    with refused("NOT_FOUND"):
        services.payment_submit(
            actor=holder, payer=bob.number, payee=alice.number, amount=1, idempotency_key=key()
        )


# --------------------------------------------------------------- one rule, two forms


def test_each_rules_filter_agrees_with_its_predicate(world):
    icbc_people = [world.wallet("Alice", klass=2), world.wallet("Anon", klass=4)]
    ccb_people = [
        world.wallet("Bob", klass=2, operator="CCB"),
        world.wallet("X", klass=4, operator="CCB"),
    ]
    # Alice's own sub-wallet, as a row: nobody pays from one, her included.
    pocket = world.wallet("Alice's pocket", klass=2)
    Wallet.objects.filter(pk=pocket.pk).update(
        kind=WalletKind.SUB, holder_id=icbc_people[0].holder_id
    )
    icbc_people.append(pocket)
    user = User.objects.create_user("alice")
    Holder.objects.filter(pk=icbc_people[0].holder_id).update(user=user)
    actors = {
        "alice": Actor.of(user),
        "icbc": world.staff,
        "ccb": world.staff_of["CCB"],
        "new ccb staff": staff_of(world.operators["CCB"], "ccb2"),
        "issuer": world.maker,
        "auditor": actor_with("auditor", Role.CB_AUDITOR),
        "nobody": actor_with("nobody"),
        "anonymous": Actor.of(None),
    }
    wallets = list(Wallet.objects.select_related("holder"))
    holders = list(Holder.objects.all())
    assert len(wallets) == len(icbc_people + ccb_people)
    for name, actor in actors.items():
        seen = set(selectors.wallets_visible_to(actor))
        assert seen == {w for w in wallets if authority.sees_wallet(actor, w)}, name
        payable = fetch(
            f"SELECT w.id FROM {Wallet._meta.db_table} w WHERE {authority.PAY_FROM_SQL}",
            authority.pay_from_parameters(actor),
        )
        assert {row[0] for row in payable} == {
            w.pk for w in wallets if authority.may_pay_from(actor, w)
        }, name
        operated = set(selectors.wallets_actionable_by(actor))
        assert operated == {w for w in wallets if authority.operates_wallet(actor, w)}, name
        seen_holders = set(selectors.holders_visible_to(actor))
        assert seen_holders == {h for h in holders if authority.sees_holder(actor, h)}, name
        named = {
            h.pk
            for h in selectors.holders_with_identity_shown(actor)
            if h.name_shown == h.display_name
        }
        assert named == {h.pk for h in seen_holders if actor.sees_identity_of(h)}, name
    assert {w.number for w in selectors.wallets_visible_to(actors["icbc"])} == {
        w.number for w in icbc_people
    }
    # The central bank knows the class-4 holders by pseudonym only.
    shown = {w.pk: w.holder_shown for w in selectors.wallets_with_holder_shown(world.maker)}
    assert shown[icbc_people[1].pk] == icbc_people[1].holder.pseudonym
    assert shown[icbc_people[0].pk] == "Alice"


def test_an_anonymous_holder_gives_the_phone_and_nothing_else(world):
    with refused("INVALID_INPUT"):
        services.holder_register(
            actor=world.staff,
            operator=world.operators["ICBC"],
            display_name="Anon",
            kyc_method="PHONE_ONLY",
            phone="13900000002",
            id_number="110101199001011234",
        )
    assert not Holder.objects.filter(display_name="Anon").exists()
