"""Storms over real HTTP: the API served by a threaded live server from this process, on
PostgreSQL, with payments settled by real `celery worker` processes.

- Identical twins: every Idempotency-Key sent by 20 clients at once makes one transfer,
  and all 20 answers are the first one (status, body byte for byte, Location); a client
  told 409 IDEMPOTENCY_IN_FLIGHT retries, as the header says, and then gets it too.
- A run on the bank: 200 one-fen payments at once from a wallet holding 100 fen settle
  exactly 100 and reject 100 INSUFFICIENT_FUNDS; the balance ends at 0, is never seen
  below it, and every fen is accounted for.

STORM_KEYS sets the keys of the first (default 50, so 1,000 requests; 1,000 keys make the
full-size storm of 20,000 requests, and print their figures).
"""

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from django.db import connection

from settlement.models import Transfer, TransferState
from tests.api.conftest import fresh_rate_windows
from tests.helpers import assert_every_fen_kept, balance

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STORM_KEYS = int(os.environ.get("STORM_KEYS", "50"))
TWINS = 20
IN_FLIGHT_RETRIES = 200


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    location: str | None
    replayed: bool


class Client:
    """One HTTP client with its own keep-alive connection, as a wallet app would have."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def pay(self, body: dict, key: str, query: str = "") -> Answer:
        for _ in range(IN_FLIGHT_RETRIES):
            response = self.session.post(
                f"{self.base}/api/v1/transfers{query}",
                json=body,
                headers={"Idempotency-Key": key},
                timeout=60,
            )
            if response.status_code != 409:
                break
            assert response.json()["code"] == "IDEMPOTENCY_IN_FLIGHT", response.text
            time.sleep(0.02)  # Retry-After says a second; the storm is impatient
        return Answer(
            response.status_code,
            response.content,
            response.headers.get("Location"),
            response.headers.get("Idempotent-Replayed") == "true",
        )


def decided(keys_prefix: str, count: int, timeout: float = 90) -> None:
    """Wait until the workers have decided `count` transfers under the prefix."""
    deadline = time.monotonic() + timeout
    transfers = Transfer.objects.filter(idempotency_key__startswith=keys_prefix)
    while time.monotonic() < deadline:
        if transfers.exclude(state=TransferState.RECEIVED).count() == count:
            return
        time.sleep(0.2)
    states = Counter(transfers.values_list("state", flat=True))
    raise AssertionError(f"not all {count} were decided in time: {states}")


def test_twenty_identical_requests_per_key_make_one_transfer_and_one_answer(
    api, live_server, start_worker
):
    worker = start_worker()
    fresh_rate_windows()
    alice, shop = api.wallets["alice"], api.wallets["shop"]
    before = balance(alice), balance(shop)
    body = {"payer": alice.number, "payee": shop.number, "amount": "0.01"}
    # Half the keys take the one-statement payment, half the claim path (?wait=0).
    keys = [(f"storm-{index}", "?wait=0" if index % 2 else "") for index in range(STORM_KEYS)]
    answers: dict[str, list[Answer]] = {key: [] for key, _ in keys}
    lock = threading.Lock()

    def client_walks_every_key(_: int) -> None:
        # Every client walks the keys in the same order, so twins race each other.
        client = Client(live_server.url, api.tokens["alice"])
        for key, query in keys:
            answer = client.pay(body, key, query)
            with lock:
                answers[key].append(answer)

    started = time.monotonic()
    with ThreadPoolExecutor(TWINS) as pool:
        list(pool.map(client_walks_every_key, range(TWINS)))
    elapsed = time.monotonic() - started
    scope = f"api:{api.users['alice'].pk}:"  # the ledger's key is the client's, scoped
    prefix = f"{scope}storm-"
    decided(prefix, STORM_KEYS)
    worker.stop()

    transfers = dict(
        Transfer.objects.filter(idempotency_key__startswith=prefix).values_list(
            "idempotency_key", "pk"
        )
    )
    assert len(transfers) == STORM_KEYS
    for key, _ in keys:
        first, *_ = twins = answers[key]
        assert len(twins) == TWINS
        assert first.status == 202, (key, first)
        assert {(a.status, a.body, a.location) for a in twins} == {
            (first.status, first.body, first.location)
        }, key
        assert sum(not a.replayed for a in twins) == 1, key  # one answer made, 19 replayed
        assert first.location == f"/api/v1/transfers/{transfers[scope + key]}"
    assert (balance(alice), balance(shop)) == (before[0] - STORM_KEYS, before[1] + STORM_KEYS)
    assert_every_fen_kept()
    requests_sent = STORM_KEYS * TWINS
    print(
        f"\nstorm: {STORM_KEYS} keys x {TWINS} clients = {requests_sent} requests in "
        f"{elapsed:.1f} s ({requests_sent / elapsed:.0f}/s), {len(transfers)} transfers"
    )


def test_two_hundred_one_fen_debits_from_a_hundred_fen_settle_exactly_a_hundred(
    api, world, live_server, start_worker
):
    worker = start_worker()
    fresh_rate_windows()
    payer = world.wallet("Hundred fen", load="1.00")
    shop = api.wallets["shop"]
    assert balance(payer) == 100
    before_shop = balance(shop)
    staff = api.tokens["icbc_staff"]  # the payer's operator's gateway
    body = {"payer": payer.number, "payee": shop.number, "amount": "0.01"}
    lowest = [100]
    storming = threading.Event()
    storming.set()

    def watch_the_balance() -> None:
        try:
            while storming.is_set():
                lowest[0] = min(lowest[0], balance(payer))
                time.sleep(0.005)
        finally:
            connection.close()

    def debit(index: int) -> Answer:
        # Half take the one-statement payment, half wait (up to 5 s) for their decision.
        return Client(live_server.url, staff).pay(body, f"run-{index}", "?wait=5000" * (index % 2))

    watcher = threading.Thread(target=watch_the_balance)
    watcher.start()
    try:
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(debit, range(200)))
        decided(f"api:{api.users['icbc_staff'].pk}:run-", 200)
    finally:
        storming.clear()
        watcher.join()
    worker.stop()

    assert Counter(a.status for a in answers[::2]) == {202: 100}
    waited = Counter(a.status for a in answers[1::2])
    assert waited.keys() <= {201, 202}
    transfers = Transfer.objects.filter(idempotency_key__startswith="api:").filter(
        legs__debit=payer.account_id
    )
    outcomes = Counter(transfers.values_list("state", "reject_code"))
    assert outcomes == {
        (TransferState.SETTLED, ""): 100,
        (TransferState.REJECTED, "INSUFFICIENT_FUNDS"): 100,
    }
    assert (balance(payer), balance(shop)) == (0, before_shop + 100)
    assert lowest[0] >= 0
    assert_every_fen_kept()
    print(f"\nrun on the bank: 100 settled, 100 rejected; waited answers {dict(waited)}")
