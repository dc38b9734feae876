"""Webhooks through real `celery worker --beat` processes: the settlement batch records the
event, the worker that settled it is rung to deliver, and beat's sweep retries."""

import time

import pytest

from tests.helpers import World, key
from tests.webhook_receiver import FAIL, OK, Receiver
from wallets import services, webhook_signing
from wallets.models import DeliveryState, WebhookDelivery

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

QUICK = {
    "EWALLET_WEBHOOK_FIRST_RETRY_SECONDS": "0.2",
    "EWALLET_WEBHOOK_SWEEP_SECONDS": "0.5",
    "EWALLET_WEBHOOK_TIMEOUT_SECONDS": "2",
}


def test_a_worker_settles_tells_and_retries_until_the_merchant_answers(start_worker):
    world = World.build()
    shop = world.merchant("Luohu Fresh Market")
    alice = world.wallet("Alice", klass=2, load=100)
    with Receiver(FAIL, FAIL, then=OK) as server:
        endpoint = services.webhook_register(actor=shop.staff, url=server.url)
        start_worker(env=QUICK)
        request = services.payment_request_create(
            actor=shop.staff, amount=3_680, order_reference="A-1"
        )
        paid = services.payment_request_pay(
            actor=world.staff_of["ICBC"],
            payload=services.request_payload(request),
            wallet=alice.number,
            idempotency_key=key("qr"),
        )
        received = server.wait_for(3, timeout=60)
    assert [r.answered for r in received] == [FAIL, FAIL, OK]
    last = received[-1]
    assert last.event["data"]["transfer"] == paid.transfer.pk
    assert last.event["data"]["state"] == "SETTLED"
    assert webhook_signing.verify(last.headers[webhook_signing.HEADER], last.body, endpoint.secret)
    delivery = WebhookDelivery.objects.get(event__transfer=paid.transfer)
    for _ in range(50):  # the worker records the last attempt just after answering
        delivery.refresh_from_db()
        if delivery.state == DeliveryState.DELIVERED:
            break
        time.sleep(0.1)
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 3
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 500, 200]
