"""Where an account's limit usage lives. Imports nothing from Django.

The current limit day and year ride on the account's own row (`day_start`, `day_spent`,
`year_start`, `year_spent`): settlement rewrites a payer's row for its balance anyway, so
keeping what it spent there costs no statement of its own. An upsert of two usage rows
per payer was about 200 ms of a 20,000-payment batch, all of it while the batch held its
accounts' locks.

An earlier period moves to `LimitUsage` when a payment of a later one rolls the account
on to it. So a usage key `(account, period, start)` lives on the row when `start` is the
row's start, in `LimitUsage` when it is earlier, and is nothing yet (0) when it is later.
A transfer queued before midnight and decided after a later one still counts against
its own day, read from `LimitUsage`.

The settlement rules (`settlement.rules`) see one flat mapping of usage keys; this module
turns the rows into that mapping and the mapping, once decided, back into rows.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

DAY = "DAY"
YEAR = "YEAR"

UsageKey = tuple[int, str, date]


@dataclass(frozen=True, slots=True)
class CurrentPeriods:
    """The limit day and year an account's row holds, and what it paid out in each."""

    day_start: date | None = None
    day_spent: int = 0
    year_start: date | None = None
    year_spent: int = 0

    def start(self, period: str) -> date | None:
        return self.day_start if period == DAY else self.year_start

    def spent(self, period: str) -> int:
        return self.day_spent if period == DAY else self.year_spent

    def moved_on(self, period: str, start: date, spent: int) -> "CurrentPeriods":
        if period == DAY:
            return CurrentPeriods(start, spent, self.year_start, self.year_spent)
        return CurrentPeriods(self.day_start, self.day_spent, start, spent)


def usage_on_rows(
    current: Mapping[int, CurrentPeriods], days: Iterable[date], years: Iterable[date]
) -> tuple[dict[UsageKey, int], list[UsageKey]]:
    """The usage of `current`'s accounts in the given periods that their rows hold, and
    the keys of the given periods that are earlier than a row's, to read from
    `LimitUsage`. A key in neither is later than its row's period: nothing spent yet."""
    wanted = [(DAY, start) for start in set(days)] + [(YEAR, start) for start in set(years)]
    usage: dict[UsageKey, int] = {}
    earlier: list[UsageKey] = []
    for account, periods in current.items():
        for period, start in wanted:
            held = periods.start(period)
            if held is None:
                continue
            if start == held:
                usage[(account, period, start)] = periods.spent(period)
            elif start < held:
                earlier.append((account, period, start))
    return usage, earlier


def usage_to_rows(
    current: Mapping[int, CurrentPeriods], changed: Mapping[UsageKey, int]
) -> tuple[dict[int, CurrentPeriods], dict[UsageKey, int]]:
    """Where `changed` usage goes: {account: its row's periods} for the accounts whose
    row changes, and the `LimitUsage` rows to write: changes to earlier periods, and the
    spent of a period a later one rolled the row off (nothing for a period spent 0)."""
    rows: dict[int, CurrentPeriods] = {}
    earlier: dict[UsageKey, int] = {}
    # In any order: a change to the period a later one rolls off the row lands on the row
    # before the roll, or in `earlier` over what the roll put there.
    for key in changed:
        account, period, start = key
        periods = rows.get(account) or current[account]
        held = periods.start(period)
        if held is None or start > held:
            if held is not None and periods.spent(period):
                earlier[(account, period, held)] = periods.spent(period)
            rows[account] = periods.moved_on(period, start, changed[key])
        elif start == held:
            rows[account] = periods.moved_on(period, start, changed[key])
        else:
            earlier[key] = changed[key]
    return rows, earlier
