"""The checks of a chaos run, as pure functions over what was read: what each client was
told, the run's transfers in the ledger, and the snapshots of every balance."""

from collections import Counter
from dataclasses import dataclass, field

ACCEPTED, REFUSED, UNKNOWN = "accepted", "refused", "unknown"


@dataclass(frozen=True)
class Told:
    """What the client was last told about a payment: accepted (with the transfer's id),
    refused (with the problem's code), or nothing it could rely on (it gave up)."""

    outcome: str
    transfer_id: int = 0
    code: str = ""


@dataclass(frozen=True)
class LedgerRow:
    transfer_id: int
    payment: int  # the payment's index, from its memo
    state: str
    leaves: int
    postings: int
    legs: int


@dataclass(frozen=True)
class Snapshot:
    at: float  # seconds from the start
    total: int | None  # None: the database did not answer
    negative: int = 0


@dataclass
class Check:
    name: str
    count: int
    detail: str
    ok: bool = field(default=False)

    def line(self) -> str:
        return f"{self.name} {self.count} ({self.detail}): {'ok' if self.ok else 'FAILED'}"


def lost(told: dict[int, Told], rows: list[LedgerRow]) -> Check:
    """Accepted payments whose transfer is not in the ledger as that payment."""
    found = {row.transfer_id: row.payment for row in rows}
    accepted = {index: t for index, t in told.items() if t.outcome == ACCEPTED}
    missing = sum(1 for index, t in accepted.items() if found.get(t.transfer_id) != index)
    counts = Counter(t.outcome for t in told.values())
    detail = (
        f"of {counts[ACCEPTED]} accepted; {counts[REFUSED]} refused, "
        f"{counts[UNKNOWN]} left unknown after retrying"
    )
    return Check("lost", missing, detail, ok=missing == 0)


def doubled(rows: list[LedgerRow]) -> Check:
    """Payments in the ledger more than once."""
    per_payment = Counter(row.payment for row in rows)
    extra = sum(n - 1 for n in per_payment.values() if n > 1)
    detail = f"{len(rows)} transfers in the ledger for {len(per_payment)} payments"
    return Check("doubled", extra, detail, ok=extra == 0)


def unaccepted(told: dict[int, Told], rows: list[LedgerRow]) -> Check:
    """Transfers in the ledger for a payment the client was told was refused (a payment
    left unknown may be there or not)."""
    refused = {index for index, t in told.items() if t.outcome == REFUSED}
    strays = sum(1 for row in rows if row.payment in refused or row.payment not in told)
    return Check("unaccepted", strays, "in the ledger though refused or never sent", ok=not strays)


def bad_snapshots(snapshots: list[Snapshot], total: int) -> Check:
    read = [s for s in snapshots if s.total is not None]
    bad = sum(1 for s in read if s.total != total)
    detail = (
        f"of {len(read)} snapshots summing {total / 100:,.2f} CNY; "
        f"{len(snapshots) - len(read)} unanswered while a fault was on"
    )
    return Check("bad snapshots", bad, detail, ok=bad == 0 and len(read) > 0)


def negative(snapshots: list[Snapshot], negative_at_end: int) -> Check:
    seen = sum(1 for s in snapshots if s.total is not None and s.negative)
    count = seen + negative_at_end
    detail = f"snapshots with a negative balance, plus {negative_at_end} accounts at the end"
    return Check("negative", count, detail, ok=count == 0)


def leaves_one_to_one(rows: list[LedgerRow]) -> Check:
    """Each settled transfer has one audit leaf and two postings per leg; every other one
    has none of either."""
    wrong = sum(
        1
        for row in rows
        if (row.state == "SETTLED" and (row.leaves != 1 or row.postings != 2 * row.legs))
        or (row.state != "SETTLED" and (row.leaves or row.postings))
    )
    settled = sum(1 for row in rows if row.state == "SETTLED")
    leaves = sum(row.leaves for row in rows)
    detail = f"{settled} settled transfers, {leaves} leaves"
    return Check("leaves mismatched", wrong, detail, ok=wrong == 0)


def undecided(rows: list[LedgerRow]) -> Check:
    left = sum(1 for row in rows if row.state == "RECEIVED")
    return Check("undecided", left, "still RECEIVED at the end", ok=left == 0)
