"""Offering a run's transfers through the REST API from `clients` threads, each with its
own keep-alive connection."""

import contextlib
import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from django.db import connections

from wallets.loadrun.drivers import Driver
from wallets.loadrun.scenarios import Segment


class HttpDriver(Driver):
    """`clients` threads, each with its own keep-alive connection, POST one transfer per
    request at its due time (open loop: a slow answer does not delay the next offer)."""

    def run(self, planned, segments: list[Segment], started: float) -> None:
        self.lock = threading.Lock()
        self.planned = iter(planned)
        self.segments = segments
        self.started = started
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
            threading.Thread(target=self.client, daemon=True) for _ in range(self.options.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def due(self, index: int) -> float:
        for segment in self.segments:
            if segment.rate is None:
                return 0.0
            if index < segment.first + segment.count:
                return segment.start + (index - segment.first) / segment.rate
        return 0.0

    def next_item(self):
        with self.lock:
            return next(self.planned, None)

    def client(self) -> None:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=60)
        wait = f"?wait={self.options.wait_ms}" if self.options.wait_ms else ""
        while (item := self.next_item()) is not None:
            delay = self.started + self.due(item.index) - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            number, _, operator_id = self.wallets.people[item.payer]
            amount = f"{item.amount // 100}.{item.amount % 100:02d}"
            if item.kind == "load":
                path, body = f"{self.prefix}/wallets/{number}/load", {"amount": amount}
            else:
                path = f"{self.prefix}/transfers{wait}"
                body = {
                    "payer": number,
                    "payee": self.payee_number(item),
                    "amount": amount,
                    "memo": "load run",
                }
            headers = {
                "Authorization": f"Bearer {self.wallets.tokens[operator_id]}",
                "Idempotency-Key": self.key(item.index),
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
                if status in (201, 202):
                    self.accepted_ids.add(json.loads(data)["id"])
                    self.accepted = len(self.accepted_ids)
                else:
                    code = "CONNECTION_FAILED" if status == 0 else str(status)
                    with contextlib.suppress(ValueError):
                        code = json.loads(data).get("code", code)
                    self.refused[code] += 1
        conn.close()
        connections.close_all()
