"""Consumption vouchers as worked examples, after the Shenzhen Luohu pilot (October 2020):
the district government funds a programme, wallets apply, a seeded lottery grants 200 CNY
each, winners spend at eligible merchants voucher first, and the unspent value goes back
at expiry. Amounts in yuan unless fen; money is conserved after every example."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.models import Transfer, TransferKind
from tests.helpers import assert_every_fen_kept, balance, key, settle
from wallets import selectors, services
from wallets.actors import Actor
from wallets.models import FreezeScope, VoucherGrant, VoucherProgramme, VoucherProgrammeStatus


@pytest.fixture(autouse=True)
def every_fen_kept(world, audit_key):
    """After every example: e-CNY in circulation (vouchers and programmes included) equals
    what was issued and what backs it, and the audit log verifies against the ledger."""
    yield
    assert_every_fen_kept()


def refused(code: str, call, *args, **kwargs) -> EwalletError:
    with pytest.raises(EwalletError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def government(world):
    """The Luohu district government's wallet, opened by ICBC (class 1: no limits)."""
    return world.wallet("Luohu District Government", klass=1, load=1_000)


def programme_of(
    world, government, *, count=3, voucher=200, actor=None, **terms
) -> VoucherProgramme:
    now = timezone.now()
    return services.voucher_programme_create(
        actor=actor or world.policy,
        name="Luohu red envelopes",
        government_wallet=government,
        voucher_amount=yuan(voucher),
        count=count,
        mccs=terms.pop("mccs", ["5411", "5812"]),
        regions=terms.pop("regions", ["440303"]),
        valid_from=terms.pop("valid_from", now - timedelta(hours=1)),
        valid_until=terms.pop("valid_until", now + timedelta(days=7)),
        seed=terms.pop("seed", 20201012),
        **terms,
    )


def funded(world, programme) -> VoucherProgramme:
    programme = services.voucher_programme_fund(actor=world.staff, programme=programme)
    settle()
    return programme


def drawn(world, programme, *wallets) -> list[VoucherGrant]:
    for wallet in wallets:
        services.voucher_apply(
            actor=world.staff_of[wallet.operator.code], programme=programme, wallet=wallet
        )
    grants = services.voucher_lottery_draw(actor=world.policy, programme=programme)
    settle()
    return grants


def pay_at(world, shop, payer, amount_yuan, idempotency_key=None, settled=True):
    request = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=yuan(amount_yuan)
    )
    paid = services.payment_request_pay(
        actor=world.staff_of[payer.operator.code],
        payload=services.request_payload(request),
        wallet=payer.number,
        idempotency_key=idempotency_key or key("qr"),
    )
    if settled:
        settle()
    return paid


def voucher_balance(grant: VoucherGrant) -> int:
    return balance(grant.account)


def legs_of(transfer: Transfer) -> list[tuple[str, int]]:
    return [
        (leg.debit.label.split(":")[0], leg.amount)
        for leg in transfer.legs.select_related("debit").order_by("seq")
    ]


def test_the_programme_life_cycle_to_the_fen(world, government):
    grocer = world.merchant("Luohu Fresh Market", mcc="5411", region="440303")
    hotel = world.merchant("Luohu Hotel", mcc="7011", region="440303")  # category not allowed
    futian = world.merchant("Futian Supermarket", mcc="5411", region="440304")  # region not
    alice = world.wallet("Alice", load=1_000)
    bob = world.wallet("Bob", load=1_000)
    # Three vouchers of 200 from the government's 1,000.
    programme = funded(world, programme_of(world, government, count=3))
    assert programme.total == yuan(600)
    assert balance(government) == yuan(400)
    assert balance(programme.account) == yuan(600)
    # Two apply; both win (three vouchers); 200 stays with the programme.
    grants = {g.wallet_id: g for g in drawn(world, programme, alice, bob)}
    assert sorted(grants) == sorted([alice.pk, bob.pk])
    assert voucher_balance(grants[alice.pk]) == yuan(200)
    assert balance(programme.account) == yuan(200)
    assert balance(alice) == yuan(1_000)  # a voucher is not the wallet's own money
    # Alice pays 236.80 at the grocer: 200 from her voucher, 36.80 of her own, one transfer.
    paid = pay_at(world, grocer, alice, "236.80")
    assert world.state(paid.transfer) == ("SETTLED", "")
    assert paid.voucher_fen == yuan(200)
    assert legs_of(paid.transfer) == [("voucher", yuan(200)), ("wallet", 3_680)]
    assert voucher_balance(grants[alice.pk]) == 0
    assert balance(alice) == yuan(1_000) - 3_680
    assert balance(grocer.wallet) == 23_680
    # The voucher spent, her next payment is her own money alone.
    paid = pay_at(world, grocer, alice, "12.50")
    assert legs_of(paid.transfer) == [("wallet", 1_250)]
    assert balance(alice) == yuan(1_000) - 3_680 - 1_250
    # Bob at a hotel (category not allowed) and in Futian (region not allowed): the payment
    # goes through from his own balance and his voucher is untouched.
    for shop in (hotel, futian):
        paid = pay_at(world, shop, bob, 100)
        assert world.state(paid.transfer) == ("SETTLED", "")
        assert paid.voucher_fen == 0 and legs_of(paid.transfer) == [("wallet", yuan(100))]
    assert voucher_balance(grants[bob.pk]) == yuan(200)
    assert balance(bob) == yuan(800)
    # At expiry the sweep returns Bob's 200 to the programme, and the programme's 400 to
    # the government.
    VoucherProgramme.objects.filter(pk=programme.pk).update(
        valid_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.voucher_programmes_expire(actor=Actor.system()) == 1
    settle()
    assert voucher_balance(grants[bob.pk]) == 0
    assert balance(programme.account) == 0
    assert balance(government) == yuan(400) + yuan(400)
    totals = selectors.voucher_programme_totals(programme)
    assert totals == selectors.VoucherTotals(
        funded=yuan(600),
        granted=yuan(400),
        spent=yuan(200),
        returned=yuan(200),
        returned_to_government=yuan(400),
        outstanding=0,
        winners=2,
    )
    programme.refresh_from_db()
    assert programme.status == VoucherProgrammeStatus.CLOSED
    # A second sweep finds nothing to do.
    assert services.voucher_programmes_expire(actor=Actor.system()) == 0


def test_outside_the_window_the_voucher_is_not_used(world, government):
    grocer = world.merchant("Luohu Fresh Market")
    alice = world.wallet("Alice", load=100)
    programme = funded(
        world, programme_of(world, government, valid_from=timezone.now() + timedelta(days=1))
    )
    (grant,) = drawn(world, programme, alice)
    paid = pay_at(world, grocer, alice, 30)
    assert paid.voucher_fen == 0 and balance(alice) == yuan(70)
    assert voucher_balance(grant) == yuan(200)
    # Past the window, not yet swept: still the own balance only.
    VoucherProgramme.objects.filter(pk=programme.pk).update(
        valid_from=timezone.now() - timedelta(days=8),
        valid_until=timezone.now() - timedelta(seconds=1),
    )
    paid = pay_at(world, grocer, alice, 30)
    assert paid.voucher_fen == 0 and voucher_balance(grant) == yuan(200)


def test_payments_queued_together_do_not_count_on_the_same_voucher(world, government):
    grocer = world.merchant("Luohu Fresh Market")
    alice = world.wallet("Alice", load=100)
    (grant,) = drawn(world, funded(world, programme_of(world, government)), alice)
    first = pay_at(world, grocer, alice, 150, settled=False)
    second = pay_at(world, grocer, alice, 100, settled=False)
    assert (first.voucher_fen, second.voucher_fen) == (yuan(150), yuan(50))
    settle()
    assert world.state(first.transfer) == world.state(second.transfer) == ("SETTLED", "")
    assert voucher_balance(grant) == 0 and balance(alice) == yuan(50)


def test_the_sweep_waits_for_a_payment_made_within_the_window(world, government):
    grocer = world.merchant("Luohu Fresh Market")
    alice = world.wallet("Alice", load=100)
    programme = funded(world, programme_of(world, government))
    (grant,) = drawn(world, programme, alice)
    paid = pay_at(world, grocer, alice, 50, settled=False)  # within the window, queued
    VoucherProgramme.objects.filter(pk=programme.pk).update(
        valid_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.voucher_programmes_expire(actor=Actor.system()) == 0
    settle()
    assert world.state(paid.transfer) == ("SETTLED", "")
    assert services.voucher_programmes_expire(actor=Actor.system()) == 1
    settle()
    assert voucher_balance(grant) == 0 and balance(programme.account) == 0
    assert balance(government) == yuan(1_000) - yuan(50)


def test_voucher_spending_does_not_count_against_the_payers_limits(world, government):
    """Anon's class-4 wallet may pay at most 2,000 at once. With a 200 voucher she pays
    2,150 at the grocer: 200 from the voucher, 1,950 of her own, within her limit."""
    grocer = world.merchant("Luohu Fresh Market")
    anon = world.wallet("Anon", klass=4, load=3_000)
    drawn(world, funded(world, programme_of(world, government)), anon)
    paid = pay_at(world, grocer, anon, 2_150)
    assert world.state(paid.transfer) == ("SETTLED", "")
    assert balance(anon) == yuan(3_000 - 1_950)
    # Without a voucher the same payment is above her single limit.
    paid = pay_at(world, grocer, anon, "2000.01")
    assert world.state(paid.transfer) == ("REJECTED", "LIMIT_SINGLE")


def test_a_frozen_wallet_spends_no_voucher_either(world, government):
    grocer = world.merchant("Luohu Fresh Market")
    alice = world.wallet("Alice", load=100)
    (grant,) = drawn(world, funded(world, programme_of(world, government)), alice)
    services.wallet_freeze(
        actor=world.staff, wallet=alice, scope=FreezeScope.FULL, reason="AML review"
    )
    paid = pay_at(world, grocer, alice, 50)
    assert world.state(paid.transfer) == ("REJECTED", "WALLET_FROZEN")
    assert voucher_balance(grant) == yuan(200)


def test_only_what_the_wallet_paid_is_refunded(world, government):
    grocer = world.merchant("Luohu Fresh Market")
    alice = world.wallet("Alice", load=100)
    (grant,) = drawn(world, funded(world, programme_of(world, government)), alice)
    paid = pay_at(world, grocer, alice, 230)
    error = refused(
        "REFUND_EXCEEDS_PAYMENT",
        services.refund_create,
        actor=grocer.staff,
        original=paid.transfer,
        amount=yuan(31),
        idempotency_key=key("refund"),
    )
    assert error.extra["refundable_fen"] == yuan(30)
    services.refund_create(
        actor=grocer.staff, original=paid.transfer, amount=yuan(30), idempotency_key=key("r")
    )
    settle()
    assert balance(alice) == yuan(100) and voucher_balance(grant) == 0
    # A payment the voucher paid whole has nothing to refund.
    bob = world.wallet("Bob", load=10)
    (bobs,) = drawn(world, funded(world, programme_of(world, government, count=1, seed=7)), bob)
    paid = pay_at(world, grocer, bob, 50)
    refused(
        "REFUND_EXCEEDS_PAYMENT",
        services.refund_create,
        actor=grocer.staff,
        original=paid.transfer,
        amount=1,
        idempotency_key=key("refund"),
    )
    assert voucher_balance(bobs) == yuan(150)


# ---------------------------------------------------------------- the lottery


def test_the_lottery_is_reproducible_and_never_over_count():
    applications = list(range(1, 101))
    drawn_once = services.lottery_winners(applications, seed=2020, count=10)
    assert drawn_once == services.lottery_winners(list(reversed(applications)), seed=2020, count=10)
    assert drawn_once != services.lottery_winners(applications, seed=2021, count=10)
    assert len(set(drawn_once)) == 10 and set(drawn_once) <= set(applications)
    assert sorted(services.lottery_winners([3, 1, 2], seed=1, count=10)) == [1, 2, 3]
    assert services.lottery_winners([], seed=1, count=10) == []


def test_drawing_grants_at_most_count_once(world, government):
    wallets = [world.wallet(f"Applicant {n}") for n in range(5)]
    programme = funded(world, programme_of(world, government, count=3, seed=42))
    applications = [
        services.voucher_apply(actor=world.staff, programme=programme, wallet=w).pk for w in wallets
    ]
    grants = services.voucher_lottery_draw(actor=world.policy, programme=programme)
    settle()
    winners = services.lottery_winners(applications, seed=42, count=3)
    assert [g.application_id for g in grants] == winners
    assert balance(programme.account) == 0
    # Drawing again grants nothing more.
    again = services.voucher_lottery_draw(actor=world.policy, programme=programme)
    assert sorted(g.pk for g in again) == sorted(g.pk for g in grants)
    assert Transfer.objects.filter(kind=TransferKind.VOUCHER_GRANT).count() == 3


# ---------------------------------------------------------------- refusals


def test_each_refusal_has_its_code(world, government):
    alice = world.wallet("Alice", load=10)
    ccb = world.wallet("Chen", operator="CCB")
    # Set up by central-bank policy staff only, with consistent terms.
    refused("PERMISSION_DENIED", programme_of, world, government, actor=world.maker)
    refused("INVALID_INPUT", programme_of, world, government, total=yuan(601))
    refused("INVALID_INPUT", programme_of, world, government, mccs=["0000"])
    refused("INVALID_INPUT", programme_of, world, government, regions=["999999"])
    programme = programme_of(world, government)
    # Funded only by whoever may pay from the government's wallet.
    refused(
        "NOT_FOUND",
        services.voucher_programme_fund,
        actor=world.staff_of["CCB"],
        programme=programme,
    )
    # No draw before the funding settles.
    services.voucher_programme_fund(actor=world.staff, programme=programme)
    refused(
        "VOUCHER_NOT_FUNDED",
        services.voucher_lottery_draw,
        actor=world.policy,
        programme=programme,
    )
    settle()
    # A wallet applies once, by whoever may pay from it.
    services.voucher_apply(actor=world.staff, programme=programme, wallet=alice)
    refused(
        "VOUCHER_ALREADY_APPLIED",
        services.voucher_apply,
        actor=world.staff,
        programme=programme,
        wallet=alice,
    )
    refused("NOT_FOUND", services.voucher_apply, actor=world.staff, programme=programme, wallet=ccb)
    refused(
        "PERMISSION_DENIED",
        services.voucher_lottery_draw,
        actor=world.maker,
        programme=programme,
    )
    services.voucher_lottery_draw(actor=world.policy, programme=programme)
    settle()
    # Drawn: applications are closed.
    refused(
        "VOUCHER_APPLICATIONS_CLOSED",
        services.voucher_apply,
        actor=world.staff_of["CCB"],
        programme=programme,
        wallet=ccb,
    )
    refused("PERMISSION_DENIED", services.voucher_programmes_expire, actor=world.staff)


def test_a_funding_the_ledger_rejects_may_be_tried_again(world):
    poor = world.wallet("Poor District", klass=1, load=100)
    programme = funded(world, programme_of(world, poor))
    assert world.state(programme.funding_transfer) == ("REJECTED", "INSUFFICIENT_FUNDS")
    refused(
        "VOUCHER_NOT_FUNDED", services.voucher_lottery_draw, actor=world.policy, programme=programme
    )
    services.wallet_load(actor=world.staff, wallet=poor, amount=yuan(600), idempotency_key=key())
    settle()
    programme = funded(world, programme)
    assert world.state(programme.funding_transfer) == ("SETTLED", "")
    assert balance(poor) == yuan(100)
    # Funding again changes nothing.
    assert funded(world, programme).funding_transfer.pk == programme.funding_transfer.pk
