"""Clients paying through the REST API as a wallet app would under faults: each payment
is POSTed to /transfers with its own Idempotency-Key, and after any failure (no answer,
a dropped connection, a 5xx, 409 in flight, 429) sent again with the same key until an
answer says accepted or refused. Some requests are cut off on purpose: the client closes
its socket right after sending, so the server may have taken a payment it never answered.
"""

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from wallets.chaos.checks import ACCEPTED, REFUSED, UNKNOWN, Told
from wallets.chaos.schedule import Payment
from wallets.loadrun.http_driver import problem_code, sleep_until

RETRY = {0, 409, 429, 500, 502, 503, 504}


class PayingClients:
    def __init__(
        self,
        url: str,
        *,
        run: str,
        numbers: list[str],
        tokens: list[str],
        clients: int,
        rate: float,
        give_up_seconds: float = 120.0,
    ) -> None:
        split = urlsplit(url)
        self.host, self.port = split.hostname, split.port
        self.run = run
        self.numbers = numbers  # by wallet index
        self.tokens = tokens  # by wallet index: its operator's staff token
        self.clients = clients
        self.rate = rate
        self.give_up_seconds = give_up_seconds
        self.lock = threading.Lock()
        self.told: dict[int, Told] = {}
        self.attempts = 0
        self.retries = 0
        self.to_cut = 0  # requests still to cut off (the fault thread adds to it)
        self.cut = 0

    def cut_off(self, requests: int) -> None:
        with self.lock:
            self.to_cut += requests

    def pay(self, payments: list[Payment], started: float) -> None:
        """Offer each payment at its due time (started + index / rate) from `clients`
        threads; returns once every payment has an answer or was given up."""
        queue = iter(payments)
        threads = [
            threading.Thread(target=self._client, args=(queue, started), daemon=True)
            for _ in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _client(self, queue, started: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while True:
            with self.lock:
                payment = next(queue, None)
            if payment is None:
                break
            sleep_until(started + payment.index / self.rate)
            self.told[payment.index] = self._until_answered(conn, payment)
        conn.close()

    def _until_answered(self, conn, payment: Payment) -> Told:
        body = json.dumps(
            {
                "payer": self.numbers[payment.payer],
                "payee": self.numbers[payment.payee],
                "amount": f"{payment.amount // 100}.{payment.amount % 100:02d}",
                "memo": f"chaos {self.run} #{payment.index}",
            }
        )
        headers = {
            "Authorization": f"Bearer {self.tokens[payment.payer]}",
            "Idempotency-Key": f"chaos:{self.run}:{payment.index}",
            "Content-Type": "application/json",
        }
        deadline = time.monotonic() + self.give_up_seconds
        pause = 0.05
        while True:
            status, answer = self._send(conn, body, headers)
            if status in (201, 202):
                return Told(ACCEPTED, transfer_id=answer["id"])
            if status not in RETRY:
                return Told(REFUSED, code=problem_code(status, answer))
            if time.monotonic() > deadline:
                return Told(UNKNOWN, code=problem_code(status, answer))
            with self.lock:
                self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _send(self, conn, body: str, headers: dict) -> tuple[int, object]:
        with self.lock:
            self.attempts += 1
            cut = self.to_cut > 0
            if cut:
                self.to_cut -= 1
                self.cut += 1
        try:
            conn.request("POST", "/api/v1/transfers", body=body, headers=headers)
            if cut:  # sent whole, then gone before the answer
                conn.close()
                return 0, None
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # the next request opens a new connection
            return 0, None
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, None
