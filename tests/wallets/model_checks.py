"""What the property tests of conditional payments, sub-wallets and vouchers share: a
stopped clock the services read, one example's world rolled back after it, a refusal's
code, and the ledger's own checks.

clock.advance(timedelta(days=1))   # every `timezone.now()` the services call moves on
with rolled_back():                # one hypothesis example: the world as the fixture built it
    code = refusal(services.escrow_confirm, actor=..., escrow=...)   # "" when it was done
ledger_verified()                  # settled, sealed, money conserved, `audit verify` ok
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from ewallet.errors import EwalletError
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Account
from settlement.selectors import money_totals
from tests.helpers import settle


@dataclass
class Clock:
    """The time every service reads (`django.utils.timezone.now`), standing still until the
    test moves it, and only forwards: one example's leaves and checkpoints never come
    before the last one's. It starts an hour ahead of the wall clock, so what a row's
    default timestamp takes from the wall clock (no rule reads those) is never later."""

    now: datetime

    def advance(self, by: timedelta) -> datetime:
        assert by >= timedelta(0)
        self.now += by
        return self.now


@pytest.fixture(name="clock")
def stopped_clock(monkeypatch) -> Clock:
    """`clock`: import `stopped_clock` into a test module to use it."""
    started = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    stopped = Clock(started)
    monkeypatch.setattr(timezone, "now", lambda: stopped.now)
    return stopped


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example in a savepoint undone after it, so the next starts from the same world
    (and no sweep of the next one finds what this one left)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@dataclass(frozen=True)
class Outcome:
    """What a service answered, or the code (and extra fields) it refused with."""

    value: Any = None
    code: str = ""
    extra: dict = field(default_factory=dict)


def attempt(call: Callable, **kwargs) -> Outcome:
    try:
        return Outcome(call(**kwargs))
    except EwalletError as exc:
        return Outcome(code=exc.code, extra=exc.extra)


def refusal(call: Callable, **kwargs) -> str:
    """The code a service refused with, or "" when it did what was asked."""
    return attempt(call, **kwargs).code


def held(account_ids: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(balance, reserved) in fen of each named account, in one query."""
    rows = Account.objects.filter(pk__in=account_ids.values()).values_list(
        "pk", "balance", "reserved"
    )
    found = {pk: (balance, reserved) for pk, balance, reserved in rows}
    return {name: found[pk] for name, pk in account_ids.items()}


def money_conserved() -> None:
    totals = money_totals()
    assert totals.circulation == -totals.issuance == totals.backing, totals


def ledger_verified() -> None:
    """As after every worked example: everything settled, a checkpoint sealed, e-CNY in
    circulation equal to what was issued and what backs it, and `audit verify` passing."""
    settle()
    checkpoint_seal()
    money_conserved()
    report = audit_verify()
    assert report.ok, report
