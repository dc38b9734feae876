"""Webhooks: merchants' endpoints, the events settlement decides for them, and delivering
those events signed, retried with backoff and logged.

An event is written by `events_record` inside the settlement batch that decided its
transfer (an outbox: a decided payment is never left untold, and a batch retried after a
crash tells nothing twice); deliveries are attempted after that commit by Celery tasks
and, when a task was lost or a retry falls due, by beat's sweep."""

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ewallet.errors import ErrorCode
from settlement.models import TransferKind, TransferState
from settlement.sql import in_ids, insert_rows
from wallets import webhook_signing
from wallets.actors import Actor
from wallets.authority import require_acts_for_merchant, sees_merchant
from wallets.exceptions import WalletError
from wallets.models import (
    DeliveryState,
    Merchant,
    MerchantPayment,
    Refund,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
    new_webhook_secret,
)
from wallets.services.merchants import actors_merchant
from wallets.webhook_targets import TargetRefused, check_target

# Live endpoints one merchant may have.
ENDPOINTS_PER_MERCHANT = 5
# The longest wait between two attempts, whatever the doubling reaches.
RETRY_DELAY_CAP = timedelta(hours=1)
# How long an attempt holds its delivery: past this a sweep may try it again.
LEASE_MARGIN = timedelta(seconds=30)
USER_AGENT = "ewallet-webhooks/1"

EVENT_TYPES = {
    (TransferKind.MERCHANT, TransferState.SETTLED): WebhookEventType.PAYMENT_SETTLED,
    (TransferKind.MERCHANT, TransferState.REJECTED): WebhookEventType.PAYMENT_REJECTED,
    (TransferKind.REFUND, TransferState.SETTLED): WebhookEventType.REFUND_SETTLED,
    (TransferKind.REFUND, TransferState.REJECTED): WebhookEventType.REFUND_REJECTED,
}


# ---------------------------------------------------------------- endpoints


def _sendable(url: str) -> None:
    """TargetRefused for a URL our HTTP client will not send to, though it resolves: control
    characters, or a host name IDNA 2008 forbids (http://xn--n3h.net/). Otherwise every
    attempt would raise before it could be logged, and the delivery never be given up."""
    try:
        httpx.Request("POST", url)
    except (httpx.InvalidURL, UnicodeError) as error:
        raise TargetRefused(f"{url!r} is not a URL we can send to: {error}") from None


def _checked_url(url: str) -> str:
    if not isinstance(url, str) or not url or len(url) > 500:
        raise WalletError(ErrorCode.INVALID_INPUT, "a URL of at most 500 characters", field="url")
    try:
        _sendable(url)
        check_target(url, allow_private=settings.EWALLET_WEBHOOK_ALLOW_PRIVATE_TARGETS)
    except TargetRefused as refused:
        raise WalletError(ErrorCode.WEBHOOK_TARGET_REFUSED, str(refused), field="url") from None
    return url


def require_sees_endpoint(actor: Actor, endpoint: WebhookEndpoint | None, what: str = ""):
    if endpoint is None or not sees_merchant(actor, endpoint.merchant):
        raise WalletError(ErrorCode.NOT_FOUND, f"no webhook {what}".strip())
    return endpoint


@transaction.atomic
def webhook_register(
    *, actor: Actor, url: str, merchant: Merchant | None = None
) -> WebhookEndpoint:
    """A URL that receives the merchant's events from now on, by its own staff. Its secret
    is shown to them now and after each rotation."""
    merchant = merchant or actors_merchant(actor, "register its webhooks")
    require_acts_for_merchant(actor, merchant, "register its webhooks")
    url = _checked_url(url)
    # The merchant's row lock keeps racing registrations within the limit.
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    if merchant.webhooks.filter(active=True).count() >= ENDPOINTS_PER_MERCHANT:
        raise WalletError(
            ErrorCode.WEBHOOK_LIMIT,
            f"a merchant has at most {ENDPOINTS_PER_MERCHANT} live webhooks; switch one off",
        )
    return WebhookEndpoint.objects.create(merchant=merchant, url=url)


@transaction.atomic
def webhook_rotate_secret(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one still signs beside it for
    EWALLET_WEBHOOK_ROTATION_GRACE_SECONDS, so the merchant can switch without a gap."""
    require_acts_for_merchant(actor, endpoint.merchant, "rotate its webhook secrets")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not endpoint.active:
        raise WalletError(ErrorCode.INVALID_STATE, "this webhook is switched off")
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + timedelta(
        seconds=settings.EWALLET_WEBHOOK_ROTATION_GRACE_SECONDS
    )
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return endpoint


@transaction.atomic
def webhook_disable(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """No more events to this URL; what is pending for it is given up. Its log stays."""
    require_acts_for_merchant(actor, endpoint.merchant, "switch off its webhooks")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.active:
        endpoint.active = False
        endpoint.save(update_fields=["active"])
        endpoint.deliveries.filter(state=DeliveryState.PENDING).update(state=DeliveryState.FAILED)
    return endpoint


@transaction.atomic
def webhook_redeliver(*, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivered or given-up event again, as a new delivery to the same live
    endpoint (the old one's log stays as it was); one still pending is tried now."""
    require_acts_for_merchant(actor, delivery.endpoint.merchant, "redeliver its webhook events")
    # The endpoint's row lock orders this against switching it off.
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    if not endpoint.active:
        raise WalletError(ErrorCode.INVALID_STATE, "this webhook is switched off")
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    now = timezone.now()
    if delivery.state == DeliveryState.PENDING:
        delivery.next_attempt_at = now
        delivery.save(update_fields=["next_attempt_at"])
    else:
        delivery = WebhookDelivery.objects.create(
            event_id=delivery.event_id, endpoint=endpoint, next_attempt_at=now, created_at=now
        )
    _deliver_after_commit()
    return delivery


# ---------------------------------------------------------------- the outbox


def events_record(decisions, decided_at: datetime) -> int:
    """Events for the decided payments and refunds of merchants with live webhooks, and a
    delivery of each to each such endpoint, in the caller's transaction (the batch's), set
    based: one read of each kind, a COPY of the events, one INSERT … SELECT of the
    deliveries. Returns how many events it recorded."""
    decided = {
        d.transfer_id: (EVENT_TYPES[(d.kind, d.state)], d)
        for d in decisions
        if (d.kind, d.state) in EVENT_TYPES
    }
    if not decided:
        return 0
    hooked = set(WebhookEndpoint.objects.filter(active=True).values_list("merchant_id", flat=True))
    if not hooked:
        return 0
    ids = list(decided)
    events = []
    for transfer_id, merchant_id, merchant, request, order, amount in (
        MerchantPayment.objects.filter(transfer_id__in=ids, merchant_id__in=hooked)
        .values_list(
            "transfer_id",
            "merchant_id",
            "merchant__code",
            "request__code",
            "request__order_reference",
            "amount",
        )
        .iterator()
    ):
        data = {
            "transfer": transfer_id,
            "merchant": merchant,
            "payment_request": request,
            "order_reference": order,
            "amount_fen": amount,
        }
        events.append((transfer_id, merchant_id, data))
    for transfer_id, merchant_id, merchant, original, amount, reason in (
        Refund.objects.filter(transfer_id__in=ids, merchant_id__in=hooked)
        .values_list(
            "transfer_id", "merchant_id", "merchant__code", "original_id", "amount", "reason"
        )
        .iterator()
    ):
        data = {
            "transfer": transfer_id,
            "merchant": merchant,
            "refund_of": original,
            "amount_fen": amount,
            "reason": reason,
        }
        events.append((transfer_id, merchant_id, data))
    if not events:
        return 0
    stamp = decided_at.isoformat()
    at = connection.ops.adapt_datetimefield_value(decided_at)
    rows = []
    for transfer_id, merchant_id, data in events:
        event_type, decision = decided[transfer_id]
        data.update(state=decision.state, reject_code=decision.reject_code, decided_at=stamp)
        rows.append((merchant_id, event_type, transfer_id, json.dumps(data), at))
    insert_rows(
        WebhookEvent._meta.db_table,
        ["merchant_id", "type", "transfer_id", "payload", "created_at"],
        rows,
    )
    condition, params = in_ids("e.transfer_id", [row[2] for row in rows])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookDelivery._meta.db_table} "
            "(event_id, endpoint_id, state, attempts, next_attempt_at, created_at) "
            "SELECT e.id, p.id, %s, 0, %s, %s "
            f"FROM {WebhookEvent._meta.db_table} e "
            f"JOIN {WebhookEndpoint._meta.db_table} p ON p.merchant_id = e.merchant_id "
            f"WHERE p.active AND {condition}",
            [DeliveryState.PENDING, at, at, *params],
        )
    _deliver_after_commit()
    return len(rows)


def _deliver_after_commit() -> None:
    """Ring for a drain once the deliveries are committed (one message however many)."""
    from wallets.tasks import webhooks_deliver_due

    transaction.on_commit(webhooks_deliver_due.delay)


# ---------------------------------------------------------------- delivering


def event_body(event: WebhookEvent) -> bytes:
    """What a merchant's server receives: the same bytes on every attempt of every
    delivery of the event, so a receiver can compare or deduplicate by `id`."""
    return json.dumps(
        {
            "id": event.pk,
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and (endpoint.previous_secret_until > now)
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


def retry_delay(attempts: int, *, rand: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: after the n-th failed attempt, a wait drawn between
    half and all of first * 2**(n-1), at most RETRY_DELAY_CAP; the jitter spreads retries of
    the many events an outage failed."""
    base = settings.EWALLET_WEBHOOK_FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 30)
    ceiling = min(base, RETRY_DELAY_CAP.total_seconds())
    return timedelta(seconds=(rand or random).uniform(ceiling / 2, ceiling))


@dataclass(frozen=True)
class AttemptOutcome:
    delivery_id: int
    attempted: bool  # false when another worker holds it, or it is not due or not pending
    state: str = ""
    status_code: int | None = None
    error: str = ""


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    """One client per process: connections to a merchant's server are kept and reused."""
    global _client
    if _client is None:
        _client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})
    return _client


def _claim(now: datetime, delivery_id: int | None = None) -> int | None:
    """Take one due delivery (the oldest, or `delivery_id`) for one attempt: move its next
    attempt past this attempt's timeout, so no other worker tries it meanwhile, without
    holding a transaction open over the HTTP call. One statement; on PostgreSQL workers
    skip each other's locked rows."""
    lease = timedelta(seconds=settings.EWALLET_WEBHOOK_TIMEOUT_SECONDS) + LEASE_MARGIN
    table = WebhookDelivery._meta.db_table
    which = "" if delivery_id is None else "AND id = %s "
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    at = connection.ops.adapt_datetimefield_value
    params = [at(now + lease), DeliveryState.PENDING, at(now)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_attempt_at = %s WHERE id = ("
            f"SELECT id FROM {table} WHERE state = %s AND next_attempt_at <= %s {which}"
            f"ORDER BY next_attempt_at, id LIMIT 1{lock}) RETURNING id",
            params if delivery_id is None else [*params, delivery_id],
        )
        claimed = cursor.fetchone()
    return claimed and claimed[0]


def delivery_attempt(delivery_id: int) -> AttemptOutcome:
    """One attempt at a delivery if it is pending and due (see `_attempt`)."""
    now = timezone.now()
    if _claim(now, delivery_id) is None:
        return AttemptOutcome(delivery_id, attempted=False)
    return _attempt(delivery_id, now)


@dataclass
class DrainResult:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # given up on this time


def deliveries_drain(*, budget_seconds: float = 20.0) -> DrainResult:
    """Attempt due deliveries one by one, oldest first, until none is due or the budget is
    spent (the sweep picks up the rest); by the system, from a task. Workers drain in
    parallel, each claiming different deliveries."""
    result, started = DrainResult(), time.monotonic()
    while time.monotonic() - started < budget_seconds:
        now = timezone.now()
        delivery_id = _claim(now)
        if delivery_id is None:
            break
        outcome = _attempt(delivery_id, now)
        result.attempted += 1
        result.delivered += outcome.state == DeliveryState.DELIVERED
        result.failed += outcome.state == DeliveryState.FAILED
    return result


def _attempt(delivery_id: int, now: datetime) -> AttemptOutcome:
    """POST the signed event, log what came back, and mark the delivery delivered (any
    2xx), due again after a backoff, or given up once EWALLET_WEBHOOK_RETRY_SECONDS have
    passed since it was made."""
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.active:  # switched off since it was queued: given up, not sent
        WebhookDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING).update(
            state=DeliveryState.FAILED
        )
        return AttemptOutcome(delivery_id, attempted=False, state=DeliveryState.FAILED)
    body = event_body(event)
    status_code, error = None, ""
    started = time.monotonic()
    try:
        _sendable(endpoint.url)
        check_target(endpoint.url, allow_private=settings.EWALLET_WEBHOOK_ALLOW_PRIVATE_TARGETS)
        response = _http().post(
            endpoint.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                webhook_signing.HEADER: webhook_signing.signature_header(
                    signing_secrets(endpoint, now), int(now.timestamp()), body
                ),
                "Ecny-Event-Id": str(event.pk),
                "Ecny-Event-Type": event.type,
                "Ecny-Delivery-Id": str(delivery.pk),
            },
            timeout=settings.EWALLET_WEBHOOK_TIMEOUT_SECONDS,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except TargetRefused as refused:
        error = f"target refused: {refused}"
    except httpx.TimeoutException:
        error = f"timed out after {settings.EWALLET_WEBHOOK_TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"
    duration_ms = round((time.monotonic() - started) * 1000)
    return _record(delivery, status_code, error[:240], duration_ms)


@transaction.atomic
def _record(delivery: WebhookDelivery, status_code, error: str, duration_ms: int):
    now = timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery, at=now, status_code=status_code, error=error, duration_ms=duration_ms
    )
    attempts = delivery.attempts + 1
    if not error:
        state, due, delivered_at = DeliveryState.DELIVERED, now, now
    else:
        due, delivered_at = now + retry_delay(attempts), None
        deadline = delivery.created_at + timedelta(seconds=settings.EWALLET_WEBHOOK_RETRY_SECONDS)
        state = DeliveryState.FAILED if due > deadline else DeliveryState.PENDING
    # Only a delivery still pending is changed: one switched off meanwhile stays given up.
    # Counted in the database: a redelivery may have had a second worker attempt it too.
    WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=state, attempts=F("attempts") + 1, next_attempt_at=due, delivered_at=delivered_at
    )
    return AttemptOutcome(delivery.pk, True, state, status_code, error)
