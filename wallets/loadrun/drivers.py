"""Drivers offer a run's planned transfers: in-process through the services, or through
the REST API with many concurrent HTTP clients. Both pace to the scenario's timeline
(or go as fast as they can) and count what was accepted and refused."""

import contextlib
import http.client
import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from django.db import connections, transaction

from wallets import services
from wallets.loadrun.scenarios import Segment, offered_by


class Progress:
    """A rich progress bar: decided of offered, rate, backlog and rejections."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.total = total
        self.last: tuple[float, int] | None = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("decided"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
            )
            self.task = self.bar.add_task("run", total=total, status="")

    def __enter__(self):
        if self.enabled:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)

    def update(self, sample: dict) -> None:
        if not self.enabled:
            return
        now, decided = time.perf_counter(), sample.get("decided", 0)
        rate = 0.0
        if self.last and now > self.last[0]:
            rate = (decided - self.last[1]) / (now - self.last[0])
        self.last = (now, decided)
        status = (
            f"accepted {sample.get('accepted', 0):,}  {rate:,.0f}/s  "
            f"backlog {sample.get('backlog', 0):,}  rejected {sample.get('rejected', 0):,}"
        )
        self.bar.update(self.task, completed=decided, status=status)


class Driver:
    def __init__(self, options, wallets, run: str) -> None:
        self.options, self.wallets, self.run_id = options, wallets, run
        self.accepted = 0
        self.accepted_ids: set[int] = set()
        self.refused: Counter = Counter()
        self.statuses: Counter = Counter()
        self.request_ms: list[float] = []

    def key(self, index: int) -> str:
        return f"loadrun:{self.run_id}:{index}"

    def payee_number(self, item) -> str:
        if item.kind == "merchant":
            return self.wallets.merchants[item.payee][0]
        return self.wallets.people[item.payee][0]


class InProcessDriver(Driver):
    """Submits chunks through `payments_submit_many` / `wallet_loads_submit_many`, one
    transaction (and so one doorbell) per chunk."""

    def run(self, planned, segments: list[Segment], started: float) -> None:
        planned = iter(planned)
        offered = 0
        total = sum(s.count for s in segments)
        chunk = self.options.chunk
        while offered < total:
            due = offered_by(segments, time.perf_counter() - started) - offered
            if due <= 0:
                time.sleep(0.002)
                continue
            items = [next(planned) for _ in range(min(due, chunk))]
            self.submit(items)
            offered += len(items)

    def submit(self, items) -> None:
        people = self.wallets.people
        payments: dict[int, list] = {}
        loads: dict[int, list] = {}
        for item in items:
            number, _, operator_id = people[item.payer]
            if item.kind == "load":
                loads.setdefault(operator_id, []).append(
                    services.LoadSpec(number, item.amount, self.key(item.index))
                )
            else:
                payments.setdefault(operator_id, []).append(
                    services.PaymentSpec(
                        number,
                        self.payee_number(item),
                        item.amount,
                        self.key(item.index),
                        memo="load run",
                    )
                )
        outcomes = []
        with transaction.atomic():
            for operator_id, specs in payments.items():
                outcomes += services.payments_submit_many(operator_id=operator_id, payments=specs)
            for operator_id, specs in loads.items():
                outcomes += services.wallet_loads_submit_many(
                    actor=self.wallets.staff[operator_id], operator_id=operator_id, loads=specs
                )
        for outcome in outcomes:
            if outcome.error is not None:
                self.refused[str(outcome.error.code)] += 1
            elif outcome.created:
                self.accepted_ids.add(outcome.transfer_id)
        self.accepted = len(self.accepted_ids)


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


def make_driver(options, wallets, run: str) -> Driver:
    if options.via == "inprocess":
        return InProcessDriver(options, wallets, run)
    return HttpDriver(options, wallets, run)


def staff_tokens(staff: dict, run: str) -> dict[int, str]:
    """An API token for each operator's load-run staff member."""
    from wallets.api.tokens import token_issue

    return {
        operator_id: token_issue(user=user, name=f"loadrun {run}")[0]
        for operator_id, user in staff.items()
    }
