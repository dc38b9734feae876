"""Seats for requests that wait for settlement (wallets/api/waiting.py): at most
EWALLET_API_MAX_WAITING wait at once; one without a seat is answered at once, queued."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ewallet.redisclient import redis_client
from settlement import doorbell
from settlement.models import Transfer
from tests.helpers import balance
from wallets.api.waiting import SEATS_KEY

pytestmark = pytest.mark.redis


@pytest.fixture
def seats(monkeypatch):
    """No settlement (transfers stay queued) and an empty waiting room."""
    monkeypatch.setattr(doorbell, "ring", lambda: None)
    client = redis_client()
    client.delete(SEATS_KEY)
    yield client
    client.delete(SEATS_KEY)


def pay_waiting(api, key: str, wait_ms: int):
    body = {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "1.00"}
    with CaptureQueriesContext(connection) as queries:
        response = api.client("alice").post(
            f"/api/v1/transfers?wait={wait_ms}", body, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
    polls = [q for q in queries if '"settlement_transfer"."decided_at"' in q["sql"]]
    return response, len(polls)


def test_a_request_finding_every_seat_taken_is_answered_at_once_queued(api, seats, settings):
    settings.EWALLET_API_MAX_WAITING = 2
    for waiter in ("a", "b"):  # two requests elsewhere are waiting
        seats.zadd(SEATS_KEY, {waiter: time.time() + 10})
    before = balance(api.wallets["alice"])
    response, polls = pay_waiting(api, "no-seat", 2000)
    assert (response.status_code, response.json()["state"], polls) == (202, "RECEIVED", 0)
    assert response["Location"].endswith(f"/transfers/{response.json()['id']}")
    assert Transfer.objects.filter(pk=response.json()["id"], state="RECEIVED").exists()
    assert balance(api.wallets["alice"]) == before  # queued, not yet settled
    assert seats.zcard(SEATS_KEY) == 2  # it took no seat


def test_a_free_seat_waits_and_is_given_back(api, seats, settings):
    settings.EWALLET_API_MAX_WAITING = 2
    seats.zadd(SEATS_KEY, {"a": time.time() + 10})
    response, polls = pay_waiting(api, "seated", 300)
    assert (response.status_code, response.json()["state"]) == (202, "RECEIVED")
    assert polls >= 2  # it did wait, reading its transfer again
    assert seats.zrange(SEATS_KEY, 0, -1) == [b"a"]


def test_a_seat_whose_wait_has_ended_is_free_again(api, seats, settings):
    """A process killed while waiting leaves its seat, which ends with its wait."""
    settings.EWALLET_API_MAX_WAITING = 1
    seats.zadd(SEATS_KEY, {"killed": time.time() - 1})
    response, polls = pay_waiting(api, "after-kill", 300)
    assert response.status_code == 202 and polls >= 2
    assert seats.zcard(SEATS_KEY) == 0
