"""How one transfer changes balances, decided in memory. Imports nothing from Django.

A settlement batch loads the accounts it touches, then calls `apply_transfer` for each
transfer in arrival order. A transfer either applies whole (every leg) or not at all,
in which case the first failing check names the rejection code.

Checks, in order: account status (payer may send, payee may receive), the payer's
operator not suspended (only a redemption debits a suspended institution's account), the
payer's single, daily and annual limits (payments only), funds, then the payee's balance
cap.

Two-phase transfers (DESIGN.md: `PENDING -> POSTED | VOIDED | EXPIRED`): `apply_transfer`
with `reserve=True` makes the same checks but holds the payer's funds (`reserved`) instead
of moving them, and counts the payment against the payer's limits then; `apply_post`
releases the hold and moves all or part of it, giving back the limit use of the part not
posted; `apply_release` (a void or an expiry) releases it all and gives back all its limit
use. What a payer may spend is always balance - reserved.

Linked transfers (a chain in one batch): `apply_linked` applies each in order, or, when
one is refused, undoes the ones before it, so the chain moves all its money or none.
"""

import functools
from collections import defaultdict
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

# Daily and annual limits reset at midnight China Standard Time.
LIMIT_TZ = ZoneInfo("Asia/Shanghai")

# Codes, the same strings as settlement.models.RejectCode.
INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
LIMIT_SINGLE = "LIMIT_SINGLE"
LIMIT_DAILY = "LIMIT_DAILY"
LIMIT_ANNUAL = "LIMIT_ANNUAL"
LIMIT_BALANCE = "LIMIT_BALANCE"
WALLET_FROZEN = "WALLET_FROZEN"
WALLET_RECEIVE_ONLY = "WALLET_RECEIVE_ONLY"
WALLET_CLOSED = "WALLET_CLOSED"
OPERATOR_SUSPENDED = "OPERATOR_SUSPENDED"
ALREADY_POSTED = "ALREADY_POSTED"
ALREADY_VOIDED = "ALREADY_VOIDED"
ALREADY_EXPIRED = "ALREADY_EXPIRED"
PENDING_TIMED_OUT = "PENDING_TIMED_OUT"
PENDING_REJECTED = "PENDING_REJECTED"
LINKED_FAILED = "LINKED_FAILED"

# Why a phase finds its pending transfer already decided.
ALREADY_DECIDED = {"POSTED": ALREADY_POSTED, "VOIDED": ALREADY_VOIDED, "EXPIRED": ALREADY_EXPIRED}

_SEND_BLOCKED = {
    "FROZEN": WALLET_FROZEN,
    "RECEIVE_ONLY": WALLET_RECEIVE_ONLY,
    "CLOSED": WALLET_CLOSED,
}
_RECEIVE_BLOCKED = {"FROZEN": WALLET_FROZEN, "CLOSED": WALLET_CLOSED}


@dataclass(slots=True)
class AccountState:
    id: int
    status: str
    balance: int
    may_go_negative: bool = False
    reserved: int = 0
    suspended: bool = False
    balance_cap: int | None = None
    single_limit: int | None = None
    daily_limit: int | None = None
    annual_limit: int | None = None

    @property
    def has_period_limits(self) -> bool:
        return self.daily_limit is not None or self.annual_limit is not None


@dataclass(frozen=True, slots=True)
class Leg:
    debit: int
    credit: int
    amount: int


# (account id, "DAY" | "YEAR", first day of the period) -> fen paid out in that period.
UsageKey = tuple[int, str, date]


@functools.lru_cache(maxsize=1024)
def limit_periods(at: datetime) -> tuple[date, date]:
    """The first day of the limit day and limit year that `at` falls in. Cached: the
    transfers of one submitted batch share their time, and a settled batch asks for each."""
    day = at.astimezone(LIMIT_TZ).date()
    return day, date(day.year, 1, 1)


def apply_transfer(
    accounts: MutableMapping[int, AccountState],
    usage: MutableMapping[UsageKey, int],
    legs: Iterable[Leg],
    *,
    is_payment: bool,
    at: datetime,
    debits_suspended: bool = False,
    reserve: bool = False,
) -> str | None:
    """Apply all legs to `accounts` and `usage`, or none. Returns a reject code or None.

    `debits_suspended`: the transfer may debit a suspended account (a redemption).
    `reserve`: hold the payers' funds instead of moving them (a pending transfer); the
    payees' balance caps are checked when it is posted.
    """
    deltas: dict[int, int] = defaultdict(int)
    paid_out: dict[int, int] = defaultdict(int)
    for leg in legs:
        payer, payee = accounts[leg.debit], accounts[leg.credit]
        if code := _SEND_BLOCKED.get(payer.status):
            return code
        if code := _RECEIVE_BLOCKED.get(payee.status):
            return code
        if payer.suspended and not debits_suspended:
            return OPERATOR_SUSPENDED
        deltas[payer.id] -= leg.amount
        deltas[payee.id] += leg.amount
        if is_payment:
            paid_out[payer.id] += leg.amount

    day, year = limit_periods(at)
    for account_id, amount in paid_out.items():
        payer = accounts[account_id]
        if payer.single_limit is not None and amount > payer.single_limit:
            return LIMIT_SINGLE
        if payer.daily_limit is not None and (
            usage.get((account_id, "DAY", day), 0) + amount > payer.daily_limit
        ):
            return LIMIT_DAILY
        if payer.annual_limit is not None and (
            usage.get((account_id, "YEAR", year), 0) + amount > payer.annual_limit
        ):
            return LIMIT_ANNUAL

    for account_id, delta in deltas.items():
        account = accounts[account_id]
        new_balance = account.balance + delta
        if new_balance - account.reserved < 0 and not account.may_go_negative:
            return INSUFFICIENT_FUNDS
        if reserve:
            continue
        if delta > 0 and account.balance_cap is not None and new_balance > account.balance_cap:
            return LIMIT_BALANCE

    _move(accounts, usage, deltas, paid_out, reserve=reserve, day=day, year=year)
    return None


def apply_accepted(
    accounts: MutableMapping[int, AccountState],
    usage: MutableMapping[UsageKey, int],
    legs: Iterable[Leg],
    *,
    is_payment: bool,
    at: datetime,
    reserve: bool = False,
) -> None:
    """Apply a transfer that `apply_transfer` accepted against these same accounts and
    usage, without checking it again: a batch deciding again what it decided ahead on
    balances that did not change."""
    deltas: dict[int, int] = defaultdict(int)
    paid_out: dict[int, int] = defaultdict(int)
    for leg in legs:
        deltas[leg.debit] -= leg.amount
        deltas[leg.credit] += leg.amount
        if is_payment:
            paid_out[leg.debit] += leg.amount
    day, year = limit_periods(at)
    _move(accounts, usage, deltas, paid_out, reserve=reserve, day=day, year=year)


def _move(accounts, usage, deltas, paid_out, *, reserve: bool, day: date, year: date) -> None:
    for account_id, delta in deltas.items():
        if not reserve:
            accounts[account_id].balance += delta
        elif delta < 0:
            accounts[account_id].reserved -= delta
    for account_id, amount in paid_out.items():
        if accounts[account_id].has_period_limits:
            usage[(account_id, "DAY", day)] = usage.get((account_id, "DAY", day), 0) + amount
            usage[(account_id, "YEAR", year)] = usage.get((account_id, "YEAR", year), 0) + amount


def _give_back(usage, account: AccountState, amount: int, at: datetime) -> None:
    """Return `amount` of a payment's limit use in the periods of `at`, when it was counted."""
    if amount and account.has_period_limits:
        day, year = limit_periods(at)
        for key in ((account.id, "DAY", day), (account.id, "YEAR", year)):
            usage[key] = max(0, usage.get(key, 0) - amount)


def apply_post(
    accounts: MutableMapping[int, AccountState],
    usage: MutableMapping[UsageKey, int],
    pending: list[Leg],
    amount: int,
    *,
    is_payment: bool,
    pending_at: datetime,
) -> str | None:
    """Post `amount` of a pending transfer whose legs were reserved: release the hold and
    move `amount` (all of it, or part of a one-leg transfer), or nothing. The payee's status
    and balance cap are checked now, as is the payer's status (a freeze stops the money
    leaving; the payer can still void). The limit use of the part not posted is given back.
    """
    total = sum(leg.amount for leg in pending)
    moved = pending if amount == total else [Leg(pending[0].debit, pending[0].credit, amount)]
    for leg in moved:
        payer, payee = accounts[leg.debit], accounts[leg.credit]
        if code := _SEND_BLOCKED.get(payer.status):
            return code
        if code := _RECEIVE_BLOCKED.get(payee.status):
            return code
        if payee.balance_cap is not None and payee.balance + leg.amount > payee.balance_cap:
            return LIMIT_BALANCE
    for leg in pending:
        accounts[leg.debit].reserved -= leg.amount
    for leg in moved:
        accounts[leg.debit].balance -= leg.amount
        accounts[leg.credit].balance += leg.amount
    if is_payment:
        _give_back(usage, accounts[pending[0].debit], total - amount, pending_at)
    return None


def apply_release(
    accounts: MutableMapping[int, AccountState],
    usage: MutableMapping[UsageKey, int],
    pending: list[Leg],
    *,
    is_payment: bool,
    pending_at: datetime,
) -> None:
    """Void or expire a pending transfer: release its hold and give back its limit use."""
    for leg in pending:
        accounts[leg.debit].reserved -= leg.amount
        if is_payment:
            _give_back(usage, accounts[leg.debit], leg.amount, pending_at)


@dataclass(frozen=True, slots=True)
class LinkedTransfer:
    """One member of a linked chain, as `apply_transfer` takes it."""

    legs: Sequence[Leg]
    is_payment: bool
    at: datetime
    debits_suspended: bool = False


def apply_linked(
    accounts: MutableMapping[int, AccountState],
    usage: MutableMapping[UsageKey, int],
    chain: Sequence[LinkedTransfer],
) -> tuple[int, str] | None:
    """Apply every transfer of a linked chain in order, or none of them.

    Returns None when all applied, else (index of the first refused, its code), with
    `accounts` and `usage` as they were before the chain: later members may spend what
    earlier ones brought in, but only if the whole chain stands.
    """
    touched = {
        account for member in chain for leg in member.legs for account in (leg.debit, leg.credit)
    }
    saved_accounts = {account: replace(accounts[account]) for account in touched}
    saved_usage: dict[UsageKey, int | None] = {}
    for member in chain:
        if member.is_payment:
            day, year = limit_periods(member.at)
            for leg in member.legs:
                for key in ((leg.debit, "DAY", day), (leg.debit, "YEAR", year)):
                    saved_usage[key] = usage.get(key)
    for index, member in enumerate(chain):
        code = apply_transfer(
            accounts,
            usage,
            member.legs,
            is_payment=member.is_payment,
            at=member.at,
            debits_suspended=member.debits_suspended,
        )
        if code is not None:
            accounts.update(saved_accounts)
            for key, spent in saved_usage.items():
                if spent is None:
                    usage.pop(key, None)
                else:
                    usage[key] = spent
            return index, code
    return None
