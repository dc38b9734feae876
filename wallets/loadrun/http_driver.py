"""Offering a run's transfers through the REST API from `clients` threads, each with its
own keep-alive connection. Open loop: each transfer is offered at its due time, and a slow
answer holds up only the thread waiting for it.

`HttpDriver` POSTs one payment per request to /transfers. `GatewayDriver` models an
operator's acquiring gateway: it gathers its terminals' payments and forwards them to
/transfers/batch in small batches. Both send loads one by one to /wallets/{n}/load.

Both note when each accepted transfer was offered (`offered_at`, wall clock), so the
report can time a payment from its offer to its decision. That includes any wait before
the server took it, which the server's own `created_at` cannot show.
"""

import http.client
import json
import threading
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from django.db import connections

from wallets.loadrun.drivers import Driver
from wallets.loadrun.population import Planned
from wallets.loadrun.scenarios import Segment

ACCEPTED_ITEM = (200, 202)  # a batch item queued now, or already queued under its key


def problem_code(status: int, answer) -> str:
    """The problem's `code`, else the HTTP status; CONNECTION_FAILED with no answer."""
    code = "CONNECTION_FAILED" if status == 0 else str(status)
    if isinstance(answer, dict):
        code = answer.get("code", code)
    return code


class HttpDriver(Driver):
    """One payment per request, at its due time."""

    def run(self, planned, segments: list[Segment], started: float) -> None:
        self.lock = threading.Lock()
        self.planned = iter(planned)
        self.segments = segments
        self.started = started
        self.paced = bool(segments) and segments[0].rate is not None
        # Due times are on the perf_counter clock; this turns them into wall-clock times,
        # the clock the server stamps created_at and decided_at with.
        self.wall_minus_perf = time.time() - time.perf_counter()
        split = urlsplit(self.options.via)
        self.host, self.port = (
            split.hostname,
            split.port or (443 if split.scheme == "https" else 80),
        )
        self.https = split.scheme == "https"
        self.prefix = split.path.rstrip("/")
        if not self.prefix.endswith("/api/v1"):
            self.prefix += "/api/v1"
        threads = [
            threading.Thread(target=self.client_thread, daemon=True)
            for _ in range(self.options.clients)
        ] + self.more_threads()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def more_threads(self) -> list[threading.Thread]:
        return []

    def due(self, index: int) -> float:
        for segment in self.segments:
            if segment.rate is None:
                return 0.0
            if index < segment.first + segment.count:
                return segment.start + (index - segment.first) / segment.rate
        return 0.0

    def offer_time(self, item: Planned) -> float:
        """When the item is offered (perf_counter): its due time when paced; unpaced, as a
        client takes it up, since there is no schedule to fall behind."""
        if self.paced:
            return self.started + self.due(item.index)
        return time.perf_counter()

    def next_item(self) -> Planned | None:
        with self.lock:
            return next(self.planned, None)

    def client_thread(self) -> None:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=60)
        try:
            self.client(conn)
        finally:
            conn.close()
            connections.close_all()

    def client(self, conn: http.client.HTTPConnection) -> None:
        while (item := self.next_item()) is not None:
            offered = self.offer_time(item)
            sleep_until(offered)
            self.send_one(conn, item, offered)

    def send_one(self, conn, item: Planned, offered: float) -> None:
        """A payment to /transfers or a load to /wallets/{number}/load; a QR payment or a
        refund as their own exchanges (send_acquiring)."""
        if item.kind in ("qr", "refund"):
            self.send_acquiring(conn, item, offered)
            return
        number, _, operator_id = self.wallets.people[item.payer]
        if item.kind == "load":
            path, body = f"{self.prefix}/wallets/{number}/load", {"amount": yuan_text(item)}
        else:
            wait = f"?wait={self.options.wait_ms}" if self.options.wait_ms else ""
            path, body = f"{self.prefix}/transfers{wait}", self.payment_body(item)
        status, answer = self.post(conn, path, body, operator_id, self.key(item.index))
        with self.lock:
            if status in (201, 202):
                self.accept(answer["id"], offered)
            else:
                self.refused[problem_code(status, answer)] += 1

    def send_acquiring(self, conn, item: Planned, offered: float) -> None:
        """A QR payment: the merchant's till asks for it (POST /payment-requests, with its
        own staff's token), then the payer's app pays the payload it scanned (POST
        /payments/qr, through the payer's operator). A refund: the merchant's till POSTs
        /transfers/{id}/refunds for a QR payment it took earlier in the run."""
        key = self.key(item.index)
        if item.kind == "refund":
            with self.lock:
                original = self.qr_transfers.get(item.payee)
            if original is None:  # the payment itself was refused
                with self.lock:
                    self.refused["NOT_REFUNDABLE"] += 1
                return
            token = self.wallets.merchant_records[item.payer].token
            path, body = f"{self.prefix}/transfers/{original}/refunds", {"amount": yuan_text(item)}
            status, answer = self.post(conn, path, body, key=key, token=token)
            transfer_id = (answer or {}).get("transfer") if status == 201 else None
        else:
            token = self.wallets.merchant_records[item.payee].token
            path = f"{self.prefix}/payment-requests"
            body = {"amount": yuan_text(item), "order_reference": key}
            status, answer = self.post(conn, path, body, key=f"{key}:ask", token=token)
            if status != 201:
                with self.lock:
                    self.refused[problem_code(status, answer)] += 1
                return
            number, _, operator_id = self.wallets.people[item.payer]
            body = {"payload": answer["payload"], "wallet": number}
            status, answer = self.post(conn, f"{self.prefix}/payments/qr", body, operator_id, key)
            transfer_id = (answer or {}).get("id") if status in (201, 202) else None
        with self.lock:
            if transfer_id is None:
                self.refused[problem_code(status, answer)] += 1
                return
            self.accept(transfer_id, offered)
            self.accepted_by_kind[item.kind] += 1
            if item.kind == "qr":
                self.qr_transfers[item.index] = transfer_id

    def payment_body(self, item: Planned) -> dict:
        number = self.wallets.people[item.payer].number
        return {
            "payer": number,
            "payee": self.payee_number(item),
            "amount": yuan_text(item),
            "memo": "load run",
        }

    def post(
        self,
        conn,
        path: str,
        body: dict,
        operator_id: int | None = None,
        key: str = "",
        token: str | None = None,
    ) -> tuple[int, object]:
        """POST as the operator's staff (or with `token`); (status, the JSON answer or None).
        Status 0: no answer (the connection failed; the next request opens a new one)."""
        headers = {
            "Authorization": f"Bearer {token or self.wallets.tokens[operator_id]}",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        }
        sent = time.perf_counter()
        try:
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            status, data = 0, b""
        elapsed = (time.perf_counter() - sent) * 1000
        with self.lock:
            self.statuses[status] += 1
            self.request_ms.append(elapsed)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, None

    def accept(self, transfer_id: int, offered: float) -> None:
        """Count an accepted transfer (the caller holds the lock)."""
        self.accepted_ids.add(transfer_id)
        self.offered_at[transfer_id] = offered + self.wall_minus_perf
        self.accepted = len(self.accepted_ids)


class GatewayDriver(HttpDriver):
    """One gatherer takes every payment at its due time and queues it with the same
    operator's others (a batch may hold only the caller's operator's wallets' payments).
    Whichever of the `clients` threads is free takes an operator's next batch once it is
    full (`http_batch`) or its oldest payment has waited `linger_ms`, and POSTs it to
    /transfers/batch; loads go one by one. So batches fill from every terminal at once,
    grow by themselves while every thread waits for an answer, and a slow answer holds up
    only the thread waiting for it."""

    def more_threads(self) -> list[threading.Thread]:
        self.ready = threading.Condition()
        # operator id -> [(offer time, payment)], oldest first; loads likewise
        self.gathered: dict[int, deque[tuple[float, Planned]]] = defaultdict(deque)
        self.loads: deque[tuple[float, Planned]] = deque()
        self.offering = True
        return [threading.Thread(target=self.gather, daemon=True)]

    def gather(self) -> None:
        try:
            while (item := self.next_item()) is not None:
                offered = self.offer_time(item)
                sleep_until(offered)
                with self.ready:
                    if item.kind in ("load", "qr", "refund"):  # one by one, not in batches
                        self.loads.append((offered, item))
                    else:
                        self.gathered[self.wallets.people[item.payer].operator_id].append(
                            (offered, item)
                        )
                    self.ready.notify()
        finally:
            with self.ready:
                self.offering = False
                self.ready.notify_all()

    def client(self, conn: http.client.HTTPConnection) -> None:
        while (work := self.take()) is not None:
            send, *arguments = work
            send(conn, *arguments)

    def take(self) -> tuple | None:
        """The next request to send, waiting until there is one: a load, else the batch of
        the operator whose oldest payment is oldest among those due. None once all went."""
        size, linger = self.options.http_batch, self.options.linger_ms / 1000
        with self.ready:
            while True:
                if self.loads:
                    offered, item = self.loads.popleft()
                    return self.send_one, item, offered
                now = time.perf_counter()
                due = [
                    (waiting[0][0], operator_id)
                    for operator_id, waiting in self.gathered.items()
                    if waiting and (len(waiting) >= size or waiting[0][0] + linger <= now)
                ]
                if due:
                    operator_id = min(due)[1]
                    waiting = self.gathered[operator_id]
                    batch = [waiting.popleft() for _ in range(min(size, len(waiting)))]
                    return self.send_batch, operator_id, batch
                heads = [waiting[0][0] for waiting in self.gathered.values() if waiting]
                if not heads and not self.offering:
                    return None
                self.ready.wait(min(heads) + linger - now if heads else None)

    def send_batch(self, conn, operator_id: int, batch: list[tuple[float, Planned]]) -> None:
        items = [
            {**self.payment_body(item), "idempotency_key": self.key(item.index)}
            for _, item in batch
        ]
        # Each payment is in one batch only, so its first payment's key names the batch.
        key = f"{self.key(batch[0][1].index)}:batch"
        status, answer = self.post(
            conn, f"{self.prefix}/transfers/batch", {"transfers": items}, operator_id, key
        )
        with self.lock:
            self.batch_sizes.append(len(batch))
            if status != 202:  # the whole batch refused, or never answered
                self.refused[problem_code(status, answer)] += len(batch)
                return
            for (offered, _), result in zip(batch, answer["results"], strict=True):
                if result["status"] in ACCEPTED_ITEM:
                    self.accept(result["id"], offered)
                else:
                    self.refused[problem_code(result["status"], result["problem"])] += 1


def yuan_text(item: Planned) -> str:
    return f"{item.amount // 100}.{item.amount % 100:02d}"


def sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
