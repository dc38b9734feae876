"""Idempotency-Key for money-moving requests (Stripe's and the IETF draft's semantics).

The first request with a key claims it (a committed row, so others see it at once), runs,
and stores its response. Then, for the same caller and key:
- the same request again  -> the first response, replayed byte for byte, with
                              `Idempotent-Replayed: true`;
- a different request     -> 422 IDEMPOTENCY_CONFLICT;
- while the first is still running -> 409 IDEMPOTENCY_IN_FLIGHT (retry after a second).
A server error (5xx) releases the key so the client can retry; so does a claim older than
EWALLET_IDEMPOTENCY_CLAIM_SECONDS, left by a process that died.
"""

import functools
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ewallet.errors import ErrorCode, EwalletError
from settlement.models import Transfer, TransferState
from wallets.api import present
from wallets.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[!-~]{1,200}")
REPLAYED_HEADER = "Idempotent-Replayed"
_KEPT_HEADERS = ("Location", "Retry-After")


def request_fingerprint(request) -> str:
    """Method, path and body (as parsed JSON, so key order and spacing do not matter)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotency_key(request) -> str:
    key = request.headers.get(HEADER, "")
    if not key:
        raise EwalletError(
            ErrorCode.IDEMPOTENCY_KEY_MISSING, f"this request needs an {HEADER} header"
        )
    if not KEY_PATTERN.fullmatch(key):
        raise EwalletError(
            ErrorCode.INVALID_INPUT, f"{HEADER} must be 1 to 200 visible ASCII characters"
        )
    return key


def well_formed_key(request) -> str | None:
    """The request's key if it has a valid one (`idempotency_key` words what is wrong)."""
    key = request.headers.get(HEADER, "")
    return key if KEY_PATTERN.fullmatch(key) else None


def _claim(user, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Insert the claim, or find the record already there (one statement either way)."""
    table = IdempotencyRecord._meta.db_table
    now = timezone.now()
    async_commit = _commit_without_waiting_for_disk()
    with connection.cursor() as cursor:
        cursor.execute(
            f"{async_commit}INSERT INTO {table} (user_id, key, request_hash, response_body, "
            "response_headers, created_at) SELECT %s, %s, %s, 'null', '{}', %s"
            f"{' FROM no_disk_wait' if async_commit else ''} "
            "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [user.pk, key, fingerprint, connection.ops.adapt_datetimefield_value(now)],
        )
        row = cursor.fetchone()
    if row is not None:
        record = IdempotencyRecord(
            pk=row[0], user_id=user.pk, key=key, request_hash=fingerprint, created_at=now
        )
        return record, True
    return IdempotencyRecord.objects.get(user=user, key=key), False


def _commit_without_waiting_for_disk() -> str:
    """On PostgreSQL, outside any transaction: a WITH clause, `no_disk_wait`, that makes the
    statement naming it commit without waiting for its WAL to reach the disk (it is
    visible to others at once all the same). In the statement itself, not a BEGIN, SET
    LOCAL and COMMIT around it: a round trip costs more than the wait saved.

    Safe for idempotency records only: a crash may lose the last few hundred milliseconds
    of them, and then a retry claims the key afresh and the ledger's own unique key
    (`api:{user}:{key}`) returns the transfer already queued, so nothing happens twice.
    The transfer itself still commits durably before the answer, and its commit flushes
    the WAL written before it, the claim included. This saves two of a payment's three
    waits for the disk. Inside someone else's transaction it is empty, so that
    transaction's own writes keep their durable commit.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return ""
    return "WITH no_disk_wait AS (SELECT set_config('synchronous_commit', 'off', true)) "


def _take_over_if_abandoned(record: IdempotencyRecord) -> bool:
    """A claim never completed by a process that died is taken over, by one caller only."""
    limit = timezone.now() - timedelta(seconds=settings.EWALLET_IDEMPOTENCY_CLAIM_SECONDS)
    if record.created_at > limit:
        return False
    return bool(
        IdempotencyRecord.objects.filter(
            pk=record.pk, status_code__isnull=True, created_at=record.created_at
        ).update(created_at=timezone.now())
    )


def ledger_key(request, key: str) -> str:
    """The ledger's idempotency key: the client's, scoped to the caller."""
    return _ledger_key(request.user.pk, key)


def _ledger_key(user_id: int, key: str) -> str:
    return f"api:{user_id}:{key}"


def _replay(record: IdempotencyRecord) -> HttpResponse:
    if record.response_body is None:
        return _payment_as_queued(record)
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    content_type = headers.pop("Content-Type", None)
    body = record.response_body
    if isinstance(body, str):  # the bytes the first caller received, as text
        return HttpResponse(
            body.encode(),
            status=record.status_code,
            headers=headers,
            content_type=content_type or JSONRenderer.media_type,
        )
    # A record completed before bodies were kept as text: the same JSON, rendered again.
    return Response(body, status=record.status_code, headers=headers, content_type=content_type)


def _payment_as_queued(record: IdempotencyRecord) -> Response:
    """A record the one-statement payment wrote (`payment_submit_at_once`): its first
    answer was 202 and the payment as queued, built again from the ledger byte for byte
    (the transfer's fields then were its fields now, but for its state and decision)."""
    transfer = present.fetch_legs(
        Transfer.objects.get(idempotency_key=_ledger_key(record.user_id, record.key))
    )
    transfer.state, transfer.reject_code, transfer.decided_at = TransferState.RECEIVED, "", None
    body = present.transfer(transfer, present.leg_views(transfer.legs.all()))
    location = reverse("api:transfer", kwargs={"transfer_id": transfer.pk})
    return Response(body, status=202, headers={"Location": location, REPLAYED_HEADER: "true"})


def idempotent(handler):
    """Wrap an APIView method (after authentication) so that its key replays its result."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = idempotency_key(request)
        fingerprint = request_fingerprint(request)
        record, claimed = _claim(request.user, key, fingerprint)
        if not claimed:
            if record.request_hash != fingerprint:
                raise EwalletError(
                    ErrorCode.IDEMPOTENCY_CONFLICT,
                    f"{HEADER} {key!r} was already used for a different request",
                )
            if record.status_code is not None:
                return _replay(record)
            if not _take_over_if_abandoned(record):
                raise EwalletError(
                    ErrorCode.IDEMPOTENCY_IN_FLIGHT,
                    f"the first request with {HEADER} {key!r} is still being processed",
                    retry_after=1,
                )
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:  # rendered here so that the problem is what gets stored
            response = view.handle_exception(exc)
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        _complete(record, response)
        return response

    return wrapper


def _complete(record: IdempotencyRecord, response: Response) -> None:
    headers = {h: response[h] for h in _KEPT_HEADERS if response.has_header(h)}
    if response.content_type:
        headers["Content-Type"] = response.content_type
    async_commit = _commit_without_waiting_for_disk()
    with connection.cursor() as cursor:
        cursor.execute(
            f"{async_commit}UPDATE {IdempotencyRecord._meta.db_table} SET status_code = %s, "
            "response_body = %s, response_headers = %s, completed_at = %s"
            f"{' FROM no_disk_wait' if async_commit else ''} WHERE id = %s",
            [
                response.status_code,
                # As the client receives it, rendered, and kept as one JSON string: jsonb
                # would reorder an object's keys, and a replay is the first answer's bytes.
                json.dumps(JSONRenderer().render(response.data).decode()),
                json.dumps(headers),
                connection.ops.adapt_datetimefield_value(timezone.now()),
                record.pk,
            ],
        )
