"""The ledger's rules as worked examples a banker could read. Amounts in yuan unless fen."""

import pytest
from django.contrib.auth.models import Group

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.models import Transfer
from settlement.selectors import money_totals
from settlement.services import LegSpec, transfer_submit
from tests.helpers import balance, key, settle
from wallets import services
from wallets.actors import Actor
from wallets.catalogue import WALLET_CLASSES_CCB_2020


def test_class_4_payment_above_single_limit_is_rejected_and_moves_nothing(world):
    # Issue 1,000,000 to ICBC, load 500 into Alice's class-4 wallet, Alice pays 2,500.
    alice = world.wallet("Alice", klass=4, load=500)
    bob = world.wallet("Bob", klass=2)
    transfer = world.pay(alice, bob, 2_500)
    assert world.state(transfer) == ("REJECTED", "LIMIT_SINGLE")
    assert balance(alice) == yuan(500)
    assert balance(bob) == 0
    assert transfer.postings.count() == 0


def test_payment_settles_and_moves_exactly_the_amount(world):
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=3)
    transfer = world.pay(alice, bob, "123.45")
    assert world.state(transfer) == ("SETTLED", "")
    assert balance(alice) == yuan(1_000) - 12_345
    assert balance(bob) == 12_345
    assert sorted(transfer.postings.values_list("amount", flat=True)) == [-12_345, 12_345]


@pytest.mark.parametrize(
    ("scope", "code"), [("FULL", "WALLET_FROZEN"), ("RECEIVE_ONLY", "WALLET_RECEIVE_ONLY")]
)
def test_restricted_payer_cannot_pay(world, scope, code):
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    order = services.wallet_freeze(actor=world.staff, wallet=alice, scope=scope, reason="court")
    assert world.state(world.pay(alice, bob, 10)) == ("REJECTED", code)
    assert balance(alice) == yuan(100)
    services.freeze_lift(actor=world.staff, order=order, reason="cleared")
    assert world.state(world.pay(alice, bob, 10)) == ("SETTLED", "")


def test_money_invariant_holds(world):
    alice = world.wallet("Alice", load=100)
    world.pay(alice, world.wallet("Bob"), 10)
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing == yuan(2_000_000)


def test_class_4_daily_limit_counts_todays_payments(world):
    # Class 4: single 2,000, daily 5,000. Two payments of 2,000 pass, a third of 1,500 does not.
    alice = world.wallet("Alice", klass=4, load=9_000)
    shop = world.wallet("Noodle shop", klass=1, merchant=True)
    assert world.state(world.pay(alice, shop, 2_000)) == ("SETTLED", "")
    assert world.state(world.pay(alice, shop, 2_000)) == ("SETTLED", "")
    assert world.state(world.pay(alice, shop, 1_500)) == ("REJECTED", "LIMIT_DAILY")
    assert world.state(world.pay(alice, shop, 1_000)) == ("SETTLED", "")
    assert balance(alice) == yuan(4_000)


def test_balance_cap_refuses_a_payment_into_a_full_class_4_wallet(world):
    # Class 4 holds at most 10,000: Carol has 9,900, a payment of 200 would take her over.
    carol = world.wallet("Carol", klass=4, load=9_900)
    dave = world.wallet("Dave", klass=2, load=1_000)
    assert world.state(world.pay(dave, carol, 200)) == ("REJECTED", "LIMIT_BALANCE")
    assert world.state(world.pay(dave, carol, 100)) == ("SETTLED", "")
    assert balance(carol) == yuan(10_000)


def test_insufficient_funds(world):
    alice = world.wallet("Alice", klass=2, load=100)
    transfer = world.pay(alice, world.wallet("Bob"), "100.01")
    assert world.state(transfer) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert balance(alice) == yuan(100)


def test_frozen_payee_cannot_receive_but_receive_only_can(world):
    alice = world.wallet("Alice", load=100)
    frozen, restricted = world.wallet("Frozen"), world.wallet("Restricted")
    services.wallet_freeze(actor=world.staff, wallet=frozen, scope="FULL", reason="fraud")
    services.wallet_freeze(
        actor=world.staff, wallet=restricted, scope="RECEIVE_ONLY", reason="dormant"
    )
    assert world.state(world.pay(alice, frozen, 10)) == ("REJECTED", "WALLET_FROZEN")
    assert world.state(world.pay(alice, restricted, 10)) == ("SETTLED", "")
    assert restricted.status_changes.get().new_status == "RECEIVE_ONLY"


def test_payment_across_operators_moves_e_cny_between_wallets_only(world):
    alice = world.wallet("Alice", operator="ICBC", load=300)
    shop = world.wallet("Tea house", operator="CCB", merchant=True, klass=1)
    icbc_vault = world.operators["ICBC"].vault_account
    ccb_vault = world.operators["CCB"].vault_account
    before = balance(icbc_vault), balance(ccb_vault)
    transfer = world.pay(alice, shop, 88)
    assert transfer.kind == "MERCHANT"
    assert world.state(transfer) == ("SETTLED", "")
    assert (balance(icbc_vault), balance(ccb_vault)) == before
    assert balance(shop) == yuan(88)


def test_load_and_unload_go_through_the_operators_vault(world):
    vault = world.operators["ICBC"].vault_account
    alice = world.wallet("Alice", load=500)
    assert balance(vault) == yuan(1_000_000 - 500)
    services.wallet_unload(actor=world.staff, wallet=alice, amount=yuan(200), idempotency_key=key())
    settle()
    assert balance(alice) == yuan(300)
    assert balance(vault) == yuan(1_000_000 - 300)
    # Unloading is not a payment: it does not count against the class-2 daily limit.
    assert not alice.account.usage.exists()


def test_redemption_shrinks_circulation_and_backing_together(world):
    world.issue("ICBC", 250_000, direction="REDEEM")
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing == yuan(1_750_000)
    assert balance(world.operators["ICBC"].reserve_account) == yuan(1_250_000)


def test_redeeming_more_than_the_vault_holds_is_rejected_whole(world):
    reserve = world.operators["ICBC"].reserve_account
    before = balance(reserve), money_totals()
    transfer = world.issue("ICBC", 1_000_001, direction="REDEEM")
    assert world.state(transfer) == ("REJECTED", "INSUFFICIENT_FUNDS")
    # Neither leg moved: not the e-CNY, not the reserve.
    assert (balance(reserve), money_totals()) == before


def test_issuing_more_than_the_reserve_is_rejected(world):
    # ICBC deposited 2,000,000 of reserve and 1,000,000 is already backing e-CNY.
    transfer = world.issue("ICBC", 1_000_001)
    assert world.state(transfer) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert money_totals().circulation == yuan(2_000_000)


def test_wallet_class_limit_change_applies_to_existing_wallets(world):
    alice = world.wallet("Alice", klass=4, load=900)
    bob = world.wallet("Bob")
    cap, single, daily, annual = (v * 100 if v else v for v in WALLET_CLASSES_CCB_2020[4])
    services.wallet_class_update(
        actor=world.policy,
        number=4,
        balance_cap=cap,
        single_limit=single,
        daily_limit=daily,
        annual_limit=annual,
    )
    assert world.state(world.pay(alice, bob, 600)) == ("REJECTED", "LIMIT_SINGLE")
    assert world.state(world.pay(alice, bob, 500)) == ("SETTLED", "")


def test_upgrading_a_wallet_needs_the_kyc_for_the_class(world):
    anonymous = world.wallet("Anon", klass=4)
    with pytest.raises(EwalletError) as refused:
        services.wallet_change_class(actor=world.staff, wallet=anonymous, wallet_class=2)
    assert refused.value.code == "KYC_INSUFFICIENT"
    assert balance(anonymous) == 0 and anonymous.account.single_limit == yuan(2_000)

    # Frank proved his identity remotely and linked a bank account: class 2 is open to him.
    frank = services.holder_register(
        actor=world.staff,
        operator=world.operators["ICBC"],
        display_name="Frank",
        kyc_method="REMOTE_ID_BANK",
        id_number="110101199001011234",
        bank_account="6222000011112222",
    )
    wallet = services.wallet_open(actor=world.staff, holder=frank, wallet_class=4)
    services.wallet_change_class(actor=world.staff, wallet=wallet, wallet_class=2)
    wallet.account.refresh_from_db()
    assert (wallet.wallet_class_id, wallet.account.single_limit) == (2, yuan(50_000))


# --------------------------------------------------------------- maker-checker and roles


def test_maker_cannot_approve_their_own_issuance(world):
    world.maker.user.groups.add(Group.objects.get(name="cb_approver"))
    both = Actor.of(world.maker.user)
    request = services.issuance_request(
        actor=both, operator=world.operators["ICBC"], amount=yuan(10), direction="ISSUE"
    )
    with pytest.raises(EwalletError) as refused:
        services.issuance_approve(actor=both, request_id=request.pk)
    assert refused.value.code == "MAKER_CHECKER"
    request.refresh_from_db()
    assert (request.state, request.transfer) == ("REQUESTED", None)


def test_issuance_roles_are_enforced(world):
    with pytest.raises(EwalletError) as refused:
        services.issuance_request(
            actor=world.staff, operator=world.operators["ICBC"], amount=yuan(10), direction="ISSUE"
        )
    assert refused.value.code == "PERMISSION_DENIED"
    request = services.issuance_request(
        actor=world.maker, operator=world.operators["ICBC"], amount=yuan(10), direction="ISSUE"
    )
    with pytest.raises(EwalletError) as refused:
        services.issuance_approve(actor=world.staff, request_id=request.pk)
    assert refused.value.code == "PERMISSION_DENIED"


def test_a_decided_request_cannot_be_decided_again(world):
    request = services.issuance_request(
        actor=world.maker, operator=world.operators["ICBC"], amount=yuan(10), direction="ISSUE"
    )
    services.issuance_reject(actor=world.checker, request_id=request.pk, reason="not needed")
    with pytest.raises(EwalletError) as refused:
        services.issuance_approve(actor=world.checker, request_id=request.pk)
    assert refused.value.code == "INVALID_STATE"


def test_suspended_operator_gets_no_issuance_and_no_new_wallets(world):
    icbc = world.operators["ICBC"]
    request = services.issuance_request(
        actor=world.maker, operator=icbc, amount=yuan(10), direction="ISSUE"
    )
    services.operator_set_status(actor=world.checker, operator=icbc, status="SUSPENDED")
    with pytest.raises(EwalletError) as refused:
        services.issuance_approve(actor=world.checker, request_id=request.pk)
    assert refused.value.code == "OPERATOR_SUSPENDED"
    with pytest.raises(EwalletError) as refused:
        services.issuance_request(actor=world.maker, operator=icbc, amount=10, direction="ISSUE")
    assert refused.value.code == "OPERATOR_SUSPENDED"
    with pytest.raises(EwalletError) as refused:
        world.wallet("Late", operator="ICBC")
    assert refused.value.code == "OPERATOR_SUSPENDED"


# --------------------------------------------------------------- idempotency and bad input


def test_same_idempotency_key_and_body_returns_the_first_transfer(world):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    first = world.pay(alice, bob, 10, idempotency_key="order-1")
    again = world.pay(alice, bob, 10, idempotency_key="order-1")
    assert again.pk == first.pk
    assert balance(bob) == yuan(10)


def test_same_idempotency_key_with_another_body_is_refused(world):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    world.pay(alice, bob, 10, idempotency_key="order-1")
    with pytest.raises(EwalletError) as refused:
        world.pay(alice, bob, 11, idempotency_key="order-1")
    assert refused.value.code == "IDEMPOTENCY_CONFLICT"
    assert balance(bob) == yuan(10)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, "INVALID_AMOUNT"),
        (-100, "INVALID_AMOUNT"),
        (1.5, "INVALID_AMOUNT"),
        (True, "INVALID_AMOUNT"),
        (10**15 + 1, "INVALID_AMOUNT"),
        ("100", "INVALID_AMOUNT"),
    ],
)
def test_bad_amounts_are_refused_before_anything_is_queued(world, amount, code):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    queued = Transfer.objects.count()
    with pytest.raises(EwalletError) as refused:
        services.payment_submit(
            actor=world.staff,
            payer=alice.number,
            payee=bob.number,
            amount=amount,
            idempotency_key="k",
        )
    assert refused.value.code == code
    assert Transfer.objects.count() == queued
    assert (balance(alice), balance(bob)) == (yuan(100), 0)


def test_paying_yourself_is_refused(world):
    alice = world.wallet("Alice", load=100)
    with pytest.raises(EwalletError) as refused:
        services.payment_submit(
            actor=world.staff,
            payer=alice.number,
            payee=alice.number,
            amount=100,
            idempotency_key="k",
        )
    assert refused.value.code == "SAME_ACCOUNT"


def test_a_leg_cannot_mix_assets(world):
    alice = world.wallet("Alice", load=100)
    with pytest.raises(EwalletError) as refused:
        transfer_submit(
            kind="P2P",
            legs=[LegSpec(alice.account_id, world.operators["ICBC"].reserve_account_id, 100)],
            idempotency_key="k",
        )
    assert refused.value.code == "ASSET_MISMATCH"


def test_unknown_account_is_refused(world):
    alice = world.wallet("Alice", load=100)
    with pytest.raises(EwalletError) as refused:
        transfer_submit(
            kind="P2P", legs=[LegSpec(alice.account_id, 999_999, 100)], idempotency_key="k"
        )
    assert refused.value.code == "NOT_FOUND"


def test_anonymous_holder_needs_a_phone_and_gets_class_4(world):
    ccb, staff = world.operators["CCB"], world.staff_of["CCB"]
    with pytest.raises(EwalletError) as refused:
        services.holder_register(
            actor=staff, operator=ccb, display_name="Nobody", kyc_method="PHONE_ONLY"
        )
    assert refused.value.code == "KYC_INSUFFICIENT"
    holder = services.holder_register(
        actor=staff, operator=ccb, display_name="Anon", kyc_method="PHONE_ONLY", phone="13900000000"
    )
    wallet = services.wallet_open(actor=staff, holder=holder)
    assert (wallet.wallet_class_id, wallet.operator_id) == (4, ccb.pk)
    assert wallet.account.single_limit == yuan(2_000)
    with pytest.raises(EwalletError) as refused:
        services.wallet_open(actor=staff, holder=holder, wallet_class=3)
    assert refused.value.code == "KYC_INSUFFICIENT"


def test_identity_numbers_are_stored_masked(world):
    holder = services.holder_register(
        actor=world.staff,
        operator=world.operators["ICBC"],
        display_name="Eve",
        kyc_method="REMOTE_ID_BANK",
        id_number="110101199001011234",
        bank_account="6222000011112222",
    )
    assert holder.id_number_masked == "**************1234"
    assert holder.bank_account_masked.endswith("2222")
    assert "1101011990" not in holder.id_number_masked


def test_closing_needs_an_empty_wallet_and_is_final(world):
    alice = world.wallet("Alice", load=50)
    with pytest.raises(EwalletError) as refused:
        services.wallet_close(actor=world.staff, wallet=alice, reason="bye")
    assert refused.value.code == "INVALID_STATE"
    services.wallet_unload(actor=world.staff, wallet=alice, amount=yuan(50), idempotency_key=key())
    settle()
    order = services.wallet_freeze(actor=world.staff, wallet=alice, scope="FULL", reason="hold")
    with pytest.raises(EwalletError) as refused:
        services.wallet_close(actor=world.staff, wallet=alice, reason="bye")
    assert refused.value.code == "INVALID_STATE"  # not while an order is in force
    services.freeze_lift(actor=world.staff, order=order, reason="released")
    services.wallet_close(actor=world.staff, wallet=alice, reason="bye")
    assert world.state(world.pay(world.wallet("Bob", load=5), alice, 1)) == (
        "REJECTED",
        "WALLET_CLOSED",
    )
    with pytest.raises(EwalletError) as refused:
        services.wallet_freeze(actor=world.staff, wallet=alice, scope="FULL", reason="again")
    assert refused.value.code == "WALLET_CLOSED"
