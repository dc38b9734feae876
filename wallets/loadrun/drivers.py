"""Drivers offer a run's planned transfers: in-process through the services, or through
the REST API with many concurrent HTTP clients (http_driver.py). All pace to the
scenario's timeline (or go as fast as they can) and count what was accepted and refused."""

import time
from collections import Counter
from datetime import timedelta

from django.db import transaction

from ewallet.errors import ErrorCode, EwalletError
from settlement.models import Transfer
from wallets import services
from wallets.actors import Actor
from wallets.auth import token_issue, tokens_revoke_all
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
        # Accepted transfer id -> when it was offered (time.time()); HTTP drivers only.
        self.offered_at: dict[int, float] = {}
        self.batch_sizes: list[int] = []  # payments per /transfers/batch request
        self.accepted_by_kind: Counter = Counter()  # "qr" and "refund" items accepted
        # Planned index of a QR payment -> its transfer, for a later refund of it.
        self.qr_transfers: dict[int, int] = {}

    def key(self, index: int) -> str:
        return f"loadrun:{self.run_id}:{index}"

    def payee_number(self, item) -> str:
        if item.kind == "merchant":
            return self.wallets.merchants[item.payee].number
        return self.wallets.people[item.payee].number


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
        acquiring = []
        for item in items:
            if item.kind in ("qr", "refund"):
                acquiring.append(item)
                continue
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
        staff = self.wallets.staff  # each operator's gateway submits for its own wallets
        with transaction.atomic():
            for operator_id, specs in payments.items():
                outcomes += services.payments_submit_many(actor=staff[operator_id], payments=specs)
            for operator_id, specs in loads.items():
                outcomes += services.wallet_loads_submit_many(actor=staff[operator_id], loads=specs)
            for item in acquiring:
                self.submit_acquiring(item)
        for outcome in outcomes:
            if outcome.error is not None:
                self.refused[str(outcome.error.code)] += 1
            elif outcome.created:
                self.accepted_ids.add(outcome.transfer_id)
        self.accepted = len(self.accepted_ids)

    def submit_acquiring(self, item) -> None:
        """One QR payment (the merchant asks, the payer's app pays through its operator) or
        one refund, as a till and a wallet app would send them: each on its own, in a
        savepoint of the chunk's transaction (whose commit rings settlement once)."""
        try:
            with transaction.atomic():
                transfer_id = acquiring_submit(
                    item, self.wallets, self.key(item.index), self.qr_transfers
                )
        except EwalletError as error:
            self.refused[str(error.code)] += 1
            return
        self.accepted_ids.add(transfer_id)
        self.accepted_by_kind[item.kind] += 1
        if item.kind == "qr":
            self.qr_transfers[item.index] = transfer_id


def acquiring_submit(item, wallets, key: str, qr_transfers: dict[int, int]) -> int:
    """The transfer id of a QR payment or refund submitted through the services."""
    if item.kind == "refund":
        original = qr_transfers.get(item.payee)
        if original is None:  # the payment itself was refused
            raise EwalletError(ErrorCode.NOT_REFUNDABLE, "the payment was never made")
        record = wallets.merchant_records[item.payer]
        refund = services.refund_create(
            actor=record.staff,
            original=Transfer.objects.get(pk=original),
            amount=item.amount,
            idempotency_key=key,
        )
        return refund.transfer_id
    record = wallets.merchant_records[item.payee]
    number, _, operator_id = wallets.people[item.payer]
    request = services.payment_request_create(
        actor=record.staff, merchant=record.merchant, amount=item.amount, order_reference=key
    )
    paid = services.payment_request_pay(
        actor=wallets.staff[operator_id],
        payload=services.request_payload(request),
        wallet=number,
        idempotency_key=key,
    )
    return paid.transfer.pk


def make_driver(options, wallets, run: str) -> Driver:
    if options.via == "inprocess":
        return InProcessDriver(options, wallets, run)
    from wallets.loadrun.http_driver import GatewayDriver, HttpDriver  # it imports Driver

    if options.http_batch > 1:
        return GatewayDriver(options, wallets, run)
    return HttpDriver(options, wallets, run)


def staff_tokens(staff: dict[int, Actor], run: str) -> dict[int, str]:
    """An API token for each operator's load-run staff member, minted as themselves; the
    previous runs' tokens of these load-run users are revoked first, so runs on one
    database never reach the cap on live tokens per user."""
    tokens = {}
    for operator_id, actor in staff.items():
        tokens_revoke_all(actor=actor)
        tokens[operator_id] = token_issue(
            actor=actor, name=f"loadrun {run}", ttl=timedelta(days=1)
        )[0]
    return tokens
