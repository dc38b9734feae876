"""Webhooks as worked examples, delivered over real HTTP to a local server that accepts,
fails, answers too late and recovers (tests/webhook_receiver.py)."""

import json
import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ewallet.errors import EwalletError
from ewallet.money import yuan
from tests.helpers import key, settle
from tests.webhook_receiver import FAIL, OK, SLOW, Receiver
from wallets import services, webhook_signing
from wallets.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from wallets.services.webhooks import retry_delay


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
    return world.wallet("Alice", klass=2, load=100)


@pytest.fixture
def quick_retries(settings):
    """Retries due after milliseconds and attempts that give up after a second and a half
    (long enough for a loaded machine to answer, short enough to wait out)."""
    settings.EWALLET_WEBHOOK_FIRST_RETRY_SECONDS = 0.01
    settings.EWALLET_WEBHOOK_TIMEOUT_SECONDS = 1.5


def hook(shop, url: str) -> WebhookEndpoint:
    return services.webhook_register(actor=shop.staff, merchant=shop.merchant, url=url)


def pay(world, shop, payer, amount: int, order: str = ""):
    request = services.payment_request_create(
        actor=shop.staff, merchant=shop.merchant, amount=amount, order_reference=order
    )
    paid = services.payment_request_pay(
        actor=world.staff_of[payer.operator.code],
        payload=services.request_payload(request),
        wallet=payer.number,
        idempotency_key=key("qr"),
    )
    settle()
    return paid.transfer


def drain_until(delivery: WebhookDelivery, state: str, *, rounds: int = 50) -> WebhookDelivery:
    """Drain as a worker would until the delivery reaches `state` (retries are due after
    milliseconds under `quick_retries`)."""
    for _ in range(rounds):
        services.deliveries_drain()
        delivery.refresh_from_db()
        if delivery.state == state:
            return delivery
        time.sleep(0.02)
    raise AssertionError(f"delivery {delivery.pk} is {delivery.state}, not {state}")


def test_a_settled_payment_is_told_signed_to_the_merchants_server(world, shop, alice):
    with Receiver() as server:
        endpoint = hook(shop, server.url)
        transfer = pay(world, shop, alice, yuan("36.80"), order="A-1")
        event = WebhookEvent.objects.get(transfer=transfer)
        assert event.type == "payment.settled"
        outcome = services.deliveries_drain()
        assert (outcome.attempted, outcome.delivered) == (1, 1)
        [got] = server.received
    body = got.event
    assert body["id"] == event.pk and body["type"] == "payment.settled"
    assert body["data"] == {
        "transfer": transfer.pk,
        "merchant": shop.merchant.code,
        "payment_request": body["data"]["payment_request"],
        "order_reference": "A-1",
        "amount_fen": 3_680,
        "state": "SETTLED",
        "reject_code": "",
        "decided_at": body["data"]["decided_at"],
    }
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Ecny-Event-Type"] == "payment.settled"
    assert got.headers["Ecny-Event-Id"] == str(event.pk)
    assert webhook_signing.verify(got.headers[webhook_signing.HEADER], got.body, endpoint.secret)
    assert not webhook_signing.verify(got.headers[webhook_signing.HEADER], got.body, "whsec_x")
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 1
    [attempt] = delivery.attempt_log.all()
    assert (attempt.status_code, attempt.error) == (200, "")


def test_rejections_and_refunds_are_told_too(world, shop, alice):
    poor = world.wallet("Poor", load=1)
    with Receiver() as server:
        hook(shop, server.url)
        rejected = pay(world, shop, poor, yuan(5))
        paid = pay(world, shop, alice, yuan(20))
        refund = services.refund_create(
            actor=shop.staff, original=paid, amount=yuan(5), idempotency_key=key("rf")
        )
        settle()
        services.deliveries_drain()
        events = {got.event["type"]: got.event["data"] for got in server.wait_for(3)}
    assert events["payment.rejected"]["transfer"] == rejected.pk
    assert events["payment.rejected"]["reject_code"] == "INSUFFICIENT_FUNDS"
    assert events["payment.settled"]["transfer"] == paid.pk
    assert events["refund.settled"] == {
        "transfer": refund.transfer_id,
        "merchant": shop.merchant.code,
        "refund_of": paid.pk,
        "amount_fen": 500,
        "reason": "",
        "state": "SETTLED",
        "reject_code": "",
        "decided_at": events["refund.settled"]["decided_at"],
    }


def test_a_server_that_fails_then_times_out_then_recovers_gets_the_event(
    world, shop, alice, quick_retries
):
    with Receiver(FAIL, SLOW, then=OK, slow_seconds=4) as server:
        hook(shop, server.url)
        transfer = pay(world, shop, alice, 500)
        delivery = WebhookDelivery.objects.get(event__transfer=transfer)
        delivery = drain_until(delivery, DeliveryState.DELIVERED)
        received = server.wait_for(3)
    log = [(a.status_code, a.error.split(" after")[0]) for a in delivery.attempt_log.all()]
    assert log == [(500, "HTTP 500"), (None, "timed out"), (200, "")]
    assert delivery.attempts == 3 and delivery.delivered_at is not None
    # Every attempt carried the same event, byte for byte.
    assert [r.answered for r in received] == [FAIL, SLOW, OK]
    assert len({r.body for r in received}) == 1


def test_a_delivery_is_given_up_after_the_retry_period_and_can_be_redelivered(
    world, shop, alice, settings
):
    settings.EWALLET_WEBHOOK_RETRY_SECONDS = 0
    with Receiver(FAIL, then=OK) as server:
        hook(shop, server.url)
        transfer = pay(world, shop, alice, 500)
        first = WebhookDelivery.objects.get(event__transfer=transfer)
        services.deliveries_drain()
        first.refresh_from_db()
        assert first.state == DeliveryState.FAILED and first.attempts == 1
        assert services.deliveries_drain().attempted == 0  # given up: not tried again
        again = services.webhook_redeliver(actor=shop.staff, delivery=first)
        assert again.pk != first.pk and again.event_id == first.event_id
        services.deliveries_drain()
        server.wait_for(2)
    again.refresh_from_db()
    first.refresh_from_db()
    assert again.state == DeliveryState.DELIVERED
    assert first.state == DeliveryState.FAILED and first.attempt_log.count() == 1


def test_unreachable_and_forbidden_targets_are_logged_not_raised(world, shop, alice):
    endpoint = hook(shop, "http://127.0.0.1:9/closed")  # nothing listens on the discard port
    transfer = pay(world, shop, alice, 500)
    services.deliveries_drain()
    delivery = WebhookDelivery.objects.get(event__transfer=transfer)
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at > timezone.now()
    assert delivery.attempt_log.get().error.startswith("ConnectError")
    # A URL that now points at a link-local address (changed behind the service's back,
    # or a name that re-resolved there) is refused at delivery as at registration.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="http://169.254.169.254/latest")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    services.deliveries_drain()
    last = delivery.attempt_log.last()
    assert last.status_code is None and last.error.startswith("target refused")


def test_backoff_doubles_with_jitter_up_to_a_cap(settings):
    settings.EWALLET_WEBHOOK_FIRST_RETRY_SECONDS = 10
    rand = random.Random(7)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (8, 1280), (12, 3600), (60, 3600)]:
        delays = [retry_delay(attempts, rand=rand).total_seconds() for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays))
        assert len(set(delays)) > 100  # jittered, not one value


def test_a_rotated_secret_signs_beside_the_new_one_through_its_grace(world, shop, alice, settings):
    with Receiver() as server:
        endpoint = hook(shop, server.url)
        old = endpoint.secret
        rotated = services.webhook_rotate_secret(actor=shop.staff, endpoint=endpoint)
        assert rotated.secret != old and rotated.previous_secret == old
        pay(world, shop, alice, 500)
        services.deliveries_drain()
        # After the grace period only the new secret signs.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            previous_secret_until=timezone.now() - timedelta(seconds=1)
        )
        pay(world, shop, alice, 600)
        services.deliveries_drain()
        during, after = server.wait_for(2)
    assert webhook_signing.verify(during.headers[webhook_signing.HEADER], during.body, old)
    assert webhook_signing.verify(
        during.headers[webhook_signing.HEADER], during.body, rotated.secret
    )
    assert not webhook_signing.verify(after.headers[webhook_signing.HEADER], after.body, old)
    assert webhook_signing.verify(after.headers[webhook_signing.HEADER], after.body, rotated.secret)


def test_only_hooked_merchants_are_told_and_a_switched_off_hook_gets_nothing(world, shop, alice):
    other = world.merchant("Dongmen Noodles")
    pay(world, other, alice, 300)  # no webhook: no event
    endpoint = hook(shop, "http://127.0.0.1:9/closed")
    transfer = pay(world, shop, alice, 500)
    assert WebhookEvent.objects.count() == 1
    services.webhook_disable(actor=shop.staff, endpoint=endpoint)
    delivery = WebhookDelivery.objects.get(event__transfer=transfer)
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 0
    pay(world, shop, alice, 700)
    assert WebhookEvent.objects.count() == 1 and services.deliveries_drain().attempted == 0
    refused("INVALID_STATE", services.webhook_rotate_secret, actor=shop.staff, endpoint=endpoint)
    refused("INVALID_STATE", services.webhook_redeliver, actor=shop.staff, delivery=delivery)


def test_who_may_register_rotate_and_redeliver(world, shop):
    icbc = world.staff_of["ICBC"]
    refused(
        "PERMISSION_DENIED",
        services.webhook_register,
        actor=icbc,
        merchant=shop.merchant,
        url="http://127.0.0.1:1/",
    )
    refused("PERMISSION_DENIED", services.webhook_register, actor=icbc, url="http://127.0.0.1:1/")
    endpoint = hook(shop, "http://127.0.0.1:9/closed")
    other = world.merchant("Dongmen Noodles")
    # Another merchant's staff do not see it; its operator's staff see it but do not act.
    refused("NOT_FOUND", services.webhook_rotate_secret, actor=other.staff, endpoint=endpoint)
    refused("PERMISSION_DENIED", services.webhook_rotate_secret, actor=icbc, endpoint=endpoint)
    refused("PERMISSION_DENIED", services.webhook_disable, actor=icbc, endpoint=endpoint)
    ccb = world.merchant("Futian Books", operator="CCB")
    refused("NOT_FOUND", services.webhook_disable, actor=ccb.staff, endpoint=endpoint)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
        "https://user:password@127.0.0.1/",
        "http:///no-host",
        "http://no-such-host.invalid/",
    ],
)
def test_targets_that_are_never_called_are_refused(world, shop, url):
    error = refused("WEBHOOK_TARGET_REFUSED", hook, shop, url)
    assert error.extra == {"field": "url"}
    assert not WebhookEndpoint.objects.exists()


def test_private_targets_are_refused_where_the_deployment_says_so(world, shop, settings):
    settings.EWALLET_WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in ["http://127.0.0.1:8000/", "http://10.1.2.3/", "http://[::1]/"]:
        refused("WEBHOOK_TARGET_REFUSED", hook, shop, url)


def test_a_merchant_has_at_most_five_live_hooks(world, shop):
    endpoints = [hook(shop, f"http://127.0.0.1:9/{n}") for n in range(5)]
    refused("WEBHOOK_LIMIT", hook, shop, "http://127.0.0.1:9/6")
    services.webhook_disable(actor=shop.staff, endpoint=endpoints[0])
    hook(shop, "http://127.0.0.1:9/6")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_draining_together_deliver_each_event_once(
    transactional_db, quick_retries, monkeypatch
):
    from tests.helpers import World
    from wallets.services import webhooks

    # Rings are lost, so the deliveries wait for the drains below.
    monkeypatch.setattr(webhooks, "_deliver_after_commit", lambda: None)
    world = World.build()
    shop = world.merchant("Luohu Fresh Market")
    payer = world.wallet("Alice", klass=1, load=10_000)
    with Receiver() as server:
        hook(shop, server.url)
        for _ in range(60):
            pay(world, shop, payer, 100)
        assert WebhookDelivery.objects.filter(state=DeliveryState.PENDING).count() == 60

        def drain() -> None:
            try:
                services.deliveries_drain()
            finally:
                connection.close()

        drains = [threading.Thread(target=drain) for _ in range(3)]
        for thread in drains:
            thread.start()
        for thread in drains:
            thread.join()
        received = server.wait_for(60)
    assert WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count() == 60
    assert WebhookAttempt.objects.count() == 60  # no delivery attempted twice
    ids = [json.loads(r.body)["id"] for r in received]
    assert len(ids) == 60 and len(set(ids)) == 60


def test_a_delivery_to_a_hook_switched_off_since_it_was_queued_is_given_up_unsent(
    world, shop, alice
):
    with Receiver() as server:
        endpoint = hook(shop, server.url)
        transfer = pay(world, shop, alice, 500)
        # Switched off between the queueing and the attempt (as by a racing redelivery).
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
        services.deliveries_drain()
        delivery = WebhookDelivery.objects.get(event__transfer=transfer)
        assert server.received == []
    assert delivery.state == DeliveryState.FAILED and not delivery.attempt_log.exists()
