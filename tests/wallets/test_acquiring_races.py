"""Merchant acquiring under races, on PostgreSQL: many payers of one dynamic request, and
many refunds of one payment, each decided once."""

from collections import Counter

import pytest

from ewallet.errors import EwalletError
from ewallet.money import yuan
from tests.helpers import World, balance, key, settle
from tests.settlement.test_postgres import in_threads
from wallets import services
from wallets.models import MerchantPayment, Refund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def outcome(call) -> str:
    try:
        call()
    except EwalletError as error:
        return str(error.code)
    return "ok"


def test_eight_payers_racing_for_one_request_pay_it_once():
    world = World.build()
    shop = world.merchant("Tea house")
    payers = [world.wallet(f"Payer {i}", load=100) for i in range(8)]
    request = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=yuan(25)
    )
    payload = services.request_payload(request)

    def pay(i: int) -> str:
        return outcome(
            lambda: services.payment_request_pay(
                actor=world.staff_of["ICBC"],
                payload=payload,
                wallet=payers[i].number,
                idempotency_key=key("race"),
            )
        )

    results = Counter(in_threads(8, pay))
    settle()
    assert results == {"ok": 1, "REQUEST_ALREADY_PAID": 7}
    assert MerchantPayment.objects.filter(request=request).count() == 1
    assert balance(shop.wallet) == yuan(25)
    assert sum(balance(p) for p in payers) == yuan(800) - yuan(25)


def test_twenty_refunds_racing_on_one_payment_never_give_back_more_than_it():
    world = World.build()
    shop = world.merchant("Tea house")
    alice = world.wallet("Alice", load=1_000)
    request = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=yuan(100)
    )
    paid = services.payment_request_pay(
        actor=world.staff,
        payload=services.request_payload(request),
        wallet=alice.number,
        idempotency_key=key(),
    )
    settle()

    def refund(i: int) -> str:  # 20 refunds of 7.00 against 100.00: 14 fit
        return outcome(
            lambda: services.refund_create(
                actor=shop.staff, original=paid.transfer, amount=yuan(7), idempotency_key=key("r")
            )
        )

    results = Counter(in_threads(20, refund))
    settle()
    assert results == {"ok": 14, "REFUND_EXCEEDS_PAYMENT": 6}
    assert sum(Refund.objects.values_list("amount", flat=True)) == yuan(98)
    assert balance(alice) == yuan(1_000) - yuan(100) + yuan(98)
    assert balance(shop.wallet) == yuan(2)
