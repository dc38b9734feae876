"""Conditional payments (escrow) as worked examples: the amount held on the payer's wallet
(balance, reserved) until its condition releases it, both parties cancel it, or it
expires; every refusal moves nothing. Amounts in yuan unless fen."""

import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.models import Account, Transfer, TransferKind
from settlement.services import pendings_expire
from tests.helpers import assert_every_fen_kept, key, settle, user_with
from wallets import selectors, services
from wallets.actors import Actor
from wallets.models import Escrow, FreezeScope

HELD, RELEASED, CANCELLED, EXPIRED, REFUSED = (
    "HELD",
    "RELEASED",
    "CANCELLED",
    "EXPIRED",
    "REFUSED",
)


@pytest.fixture(autouse=True)
def every_fen_kept(world, audit_key):
    """After every example: e-CNY in circulation equals what was issued and what backs it,
    and the audit log (reserved funds included) verifies against the ledger."""
    yield
    assert_every_fen_kept()


@pytest.fixture
def alice(world):
    return world.wallet("Alice", klass=2, load=1_000)


@pytest.fixture
def bob(world):
    return world.wallet("Bob", klass=2, operator="CCB")


def held(wallet) -> tuple[int, int]:
    """(balance, reserved) in fen."""
    account = Account.objects.get(pk=wallet.account_id)
    return account.balance, account.reserved


def holder_actor(wallet) -> Actor:
    """The wallet's holder, with a login of their own."""
    holder = wallet.holder
    if holder.user_id is None:
        holder.user = user_with(f"holder-{holder.pk}")
        holder.save(update_fields=["user"])
    return Actor.of(holder.user)


def refused(code: str, call, *args, **kwargs) -> EwalletError:
    with pytest.raises(EwalletError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def create(payer, payee, amount, *, actor=None, condition="PAYER_CONFIRMS", **kwargs) -> Escrow:
    escrow = services.escrow_create(
        actor=actor or holder_actor(payer),
        payer=payer.number,
        payee=payee.number,
        amount=amount,
        condition=condition,
        idempotency_key=kwargs.pop("idempotency_key", None) or key("escrow"),
        **kwargs,
    )
    settle()
    return fresh(escrow)


def fresh(escrow: Escrow) -> Escrow:
    return Escrow.objects.select_related(
        "transfer", "release", "void", "payer_wallet", "payee_wallet"
    ).get(pk=escrow.pk)


def state(escrow: Escrow) -> str:
    return services.escrow_state(fresh(escrow))


def then(call, **kwargs) -> Escrow:
    """An action, then settlement; the escrow as it is after."""
    escrow = call(**kwargs)
    settle()
    return fresh(escrow)


# ---------------------------------------------------------------- each condition


def test_payer_confirms_delivery_and_the_payee_is_paid_to_the_fen(world, alice, bob):
    escrow = create(alice, bob, yuan("250.50"), memo="bicycle, second hand")
    assert state(escrow) == HELD
    assert escrow.transfer.kind == TransferKind.P2P and escrow.transfer.state == "PENDING"
    assert held(alice) == (yuan(1_000), yuan("250.50")) and held(bob) == (0, 0)
    # What Alice may spend meanwhile is 749.50: 749.51 is refused by the ledger.
    assert world.state(world.pay(alice, bob, "749.51")) == ("REJECTED", "INSUFFICIENT_FUNDS")
    escrow = then(services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    assert state(escrow) == RELEASED
    assert world.state(escrow.release) == ("SETTLED", "")
    assert held(alice) == (yuan(1_000) - yuan("250.50"), 0)
    assert held(bob) == (yuan("250.50"), 0)
    # Once released, nothing else decides it.
    refused("ESCROW_NOT_HELD", services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    refused("ESCROW_NOT_HELD", services.escrow_cancel, actor=holder_actor(bob), escrow=escrow)
    assert held(alice) == (yuan(1_000) - yuan("250.50"), 0)


def test_the_payers_operator_confirms_for_them(world, alice, bob):
    escrow = create(alice, bob, 1, actor=world.staff_of["ICBC"])
    escrow = then(services.escrow_confirm, actor=world.staff_of["ICBC"], escrow=escrow)
    assert state(escrow) == RELEASED and held(bob) == (1, 0)


def test_release_at_is_released_by_the_sweep_once_its_time_comes(world, alice, bob):
    soon = timezone.now() + timedelta(hours=1)
    escrow = create(alice, bob, yuan(100), condition="RELEASE_AT", release_at=soon)
    # Not yet: the sweep leaves it, and the payer may not release it early.
    assert services.escrows_release_due(actor=Actor.system()) == 0
    refused("CONDITION_NOT_MET", services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    assert held(alice) == (yuan(1_000), yuan(100))
    # The time comes: two sweeps, one release.
    later = soon + timedelta(seconds=1)
    assert services.escrows_release_due(actor=Actor.system(), now=later) == 1
    assert services.escrows_release_due(actor=Actor.system(), now=later) == 0
    settle()
    assert state(escrow) == RELEASED
    assert held(alice) == (yuan(900), 0) and held(bob) == (yuan(100), 0)
    assert Transfer.objects.filter(pending=escrow.transfer, kind="POST").count() == 1


def test_only_the_system_sweeps(world, alice):
    refused("PERMISSION_DENIED", services.escrows_release_due, actor=holder_actor(alice))


def test_approval_by_the_named_arbiter_releases_it(world, alice, bob):
    arbiter = Actor.of(user_with("arbiter"))
    escrow = create(alice, bob, yuan(40), condition="APPROVAL", approver="arbiter")
    # The payer, the payee and their operators are not the approver.
    for who in (holder_actor(alice), holder_actor(bob), world.staff_of["ICBC"]):
        refused("NOT_THE_APPROVER", services.escrow_approve, actor=who, escrow=escrow)
    refused("CONDITION_NOT_MET", services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    assert held(alice) == (yuan(1_000), yuan(40)) and held(bob) == (0, 0)
    # The arbiter sees it (and only it), and approves.
    assert list(selectors.escrows_visible_to(arbiter)) == [escrow]
    escrow = then(services.escrow_approve, actor=arbiter, escrow=escrow)
    assert state(escrow) == RELEASED
    assert held(alice) == (yuan(960), 0) and held(bob) == (yuan(40), 0)


def test_another_holders_login_may_be_the_approver(world, alice, bob):
    carol = world.wallet("Carol", operator="CCB")
    carol_login = holder_actor(carol)
    escrow = create(alice, bob, 500, condition="APPROVAL", approver=carol_login.user.username)
    refused("INVALID_INPUT", create, alice, bob, 5, condition="APPROVAL", approver="nobody")
    escrow = then(services.escrow_approve, actor=carol_login, escrow=escrow)
    assert state(escrow) == RELEASED and held(bob) == (500, 0)


def test_an_escrow_to_a_merchant_is_a_merchant_payment(world, alice):
    shop = world.merchant("Luohu Fresh Market")
    escrow = create(alice, shop.wallet, yuan(88))
    assert escrow.transfer.kind == TransferKind.MERCHANT
    # The merchant's staff see it and may agree to cancel it, not confirm it.
    assert list(selectors.escrows_visible_to(shop.staff)) == [escrow]
    refused("NOT_THE_PAYER", services.escrow_confirm, actor=shop.staff, escrow=escrow)
    escrow = then(services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    assert held(shop.wallet) == (yuan(88), 0)


# ---------------------------------------------------------------- cancelling, expiring


def test_both_parties_agree_to_cancel_and_the_hold_is_released(world, alice, bob):
    escrow = create(alice, bob, yuan(300))
    escrow = then(services.escrow_cancel, actor=holder_actor(alice), escrow=escrow)
    # One side's agreement voids nothing; agreeing twice is harmless.
    escrow = then(services.escrow_cancel, actor=holder_actor(alice), escrow=escrow)
    assert state(escrow) == HELD and escrow.void is None and escrow.payer_cancelled_at
    assert held(alice) == (yuan(1_000), yuan(300))
    escrow = then(services.escrow_cancel, actor=holder_actor(bob), escrow=escrow)
    assert state(escrow) == CANCELLED and world.state(escrow.void) == ("SETTLED", "")
    assert held(alice) == (yuan(1_000), 0) and held(bob) == (0, 0)
    refused("ESCROW_NOT_HELD", services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)


def test_a_release_and_a_cancellation_under_way_exclude_each_other(world, alice, bob):
    escrow = create(alice, bob, 700)
    services.escrow_cancel(actor=holder_actor(bob), escrow=escrow)
    services.escrow_confirm(actor=holder_actor(alice), escrow=escrow)  # queued, not settled
    refused("ESCROW_NOT_HELD", services.escrow_cancel, actor=holder_actor(alice), escrow=escrow)
    settle()
    assert state(escrow) == RELEASED and held(bob) == (700, 0)


def test_the_operator_of_both_wallets_agrees_for_both(world, alice):
    dave = world.wallet("Dave")  # ICBC too
    escrow = create(alice, dave, 100)
    escrow = then(services.escrow_cancel, actor=world.staff_of["ICBC"], escrow=escrow)
    assert state(escrow) == CANCELLED and held(alice) == (yuan(1_000), 0)


def test_unreleased_at_the_timeout_it_expires_and_the_payer_keeps_the_money(world, alice, bob):
    escrow = create(alice, bob, yuan(60), timeout=timedelta(seconds=1))
    assert held(alice) == (yuan(1_000), yuan(60))
    time.sleep(1.1)
    assert pendings_expire() == 1
    settle()
    assert state(escrow) == EXPIRED
    assert held(alice) == (yuan(1_000), 0) and held(bob) == (0, 0)
    refused("ESCROW_NOT_HELD", services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    refused("ESCROW_NOT_HELD", services.escrow_cancel, actor=holder_actor(bob), escrow=escrow)


def test_a_release_at_escrow_past_its_timeout_is_not_released_by_the_sweep(world, alice, bob):
    at = timezone.now() + timedelta(seconds=1)
    escrow = create(
        alice, bob, 100, condition="RELEASE_AT", release_at=at, timeout=timedelta(seconds=2)
    )
    assert services.escrows_release_due(actor=Actor.system(), now=at + timedelta(seconds=5)) == 0
    time.sleep(2.1)
    pendings_expire()
    settle()
    assert state(escrow) == EXPIRED and held(alice) == (yuan(1_000), 0)


# ---------------------------------------------------------------- refusals


def test_the_ledger_refuses_to_hold_what_the_payer_lacks(world, alice, bob):
    escrow = create(alice, bob, yuan(1_000) + 1)
    assert state(escrow) == REFUSED
    assert world.state(escrow.transfer) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert held(alice) == (yuan(1_000), 0)
    refused("ESCROW_NOT_HELD", services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)


def test_a_class_4_payers_single_limit_applies_when_it_is_held(world, bob):
    anon = world.wallet("Anon", klass=4, load=5_000)
    escrow = create(anon, bob, yuan(2_001), actor=world.staff_of["ICBC"])
    assert world.state(escrow.transfer) == ("REJECTED", "LIMIT_SINGLE")
    assert state(escrow) == REFUSED and held(anon) == (yuan(5_000), 0)


def test_a_release_refused_by_the_ledger_leaves_it_held_to_release_again(world, alice, bob):
    escrow = create(alice, bob, yuan(10))
    order = services.wallet_freeze(
        actor=world.staff_of["CCB"], wallet=bob, scope=FreezeScope.FULL, reason="review"
    )
    escrow = then(services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    assert world.state(escrow.release) == ("REJECTED", "WALLET_FROZEN")
    assert state(escrow) == HELD and held(alice) == (yuan(1_000), yuan(10))
    services.freeze_lift(actor=world.staff_of["CCB"], order=order, reason="cleared")
    escrow = then(services.escrow_confirm, actor=holder_actor(alice), escrow=escrow)
    assert escrow.release.idempotency_key.endswith(":release:2")
    assert state(escrow) == RELEASED and held(bob) == (yuan(10), 0)


@override_settings(EWALLET_ESCROW_RETRY_SECONDS=60)
def test_the_sweep_tries_a_refused_release_again_after_a_while(world, alice, bob):
    at = timezone.now() + timedelta(minutes=1)
    escrow = create(alice, bob, 300, condition="RELEASE_AT", release_at=at)
    order = services.wallet_freeze(
        actor=world.staff_of["CCB"], wallet=bob, scope=FreezeScope.FULL, reason="review"
    )
    assert services.escrows_release_due(actor=Actor.system(), now=at) == 1
    settle()
    assert state(escrow) == HELD
    services.freeze_lift(actor=world.staff_of["CCB"], order=order, reason="cleared")
    assert services.escrows_release_due(actor=Actor.system(), now=at) == 0  # not so soon
    later = timezone.now() + timedelta(seconds=61)
    assert services.escrows_release_due(actor=Actor.system(), now=later) == 1
    settle()
    assert state(escrow) == RELEASED and held(bob) == (300, 0)


def test_who_may_not_create_one(world, alice, bob):
    # Bob may not pay from Alice's wallet (he does not see it); the central bank sees it
    # but pays from no one's wallet.
    refused("NOT_FOUND", create, alice, bob, 1, actor=holder_actor(bob))
    refused("PERMISSION_DENIED", create, alice, bob, 1, actor=world.checker)
    refused("NOT_FOUND", create, alice, bob, 1, actor=world.staff_of["CCB"])
    refused("SAME_ACCOUNT", create, alice, alice, 1)
    assert held(alice) == (yuan(1_000), 0) and not Escrow.objects.exists()


def test_each_conditions_fields_are_checked(world, alice, bob):
    now = timezone.now()
    refused("INVALID_INPUT", create, alice, bob, 1, condition="RELEASE_AT")
    refused(
        "INVALID_INPUT", create, alice, bob, 1, condition="RELEASE_AT", release_at=now
    )  # not in the future
    refused(
        "INVALID_INPUT",
        create,
        alice,
        bob,
        1,
        condition="RELEASE_AT",
        release_at=now + timedelta(days=8),  # after the default 7-day timeout
    )
    refused("INVALID_INPUT", create, alice, bob, 1, release_at=now + timedelta(hours=1))
    refused("INVALID_INPUT", create, alice, bob, 1, condition="APPROVAL")
    refused("INVALID_INPUT", create, alice, bob, 1, approver="arbiter")
    # The approver is a third party, not the payer or the payee.
    payer = holder_actor(alice).user.username
    refused("INVALID_INPUT", create, alice, bob, 1, condition="APPROVAL", approver=payer)
    refused("INVALID_INPUT", create, alice, bob, 1, timeout=timedelta(days=91))
    refused("INVALID_INPUT", create, alice, bob, 1, timeout=timedelta(0))
    refused("INVALID_AMOUNT", create, alice, bob, 0)
    assert held(alice) == (yuan(1_000), 0) and not Escrow.objects.exists()


def test_the_same_key_creates_one_escrow(world, alice, bob):
    first = create(alice, bob, 100, idempotency_key="e-1")
    again = create(alice, bob, 100, idempotency_key="e-1")
    assert again.pk == first.pk and Escrow.objects.count() == 1
    refused("IDEMPOTENCY_CONFLICT", create, alice, bob, 101, idempotency_key="e-1")
    assert held(alice) == (yuan(1_000), 100)


def test_who_sees_and_who_may_cancel(world, alice, bob):
    escrow = create(alice, bob, 100)
    outsider = world.wallet("Erin", operator="CCB")
    refused("NOT_FOUND", services.escrow_cancel, actor=holder_actor(outsider), escrow=escrow)
    refused("NOT_FOUND", services.escrow_confirm, actor=holder_actor(outsider), escrow=escrow)
    # The central bank sees every escrow but is no party to one.
    refused("NOT_A_PARTY", services.escrow_cancel, actor=world.checker, escrow=escrow)
    refused("NOT_THE_PAYER", services.escrow_confirm, actor=world.checker, escrow=escrow)
    refused("NOT_THE_PAYER", services.escrow_confirm, actor=holder_actor(bob), escrow=escrow)
    visible = {
        name: set(selectors.escrows_visible_to(who))
        for name, who in {
            "alice": holder_actor(alice),
            "bob": holder_actor(bob),
            "erin": holder_actor(outsider),
            "icbc": world.staff_of["ICBC"],
            "ccb": world.staff_of["CCB"],
            "central bank": world.checker,
        }.items()
    }
    assert {name for name, seen in visible.items() if escrow in seen} == {
        "alice",
        "bob",
        "icbc",
        "ccb",
        "central bank",
    }
    assert held(alice) == (yuan(1_000), 100)


def test_beat_runs_the_release_sweep(world, alice, bob):
    from django.conf import settings

    from wallets import tasks

    schedule = settings.CELERY_BEAT_SCHEDULE["escrow-release-sweep"]
    assert schedule["task"] == tasks.escrows_release_due.name
    escrow = create(
        alice, bob, 1, condition="RELEASE_AT", release_at=timezone.now() + timedelta(seconds=1)
    )
    assert tasks.escrows_release_due() == {"released": 0}
    time.sleep(1.1)
    assert tasks.escrows_release_due() == {"released": 1}
    assert tasks.escrows_release_due() == {"released": 0}  # run twice: released once
    settle()
    assert state(escrow) == RELEASED and held(bob) == (1, 0)
