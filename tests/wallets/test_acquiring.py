"""Merchant acquiring as worked examples: QR payment requests, paying them, refunds.
Amounts in yuan unless fen; every refusal leaves every balance as it was."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement.models import TransferKind
from tests.helpers import assert_every_fen_kept, balance, key, settle
from wallets import qr, selectors, services
from wallets.actors import Actor
from wallets.models import MerchantStaff, MerchantStatus, PaymentRequest, Refund


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


@pytest.fixture
def shop(world):
    return world.merchant("Luohu Fresh Market")


@pytest.fixture
def alice(world):
    return world.wallet("Alice", klass=2, load=1_000)


def pay(world, payer, payload, amount=None, idempotency_key=None):
    paid = services.payment_request_pay(
        actor=world.staff_of[payer.operator.code],
        payload=payload,
        wallet=payer.number,
        amount=amount,
        idempotency_key=idempotency_key or key("qr"),
    )
    settle()
    return paid


def test_dynamic_request_is_paid_once_to_the_fen(world, shop, alice):
    request = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=yuan("36.80"), order_reference="A-1"
    )
    payload = services.request_payload(request)
    paid = pay(world, alice, payload)
    assert world.state(paid.transfer) == ("SETTLED", "")
    assert paid.transfer.kind == TransferKind.MERCHANT
    assert balance(alice) == yuan(1_000) - 3_680
    assert balance(shop.wallet) == 3_680
    assert services.request_state(request) == services.RequestState.PAID
    # Paying it again, by anyone, is refused and moves nothing.
    refused("REQUEST_ALREADY_PAID", pay, world, alice, payload)
    assert balance(alice) == yuan(1_000) - 3_680


def test_the_same_key_pays_once_and_answers_the_same(world, shop, alice):
    request = services.payment_request_create(actor=shop.staff, merchant=shop.merchant, amount=500)
    payload = services.request_payload(request)
    first = pay(world, alice, payload, idempotency_key="k1")
    again = pay(world, alice, payload, idempotency_key="k1")
    assert again.created is False and again.transfer.pk == first.transfer.pk
    assert balance(shop.wallet) == 500
    # The same key from another wallet is not a replay of it.
    bob = world.wallet("Bob", load=10)
    refused("IDEMPOTENCY_CONFLICT", pay, world, bob, payload, idempotency_key="k1")
    assert balance(bob) == yuan(10)


def test_forged_altered_expired_cancelled_requests_are_refused(world, shop, alice):
    request = services.payment_request_create(actor=shop.staff, merchant=shop.merchant, amount=500)
    payload = services.request_payload(request)
    fields, _ = qr.open_payload(b"any key", payload)
    # Signed with another key: not ours.
    other = qr.sign(b"k" * 32, qr.Fields("pr_unknown", shop.merchant.code, 1, 2))
    refused("REQUEST_FORGED", pay, world, alice, other)
    refused("REQUEST_FORGED", pay, world, alice, "https://example.com/pay?x=1")
    # Ours, with the amount changed to 1 fen and the old signature kept.
    signature = payload.split(".")[2]
    altered = qr.sign(b"\0", qr.Fields(fields.request, fields.merchant, 1, fields.expires))
    altered = ".".join([*altered.split(".")[:2], signature])
    refused("REQUEST_ALTERED", pay, world, alice, altered)
    # Expired.
    PaymentRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    stale = services.request_payload(PaymentRequest.objects.get(pk=request.pk))
    refused("REQUEST_EXPIRED", pay, world, alice, stale)
    # Cancelled.
    fresh = services.payment_request_create(actor=shop.staff, merchant=shop.merchant, amount=500)
    services.payment_request_cancel(actor=shop.staff, request=fresh)
    refused("REQUEST_CANCELLED", pay, world, alice, services.request_payload(fresh))
    assert balance(alice) == yuan(1_000) and balance(shop.wallet) == 0


def test_a_rejected_payment_leaves_the_request_payable(world, shop):
    poor = world.wallet("Poor", load=1)
    rich = world.wallet("Rich", load=100)
    request = services.payment_request_create(actor=shop.staff, merchant=shop.merchant, amount=500)
    payload = services.request_payload(request)
    first = pay(world, poor, payload)
    assert world.state(first.transfer) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert services.request_state(request) == services.RequestState.OPEN
    second = pay(world, rich, payload)
    assert world.state(second.transfer) == ("SETTLED", "")
    assert balance(poor) == yuan(1) and balance(shop.wallet) == 500


def test_static_code_takes_the_payers_amount_many_times(world, shop, alice):
    code = services.collection_code_create(actor=shop.staff, merchant=shop.merchant)
    payload = services.request_payload(code)
    refused("INVALID_AMOUNT", pay, world, alice, payload)
    pay(world, alice, payload, amount=1_250)
    pay(world, alice, payload, amount=99)
    assert balance(shop.wallet) == 1_349
    assert services.request_state(code) == services.RequestState.OPEN


def test_suspended_merchant_takes_no_payment(world, shop, alice):
    request = services.payment_request_create(actor=shop.staff, merchant=shop.merchant, amount=500)
    services.merchant_set_status(
        actor=world.staff, merchant=shop.merchant, status=MerchantStatus.SUSPENDED
    )
    refused("MERCHANT_SUSPENDED", pay, world, alice, services.request_payload(request))
    assert balance(alice) == yuan(1_000)


def test_only_the_merchants_staff_asks_for_payments(world, shop):
    other = world.merchant("Other shop")
    refused(
        "NOT_FOUND",
        services.payment_request_create,
        actor=other.staff,
        merchant=shop.merchant,
        amount=1,
    )
    # Its operator sees it but does not take its money.
    refused(
        "PERMISSION_DENIED",
        services.payment_request_create,
        actor=world.staff,
        merchant=shop.merchant,
        amount=1,
    )


def test_one_order_one_request(world, shop):
    services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=1, order_reference="A-9"
    )
    refused(
        "CONFLICT",
        services.payment_request_create,
        actor=shop.staff,
        merchant=shop.merchant,
        amount=2,
        order_reference="A-9",
    )


# ---------------------------------------------------------------- refunds


def paid_request(world, shop, payer, amount):
    request = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=amount
    )
    return pay(world, payer, services.request_payload(request)).transfer


def refund(shop, original, amount, idempotency_key=None):
    made = services.refund_create(
        actor=shop.staff,
        original=original,
        amount=amount,
        idempotency_key=idempotency_key or key("refund"),
    )
    settle()
    return made


def test_partial_refunds_up_to_the_payment_and_not_a_fen_more(world, shop, alice):
    original = paid_request(world, shop, alice, yuan(100))
    first = refund(shop, original, yuan(30))
    assert first.transfer.kind == TransferKind.REFUND and first.original_id == original.pk
    refund(shop, original, yuan("69.99"))
    error = refused("REFUND_EXCEEDS_PAYMENT", refund, shop, original, 2)
    assert error.extra["refundable_fen"] == 1
    refund(shop, original, 1)
    assert balance(alice) == yuan(1_000)
    assert balance(shop.wallet) == 0
    refused("REFUND_EXCEEDS_PAYMENT", refund, shop, original, 1)


def test_a_rejected_refund_does_not_count(world, shop, alice):
    original = paid_request(world, shop, alice, yuan(10))
    services.wallet_freeze(actor=world.staff, wallet=shop.wallet, scope="FULL", reason="audit")
    blocked = refund(shop, original, yuan(10))
    assert world.state(blocked.transfer) == ("REJECTED", "WALLET_FROZEN")
    assert services.refundable(original) == yuan(10)


def test_refunds_only_by_the_merchant_paid_within_the_window(world, shop, alice, settings):
    original = paid_request(world, shop, alice, yuan(10))
    other = world.merchant("Other shop")
    refused(
        "NOT_FOUND",
        services.refund_create,
        actor=other.staff,
        original=original,
        amount=1,
        idempotency_key=key(),
    )
    refused(
        "PERMISSION_DENIED",
        services.refund_create,
        actor=world.staff,
        original=original,
        amount=1,
        idempotency_key=key(),
    )
    # A person-to-person payment is no merchant's to refund.
    p2p = world.pay(alice, world.wallet("Bob"), 1)
    refused("NOT_FOUND", refund, shop, p2p, 1)
    settings.EWALLET_REFUND_WINDOW_DAYS = 0
    refused("REFUND_WINDOW_CLOSED", refund, shop, original, 1)
    assert Refund.objects.count() == 0 and balance(shop.wallet) == yuan(10)


def test_a_refund_does_not_give_back_limit_use(world, shop):
    # Class 4: daily limit 5,000. Pay 2,000 twice, get 2,000 back: 1,000 is still left today.
    payer = world.wallet("Anon", klass=4, load=9_000)
    original = paid_request(world, shop, payer, yuan(2_000))
    paid_request(world, shop, payer, yuan(2_000))
    refund(shop, original, yuan(2_000))
    over = paid_request(world, shop, payer, yuan("1000.01"))
    assert world.state(over) == ("REJECTED", "LIMIT_DAILY")
    assert world.state(paid_request(world, shop, payer, yuan(1_000))) == ("SETTLED", "")


# ---------------------------------------------------------------- who, by default, and when


def test_staff_register_at_their_own_operator_and_a_till_asks_for_its_own_merchant(world, shop):
    merchant = services.merchant_register(
        actor=world.staff_of["CCB"],
        name="Futian Books",
        mcc="5942",
        region="440304",
        licence_number="91440300MA5X000002",
    )
    assert merchant.operator.code == "CCB" and merchant.settlement_wallet.operator.code == "CCB"
    refused(
        "PERMISSION_DENIED",
        services.merchant_register,
        actor=world.checker,
        name="Nobody's",
        mcc="5942",
        region="440304",
        licence_number="91440300MA5X000003",
    )
    request = services.payment_request_create(actor=shop.staff, amount=100)
    code = services.collection_code_create(actor=shop.staff)
    assert request.merchant == code.merchant == shop.merchant
    for actor in (world.staff, world.checker):  # no merchant of their own
        refused("PERMISSION_DENIED", services.payment_request_create, actor=actor, amount=1)
        refused("PERMISSION_DENIED", services.collection_code_create, actor=actor)


def test_a_payment_is_refundable_until_its_window_closes(world, shop, alice, settings):
    original = paid_request(world, shop, alice, yuan(10))
    original.refresh_from_db()
    assert services.refund_deadline(original) == original.decided_at + timedelta(days=180)
    settings.EWALLET_REFUND_WINDOW_DAYS = 1
    assert services.refund_deadline(original) == original.decided_at + timedelta(days=1)
    queued = services.payment_request_pay(
        actor=world.staff,
        payload=services.request_payload(
            services.payment_request_create(actor=shop.staff, merchant=shop.merchant, amount=1)
        ),
        wallet=alice.number,
        idempotency_key=key("qr"),
    ).transfer
    assert services.refund_deadline(queued) is None  # not settled yet
    refused("NOT_REFUNDABLE", refund, shop, queued, 1)


def test_the_state_column_agrees_with_the_service(world, shop, alice):
    """selectors.payment_requests_with_state is services.request_state as a query column."""
    make = services.payment_request_create
    make(actor=shop.staff, amount=100)  # open
    services.payment_request_cancel(actor=shop.staff, request=make(actor=shop.staff, amount=200))
    paid_request(world, shop, alice, 300)
    expired = make(actor=shop.staff, amount=400)
    PaymentRequest.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    services.collection_code_create(actor=shop.staff)
    paid_request(world, shop, world.wallet("Poor", load=0), 500)  # rejected: open again
    services.payment_request_pay(  # queued, not settled: pending
        actor=world.staff,
        payload=services.request_payload(make(actor=shop.staff, amount=600)),
        wallet=alice.number,
        idempotency_key=key("qr"),
    )
    now = timezone.now()
    for actor in (shop.staff, world.staff, world.checker):
        rows = selectors.payment_requests_with_state(actor, now=now)
        assert {row.code: row.state for row in rows} == {
            row.code: services.request_state(row, now=now) for row in PaymentRequest.objects.all()
        }
    states = [row.state for row in selectors.payment_requests_with_state(shop.staff, now=now)]
    assert sorted(states) == sorted(
        ["OPEN", "CANCELLED", "PAID", "EXPIRED", "OPEN", "OPEN", "PENDING"]
    )
    assert selectors.payment_requests_with_state(world.staff_of["CCB"]).count() == 0


def test_refunded_and_refundable_columns_agree_with_the_service(world, shop, alice):
    original = paid_request(world, shop, alice, yuan(10))
    refund(shop, original, yuan(3))
    services.wallet_freeze(actor=world.staff, wallet=shop.wallet, scope="FULL", reason="audit")
    refund(shop, original, yuan(2))  # rejected: does not count
    row = selectors.merchant_payments_with_refunds(shop.staff).get(transfer=original)
    assert (row.refunded, row.refundable) == (yuan(3), services.refundable(original))
    assert row.refundable == yuan(7)


def test_a_merchant_login_moved_to_another_merchant_acts_for_it_at_once(world, shop):
    other = world.merchant("Other shop")
    user = shop.staff.user
    assert Actor.of(user).merchant_id == shop.merchant.pk  # remembered by this process
    staff = MerchantStaff.objects.get(user=user)
    staff.merchant = other.merchant
    staff.save()
    moved = Actor.of(user)
    assert (moved.merchant_id, moved.merchant_holder_id) == (
        other.merchant.pk,
        other.merchant.holder_id,
    )
    refused(
        "NOT_FOUND", services.payment_request_create, actor=moved, merchant=shop.merchant, amount=1
    )
