"""Sub-wallets as worked examples: Alice pushes a sub-wallet with a cap to a ride-hailing
app, which pulls fares from it without asking her; she revokes it, or it expires, and the
unspent fen go back. Amounts in yuan unless fen; every refusal moves nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.models import Transfer, TransferKind
from tests.helpers import assert_every_fen_kept, balance, key, settle
from wallets import authority, selectors, services, tasks
from wallets.actors import Actor
from wallets.models import MerchantPayment, SubWallet, SubWalletState, WalletKind


@pytest.fixture(autouse=True)
def every_fen_kept(world, audit_key):
    """After every example: e-CNY in circulation equals what was issued and what backs it,
    and the audit log verifies against the ledger."""
    yield
    assert_every_fen_kept()


def refused(code: str, call, *args, **kwargs) -> EwalletError:
    with pytest.raises(EwalletError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def holder_login(world, wallet) -> Actor:
    """The wallet's holder, signed in from a device their operator enrolled."""
    services.holder_device_enrol(
        actor=world.staff_of[wallet.operator.code], holder=wallet.holder, name="phone"
    )
    wallet.holder.refresh_from_db()
    return Actor.of(wallet.holder.user)


@pytest.fixture
def rides(world):
    return world.merchant("Shenzhen Rides", mcc="4121")


@pytest.fixture
def alice(world):
    return world.wallet("Alice", klass=2, load=1_000)


@pytest.fixture
def as_alice(world, alice):
    return holder_login(world, alice)


def push(actor, parent, merchant, cap_yuan, days=7):
    sub = services.sub_wallet_push(
        actor=actor,
        parent=parent,
        merchant=merchant.merchant.code,
        cap=yuan(cap_yuan),
        expires_at=timezone.now() + timedelta(days=days),
    )
    settle()
    return sub


def pull(merchant, sub, amount_fen, **kwargs):
    pulled = services.sub_wallet_pull(
        actor=merchant.staff,
        sub_wallet=sub,
        amount=amount_fen,
        idempotency_key=kwargs.pop("idempotency_key", None) or key("pull"),
        **kwargs,
    )
    settle()
    return pulled


def fresh(sub) -> SubWallet:
    return selectors.sub_wallets_with_money(SubWallet.objects.filter(pk=sub.pk)).get()


def test_pushing_moves_the_cap_into_a_child_wallet_of_its_own(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 200)
    assert world.state(sub.fund_transfer) == ("SETTLED", "")
    assert sub.fund_transfer.kind == TransferKind.SUB_WALLET_FUND
    child = sub.wallet
    assert (child.kind, child.holder_id, child.operator_id) == (
        WalletKind.SUB,
        alice.holder_id,
        alice.operator_id,
    )
    assert balance(alice) == yuan(800)
    assert balance(child) == yuan(200)
    sub = fresh(sub)
    assert (sub.state, sub.unspent, sub.pulled, sub.returned) == ("ACTIVE", yuan(200), 0, 0)
    # Its account has no limits: the funding counted against Alice's as it left.
    child.account.refresh_from_db()
    assert child.account.single_limit is None and child.account.daily_limit is None


def test_pulls_up_to_the_cap_and_one_fen_over_is_refused(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 200)
    for fare, order in ((yuan("150.00"), "ride-1"), (yuan("49.99"), "ride-2")):
        pulled = pull(rides, sub, fare, order_reference=order)
        assert world.state(pulled.transfer) == ("SETTLED", "")
        assert pulled.transfer.kind == TransferKind.MERCHANT
    error = refused("SUB_WALLET_EXHAUSTED", pull, rides, sub, 2)
    assert error.extra == {"remaining_fen": 1}
    assert world.state(pull(rides, sub, 1).transfer) == ("SETTLED", "")
    # The cap is spent to the fen: one more fen is refused, and nothing moves.
    error = refused("SUB_WALLET_EXHAUSTED", pull, rides, sub, 1)
    assert error.extra == {"remaining_fen": 0}
    assert balance(sub.wallet) == 0
    assert balance(rides.wallet) == yuan(200)
    assert balance(alice) == yuan(800)
    # The merchant's payments list shows each pull, paid from the sub-wallet.
    payments = selectors.merchant_payments_visible_to(rides.staff)
    assert sorted(p.amount for p in payments) == [1, 4_999, 15_000]
    assert {p.payer_wallet_id for p in payments} == {sub.wallet_id}
    assert {p.request.order_reference for p in payments} == {"ride-1", "ride-2", ""}
    assert (fresh(sub).pulled, fresh(sub).unspent) == (yuan(200), 0)


def test_revoking_returns_exactly_the_unspent_fen(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 100)
    pull(rides, sub, 3_680, order_reference="ride-7")
    revoked = services.sub_wallet_revoke(actor=as_alice, sub_wallet=sub)
    settle()
    assert revoked.state == SubWalletState.REVOKED
    back = Transfer.objects.get(kind=TransferKind.SUB_WALLET_RETURN)
    assert world.state(back) == ("SETTLED", "")
    assert back.legs.get().amount == yuan(100) - 3_680 == 6_320
    assert balance(alice) == yuan(1_000) - 3_680
    assert balance(sub.wallet) == 0
    assert balance(rides.wallet) == 3_680
    # No more pulls; revoking again is harmless and moves nothing.
    refused("SUB_WALLET_REVOKED", pull, rides, sub, 1)
    services.sub_wallet_revoke(actor=world.staff_of["ICBC"], sub_wallet=sub)
    settle()
    assert Transfer.objects.filter(kind=TransferKind.SUB_WALLET_RETURN).count() == 1
    assert balance(alice) == yuan(1_000) - 3_680


def test_revoked_before_its_funding_settled_returns_it_after(world, rides, alice, as_alice):
    sub = services.sub_wallet_push(
        actor=as_alice,
        parent=alice,
        merchant=rides.merchant.code,
        cap=yuan(50),
        expires_at=timezone.now() + timedelta(days=1),
    )
    services.sub_wallet_revoke(actor=as_alice, sub_wallet=sub)  # both queued, in order
    settle()
    assert balance(alice) == yuan(1_000)
    assert balance(sub.wallet) == 0


def expire(sub) -> None:
    """Move the sub-wallet's life into the past, as if its expiry had passed."""
    past = timezone.now() - timedelta(hours=1)
    SubWallet.objects.filter(pk=sub.pk).update(created_at=past - timedelta(days=1), expires_at=past)


def test_at_expiry_the_sweep_returns_the_unspent_fen_once(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 100)
    pull(rides, sub, yuan(10))
    expire(sub)
    assert fresh(sub).state == SubWalletState.EXPIRED
    refused("SUB_WALLET_EXPIRED", pull, rides, sub, 1)
    assert tasks.sub_wallets_expire() == {"returns": 1}  # beat's task
    # A second sweep before the first return settled finds it on its way: nothing twice.
    assert services.sub_wallets_expire(actor=Actor.system()) == 0
    settle()
    assert services.sub_wallets_expire(actor=Actor.system()) == 0
    assert balance(alice) == yuan(1_000) - yuan(10)
    assert balance(sub.wallet) == 0
    assert fresh(sub).returned == yuan(90)
    refused("PERMISSION_DENIED", services.sub_wallets_expire, actor=as_alice)


def test_a_refund_of_a_pull_goes_back_in_and_home_at_the_end(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 100)
    fare = pull(rides, sub, yuan(100))
    refused("SUB_WALLET_EXHAUSTED", pull, rides, sub, 1)
    services.refund_create(
        actor=rides.staff, original=fare.transfer, amount=yuan(20), idempotency_key=key("r")
    )
    settle()
    assert fresh(sub).unspent == yuan(20)  # pullable again while active
    expire(sub)
    services.sub_wallets_expire(actor=Actor.system())
    settle()
    assert balance(alice) == yuan(1_000) - yuan(80)
    assert balance(sub.wallet) == 0


def test_the_same_key_pulls_once(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 100)
    first = pull(rides, sub, 500, idempotency_key="fare-9")
    again = pull(rides, sub, 500, idempotency_key="fare-9")
    assert (again.created, again.transfer.pk) == (False, first.transfer.pk)
    refused("IDEMPOTENCY_CONFLICT", pull, rides, sub, 600, idempotency_key="fare-9")
    pull(rides, sub, 100, order_reference="ride-1")
    refused("CONFLICT", pull, rides, sub, 100, order_reference="ride-1")
    assert balance(rides.wallet) == 600


def test_others_see_nothing_and_only_the_right_ones_act(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 100)
    books = world.merchant("Futian Books", operator="CCB")
    bob = world.wallet("Bob", klass=4, load=100)
    as_bob = holder_login(world, bob)
    for stranger in (books.staff, as_bob, world.staff_of["CCB"]):
        refused(
            "NOT_FOUND",
            services.sub_wallet_pull,
            actor=stranger,
            sub_wallet=sub,
            amount=1,
            idempotency_key=key(),
        )
        refused("NOT_FOUND", services.sub_wallet_revoke, actor=stranger, sub_wallet=sub)
        assert not selectors.sub_wallets_visible_to(stranger).filter(pk=sub.pk).exists()
    # Those who see it but may not act: the central bank looks; the merchant only pulls;
    # the holder and her operator do not pull.
    auditor = world.checker
    refused("PERMISSION_DENIED", services.sub_wallet_revoke, actor=auditor, sub_wallet=sub)
    refused("PERMISSION_DENIED", services.sub_wallet_revoke, actor=rides.staff, sub_wallet=sub)
    for holder_side in (as_alice, world.staff_of["ICBC"]):
        refused(
            "PERMISSION_DENIED",
            services.sub_wallet_pull,
            actor=holder_side,
            sub_wallet=sub,
            amount=1,
            idempotency_key=key(),
        )
    # Nobody pays out of a sub-wallet but by a pull; Bob cannot push from Alice's wallet.
    refused(
        "NOT_FOUND",
        services.payment_submit,
        actor=as_alice,
        payer=sub.wallet.number,
        payee=rides.wallet.number,
        amount=1,
        idempotency_key=key(),
    )
    refused("NOT_FOUND", push, as_bob, alice, rides, 1)
    refused("PERMISSION_DENIED", push, world.checker, alice, rides, 1)
    assert balance(sub.wallet) == yuan(100)
    # The rule and its filter agree, for everyone here.
    for who in (
        as_alice,
        as_bob,
        rides.staff,
        books.staff,
        world.checker,
        world.staff_of["ICBC"],
        world.staff_of["CCB"],
    ):
        listed = selectors.sub_wallets_visible_to(who).filter(pk=sub.pk).exists()
        assert listed == authority.sees_sub_wallet(who, sub)


def test_pushes_count_against_the_parents_limits_and_pulls_do_not_again(world, rides):
    # Class 4: single payment 2,000, daily 5,000, balance 10,000.
    alice = world.wallet("Alice", klass=4, load=9_000)
    bob = world.wallet("Bob", klass=2)
    as_alice = holder_login(world, alice)
    over = push(as_alice, alice, rides, "2000.01")
    assert world.state(over.fund_transfer) == ("REJECTED", "LIMIT_SINGLE")
    assert fresh(over).unspent == 0
    refused("SUB_WALLET_EXHAUSTED", pull, rides, over, 1)
    first = push(as_alice, alice, rides, 2_000)
    second = push(as_alice, alice, rides, 2_000)
    assert world.state(first.fund_transfer) == world.state(second.fund_transfer) == ("SETTLED", "")
    # The app pulls all 2,000 of the first: it was counted when pushed, not again now.
    assert world.state(pull(rides, first, yuan(2_000)).transfer) == ("SETTLED", "")
    assert world.state(world.pay(alice, bob, 1_000)) == ("SETTLED", "")  # 5,000 today
    assert world.state(world.pay(alice, bob, "0.01")) == ("REJECTED", "LIMIT_DAILY")
    # Revoking gives the money back, not the day's limit (as a refund does not).
    services.sub_wallet_revoke(actor=as_alice, sub_wallet=second)
    settle()
    assert balance(alice) == yuan(9_000) - yuan(2_000) - yuan(1_000)
    assert world.state(world.pay(alice, bob, "0.01")) == ("REJECTED", "LIMIT_DAILY")


def test_pushing_is_refused_for_bad_input_and_suspended_merchants(world, rides, alice, as_alice):
    later = timezone.now() + timedelta(days=1)
    refused(
        "INVALID_AMOUNT",
        services.sub_wallet_push,
        actor=as_alice,
        parent=alice,
        merchant=rides.merchant.code,
        cap=0,
        expires_at=later,
    )
    refused(
        "INVALID_INPUT",
        services.sub_wallet_push,
        actor=as_alice,
        parent=alice,
        merchant=rides.merchant.code,
        cap=1,
        expires_at=timezone.now(),
    )
    refused(
        "INVALID_INPUT",
        services.sub_wallet_push,
        actor=as_alice,
        parent=alice,
        merchant=rides.merchant.code,
        cap=1,
        expires_at=later + timedelta(days=400),
    )
    refused(
        "NOT_FOUND",
        services.sub_wallet_push,
        actor=as_alice,
        parent=alice,
        merchant="m_nobody",
        cap=1,
        expires_at=later,
    )
    services.merchant_set_status(
        actor=world.staff_of["ICBC"], merchant=rides.merchant, status="SUSPENDED"
    )
    refused(
        "MERCHANT_SUSPENDED",
        services.sub_wallet_push,
        actor=as_alice,
        parent=alice,
        merchant=rides.merchant.code,
        cap=1,
        expires_at=later,
    )
    assert SubWallet.objects.count() == 0
    assert balance(alice) == yuan(1_000)
    assert not MerchantPayment.objects.exists()


def test_money_leaves_a_sub_wallet_by_pulls_and_its_return_only(world, rides, alice, as_alice):
    sub = push(as_alice, alice, rides, 100)
    icbc = world.staff_of["ICBC"]
    [outcome] = services.payments_submit_many(
        actor=icbc,
        payments=[services.PaymentSpec(sub.wallet.number, rides.wallet.number, 1, key())],
    )
    assert outcome.error.code == "NOT_FOUND"
    refused(
        "INVALID_INPUT",
        services.wallet_unload,
        actor=icbc,
        wallet=sub.wallet,
        amount=1,
        idempotency_key=key(),
    )
    refused(
        "INVALID_INPUT", services.wallet_change_class, actor=icbc, wallet=sub.wallet, wallet_class=2
    )
    refused(
        "INVALID_INPUT", services.wallet_open, actor=icbc, holder=alice.holder, kind=WalletKind.SUB
    )
    settle()
    assert balance(sub.wallet) == yuan(100)
    # A change of the class's limits leaves the sub-wallet's account without any.
    services.wallet_class_update(actor=world.policy, number=2, single_limit=yuan(10))
    sub.wallet.account.refresh_from_db()
    assert sub.wallet.account.single_limit is None
    assert world.state(pull(rides, sub, yuan(50)).transfer) == ("SETTLED", "")


def test_beat_runs_the_sweep(settings):
    from ewallet.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["sub-wallet-sweep"]
    app.loader.import_default_modules()
    assert entry["task"] == "wallets.sub_wallets_expire" and entry["task"] in app.tasks
