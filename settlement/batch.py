"""Settling one batch of RECEIVED transfers in one transaction.

The database is the queue (DESIGN.md, "Transfers and settlement"):

1. claim the oldest RECEIVED transfers with FOR UPDATE SKIP LOCKED, so concurrent workers
   take disjoint batches;
2. on PostgreSQL, decide them ahead against the balances last committed, without locks,
   streaming the settled transfers' postings to a COPY and writing the states: the
   largest writes, which then overlap another worker's batch instead of waiting for it;
3. lock every account they touch in id order, so two batches never deadlock, and decide
   again in arrival order in memory (settlement.rules), a linked chain whole, at its first
   member; mend the few rows written ahead that this decision changes (on SQLite, whose
   one writer serialises batches anyway, the postings stream here instead);
4. write balances, limit usage, tallies and audit leaves with set-based SQL, the leaves
   encoded in a thread started ahead.

A worker killed anywhere in here rolls back and its rows are claimed again; a transfer
that is no longer RECEIVED is never claimed, so running this twice cannot double a payment.
"""

import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from settlement import rules
from settlement.audit.log import (
    LeafSpec,
    audit_append,
    audit_encode_ahead,
    audit_encode_reusing,
)
from settlement.models import (
    NEGATIVE_ALLOWED,
    PAYMENT_KINDS,
    PHASE_KINDS,
    Account,
    BatchCommit,
    LimitUsage,
    PaymentsPerMinute,
    Posting,
    RejectionTally,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.selectors import limit_usage
from settlement.signals import transfers_decided
from settlement.sql import (
    Statement,
    array_literal,
    fetch,
    in_ids,
    insert_rows,
    rows_inserted,
    run,
    update_from_values_statement,
)
from settlement.usage import CurrentPeriods, usage_to_rows

_POSTING_COLUMNS = ["transfer_id", "account_id", "asset", "amount"]

# What a batch writes to an account's row: its balances and its current limit periods.
_ACCOUNT_WRITTEN = [
    ("balance", "bigint"),
    ("reserved", "bigint"),
    ("day_start", "date"),
    ("day_spent", "bigint"),
    ("year_start", "date"),
    ("year_spent", "bigint"),
]

# The transaction-local setting that migration 0005's triggers read.
POSTINGS_BALANCE_PER_STATEMENT = "settlement.postings_balance_per_statement"


@dataclass(frozen=True, slots=True)
class Decision:
    transfer_id: int
    kind: str
    state: str
    reject_code: str

    def _replace_state(self, state: str) -> "Decision":
        return Decision(self.transfer_id, self.kind, state, self.reject_code)


@dataclass
class BatchResult:
    taken: int = 0  # rows the queue gave the claim; those it deferred are not `claimed`
    claimed: int = 0
    settled: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def add(self, other: "BatchResult") -> None:
        self.taken += other.taken
        self.claimed += other.claimed
        self.settled += other.settled
        for code, count in other.rejected.items():
            self.rejected[code] = self.rejected.get(code, 0) + count


@dataclass(slots=True)
class _Pending:
    """A two-phase transfer that a claimed phase decides, as the batch sees it."""

    kind: str
    state: str
    created_at: datetime
    timeout_at: datetime | None
    legs: list[rules.Leg] = field(default_factory=list)


# A phase's pending transfer becomes ...
_PHASE_STATE = {
    TransferKind.POST: TransferState.POSTED,
    TransferKind.VOID: TransferState.VOIDED,
    TransferKind.EXPIRE: TransferState.EXPIRED,
}


@transaction.atomic
def settle_batch(limit: int) -> BatchResult:
    with _queue_read_in_order():
        claimed = _claimed_rows(
            Transfer.objects.select_for_update(skip_locked=True)
            .filter(state=TransferState.RECEIVED)
            .order_by("id"),
            limit,
        )
    if not claimed:
        return BatchResult()
    taken = len(claimed)
    claimed, chains = _hold_chains(claimed)
    if not claimed:
        return BatchResult(taken=taken)
    pendings = _lock_pendings(claimed)

    legs_by_transfer: dict[int, list[tuple[str, int, int, int]]] = defaultdict(list)
    condition, params = in_ids("transfer_id", [t[0] for t in claimed] + list(pendings))
    for transfer_id, asset, debit, credit, amount in fetch(
        f"SELECT transfer_id, asset, debit_id, credit_id, amount FROM {TransferLeg._meta.db_table} "
        f"WHERE {condition} ORDER BY transfer_id, seq",
        params,
    ):
        legs_by_transfer[transfer_id].append((asset, debit, credit, amount))
    # The legs as the rules take them, built once for both of a batch's decisions.
    rule_legs = {
        transfer_id: [rules.Leg(debit, credit, amount) for _, debit, credit, amount in legs]
        for transfer_id, legs in legs_by_transfer.items()
    }
    for pending_id, pending in pendings.items():
        pending.legs = rule_legs[pending_id]

    account_ids = {
        account for legs in legs_by_transfer.values() for leg in legs for account in leg[1:3]
    }
    payment_times = [created for _, kind, created, *_ in claimed if kind in PAYMENT_KINDS] + [
        p.created_at for p in pendings.values() if p.kind in PAYMENT_KINDS
    ]
    decided_at = timezone.now()
    decided_at_sql = connection.ops.adapt_datetimefield_value(decided_at)
    vendor = connection.vendor
    decide = functools.partial(
        _decide_in_order,
        claimed,
        legs_by_transfer=legs_by_transfer,
        rule_legs=rule_legs,
        chains=chains,
        decided_at=decided_at,
    )
    _check_postings_per_statement()
    ahead = None
    if connection.features.has_select_for_update:
        ahead = _write_ahead(
            decide,
            account_ids,
            payment_times,
            pendings,
            decided_at=decided_at,
            decided_at_sql=decided_at_sql,
        )

    # Waits here for any batch holding these accounts to commit.
    account_rows = _account_rows(account_ids, lock=True)
    accounts = _account_states(account_rows)
    current = _current_periods(account_rows)
    usage = _load_usage(current, payment_times)
    usage_before = dict(usage)
    result = BatchResult(taken=taken, claimed=len(claimed))
    if ahead is None:  # SQLite: decided once, here
        decisions, leaves, encoded_leaves = _decided_and_written(
            decide,
            pendings=pendings,
            accounts=accounts,
            usage=usage,
            result=result,
            decided_at=decided_at,
            decided_at_sql=decided_at_sql,
        )
        states = []
    elif ahead.account_rows == account_rows and ahead.usage_read == usage:
        # Nothing the decision reads changed in between (a worker alone, or batches on
        # other accounts): the decision ahead stands, and what it wrote.
        accounts, usage, decisions, leaves = (
            ahead.accounts,
            ahead.usage,
            ahead.decisions,
            ahead.leaves,
        )
        encoded_leaves, states = ahead.encoded, []
        result.add(ahead.result)
    else:  # another batch's commit moved some of them: decide again, mend what differs
        decisions, leaves = decide(
            pendings=pendings,
            accounts=accounts,
            usage=usage,
            result=result,
            write_posting=None,  # written ahead
            again=_Again(ahead.decisions, _changed_since(ahead, account_rows, usage)),
        )
        encoded_leaves = audit_encode_reusing(
            leaves, decided_at=decided_at, earlier=ahead.leaves, encoded=ahead.encoded
        )
        states = _correct_ahead(
            ahead, decisions, pendings, legs_by_transfer, decided_at=decided_at_sql
        )
    moved_on = _usage_written(
        current, {key: spent for key, spent in usage.items() if usage_before.get(key) != spent}
    )
    run(
        update_from_values_statement(
            Account._meta.db_table,
            "id",
            _ACCOUNT_WRITTEN,
            _accounts_written(account_rows, accounts, moved_on),
            vendor=vendor,
        )
    )
    for statement in states:
        run(statement)
    _count_decisions(decisions.values(), decided_at)
    audit_append(leaves, decided_at=decided_at, encoded=encoded_leaves)
    transaction.on_commit(lambda: _note_commit(decided_at), robust=True)
    transfers_decided.send(
        sender=Transfer, decisions=list(decisions.values()), decided_at=decided_at
    )
    return result


def _state_updates(
    decisions: dict[int, Decision],
    pendings: dict[int, _Pending],
    *,
    decided_at: object,
    vendor: str,
) -> list[Statement | None]:
    """The statements that write the decided transfers' states, and the states of pending
    transfers reserved by earlier batches that this one posted, voided or expired.
    `decided_at` as the database takes it."""
    table = Transfer._meta.db_table
    # The same time for every row, as text: an array of 20,000 datetimes was built one
    # element at a time (26 ms a batch), one of strings is joined whole (2 ms).
    decided = str(decided_at)
    return [
        update_from_values_statement(
            table,
            "id",
            [("state", "varchar"), ("reject_code", "varchar"), ("decided_at", "timestamptz")],
            [(d.transfer_id, d.state, d.reject_code, decided) for d in decisions.values()],
            vendor=vendor,
        ),
        update_from_values_statement(
            table,
            "id",
            [("state", "varchar")],
            list(_phase_states(decisions, pendings).items()),
            vendor=vendor,
        ),
    ]


def _phase_states(decisions: dict[int, Decision], pendings: dict[int, _Pending]) -> dict[int, str]:
    """{pending transfer: its new state} for those reserved by earlier batches that this
    one posted, voided or expired (those reserved in it are among its decisions)."""
    return {
        pending_id: pending.state
        for pending_id, pending in pendings.items()
        if pending_id not in decisions and pending.state in _PHASE_STATE.values()
    }


@dataclass(slots=True)
class _Ahead:
    """A batch as decided and written before it locked its accounts."""

    account_rows: list[tuple]  # the accounts' rows as read, unlocked
    usage_read: dict  # limit usage as read
    accounts: dict[int, rules.AccountState]  # as the decision left them
    usage: dict
    pendings: dict[int, _Pending]
    pending_states_read: dict[int, str]  # the pending transfers' states as the batch read them
    decisions: dict[int, Decision]
    leaves: list[LeafSpec]
    result: BatchResult
    encoded: "Future[list[tuple[bytes, bytes]]]"


def _write_ahead(
    decide: Callable[..., tuple[dict[int, Decision], list[LeafSpec]]],
    account_ids: set[int],
    payment_times: list,
    pendings: dict[int, _Pending],
    *,
    decided_at: datetime,
    decided_at_sql: object,
) -> _Ahead:
    """Decide the batch against the balances last committed, without locking them, and
    write its postings and states before taking the accounts' locks.

    Two workers' batches touch mostly the same accounts, so each waited for the other's
    to commit before it could decide, and the writes (most of a batch's time) ran one
    batch at a time. Written ahead, they overlap the other batch's; under the locks the
    batch is decided again and `_correct_ahead` mends the few transfers that another
    batch's commit in between decided otherwise.
    """
    account_rows = _account_rows(account_ids, lock=False)
    accounts = _account_states(account_rows)
    usage = _load_usage(_current_periods(account_rows), payment_times)
    usage_read = dict(usage)
    guessed = {pending_id: replace(pending) for pending_id, pending in pendings.items()}
    result = BatchResult()
    decisions, leaves, encoded = _decided_and_written(
        decide,
        pendings=guessed,
        accounts=accounts,
        usage=usage,
        result=result,
        decided_at=decided_at,
        decided_at_sql=decided_at_sql,
    )
    return _Ahead(
        account_rows=account_rows,
        usage_read=usage_read,
        accounts=accounts,
        usage=usage,
        pendings=guessed,
        pending_states_read={pending_id: pending.state for pending_id, pending in pendings.items()},
        decisions=decisions,
        leaves=leaves,
        result=result,
        encoded=encoded,
    )


def _decided_and_written(
    decide: Callable[..., tuple[dict[int, Decision], list[LeafSpec]]],
    *,
    pendings: dict[int, _Pending],
    accounts: dict[int, rules.AccountState],
    usage: dict,
    result: BatchResult,
    decided_at: datetime,
    decided_at_sql: object,
) -> tuple[dict[int, Decision], list[LeafSpec], "Future[list[tuple[bytes, bytes]]]"]:
    """Decide with `decide`, streaming the settled transfers' postings to the database as
    it goes, then write the states. The decisions, the leaves, and their encoding, started
    before the COPY's end so that it runs while PostgreSQL stores the postings' tail; the
    states' statements are built then too."""
    with rows_inserted(Posting._meta.db_table, _POSTING_COLUMNS) as write_posting:
        decisions, leaves = decide(
            pendings=pendings,
            accounts=accounts,
            usage=usage,
            result=result,
            write_posting=write_posting,
        )
        encoded = audit_encode_ahead(leaves, decided_at=decided_at)
        states = _state_updates(
            decisions, pendings, decided_at=decided_at_sql, vendor=connection.vendor
        )
    for statement in states:
        run(statement)
    return decisions, leaves, encoded


def _correct_ahead(
    ahead: _Ahead,
    decisions: dict[int, Decision],
    pendings: dict[int, _Pending],
    legs_by_transfer: dict[int, list[tuple[str, int, int, int]]],
    *,
    decided_at: object,
) -> list[Statement | None]:
    """Make the rows written ahead say what was decided under the locks: the postings of
    transfers no longer settled go, those of newly settled ones come, here; the states'
    statements that differ are returned. Nothing when no decision changed."""
    postings = Posting._meta.db_table
    settled = {i for i, decision in decisions.items() if decision.state == TransferState.SETTLED}
    settled_ahead = {
        i for i, decision in ahead.decisions.items() if decision.state == TransferState.SETTLED
    }
    if unsettled := sorted(settled_ahead - settled):
        condition, params = in_ids("transfer_id", unsettled)
        run(Statement(f"DELETE FROM {postings} WHERE {condition}", params))
    insert_rows(
        postings,
        _POSTING_COLUMNS,
        [
            row
            for transfer_id in sorted(settled - settled_ahead)
            for asset, debit, credit, amount in legs_by_transfer[transfer_id]
            for row in (
                (transfer_id, debit, asset, -amount),
                (transfer_id, credit, asset, amount),
            )
        ],
    )
    transfers = Transfer._meta.db_table
    statements = _state_updates(
        {i: d for i, d in decisions.items() if ahead.decisions.get(i) != d},
        {},
        decided_at=decided_at,
        vendor=connection.vendor,
    )
    # A pending transfer that only the decision ahead moved on goes back to its state.
    phases, phases_ahead = (
        _phase_states(decisions, pendings),
        _phase_states(ahead.decisions, ahead.pendings),
    )
    statements.append(
        update_from_values_statement(
            transfers,
            "id",
            [("state", "varchar")],
            [
                (pending_id, phases.get(pending_id, ahead.pending_states_read[pending_id]))
                for pending_id in sorted(phases.keys() | phases_ahead.keys())
                if pending_id not in decisions
                and phases.get(pending_id) != phases_ahead.get(pending_id)
            ],
            vendor=connection.vendor,
        )
    )
    if undecided := sorted(ahead.decisions.keys() - decisions.keys()):
        condition, params = in_ids("id", undecided)
        statements.append(
            Statement(
                f"UPDATE {transfers} SET state = %s, reject_code = '', decided_at = NULL "
                f"WHERE {condition}",
                [TransferState.RECEIVED, *params],
            )
        )
    return statements


@dataclass(slots=True)
class _Again:
    """A batch decided again under its locks, after another batch's commit changed some
    of the accounts it had decided ahead. A transfer that touches none of the `changed`
    accounts meets the same balances, usage and rules as ahead, so its decision ahead
    stands and only its moves are applied; the others are decided in full, and the
    accounts of one decided otherwise are changed from then on."""

    ahead: dict[int, Decision]
    changed: set[int]

    def stands(self, legs: list[rules.Leg]) -> bool:
        changed = self.changed
        return not any(leg.debit in changed or leg.credit in changed for leg in legs)

    def note(self, decision: Decision, legs: list[rules.Leg]) -> None:
        if self.ahead.get(decision.transfer_id) != decision:
            self.changed.update(account for leg in legs for account in (leg.debit, leg.credit))


def _changed_since(ahead: _Ahead, account_rows: list[tuple], usage: dict) -> set[int]:
    """The accounts whose rows or limit usage differ from what the decision ahead read."""
    if [row[0] for row in account_rows] != [row[0] for row in ahead.account_rows]:
        return {row[0] for row in account_rows}  # not the same accounts: decide all again
    changed = {
        row[0] for row, read in zip(account_rows, ahead.account_rows, strict=True) if row != read
    }
    changed.update(
        key[0]
        for key in usage.keys() | ahead.usage_read.keys()
        if usage.get(key) != ahead.usage_read.get(key)
    )
    return changed


def _decide_in_order(
    claimed: list[tuple],
    *,
    legs_by_transfer: dict[int, list[tuple[str, int, int, int]]],
    rule_legs: dict[int, list[rules.Leg]],
    chains: dict,
    pendings: dict[int, "_Pending"],
    accounts: dict[int, rules.AccountState],
    usage: dict[rules.UsageKey, int],
    decided_at: datetime,
    result: BatchResult,
    write_posting: Callable[[tuple], None] | None,
    again: _Again | None = None,
) -> tuple[dict[int, "Decision"], list[LeafSpec]]:
    """Decide the claimed transfers in arrival order against `accounts` and `usage` (both
    changed in place), counting into `result` and writing each settled transfer's postings
    with `write_posting` (None: they are written already). With `again`, deciding anew
    only what another batch's commit may have changed. The decisions, and the leaves of
    what moved or reserved money."""
    decisions: dict[int, Decision] = {}
    leaves: list[LeafSpec] = []
    chain_codes: dict[int, str | None] = {}
    for transfer_id, kind, created_at, timeout_at, pending_id, link in claimed:
        legs = legs_by_transfer[transfer_id]
        moved = rule_legs.get(transfer_id, [])  # the legs whose accounts it may move
        state = TransferState.SETTLED
        if link is not None:
            if transfer_id not in chain_codes:  # its first member: decide the chain
                chain_codes.update(_decide_chain(accounts, usage, chains[link], rule_legs))
            code = chain_codes[transfer_id]
        elif kind in PHASE_KINDS:
            pending = pendings[pending_id]
            if pending.state == TransferState.RECEIVED:
                result.claimed -= 1  # its pending transfer is not decided yet: next batch
                continue
            code = _decide_phase(accounts, usage, kind, legs, pending, decided_at)
            moved = pending.legs
            if code is None:
                pending.state = _PHASE_STATE[kind]
                if pending_id in decisions:  # reserved earlier in this same batch
                    decisions[pending_id] = decisions[pending_id]._replace_state(pending.state)
        else:
            is_payment, reserve = kind in PAYMENT_KINDS, timeout_at is not None
            if again is not None and again.stands(moved):
                code = again.ahead[transfer_id].reject_code or None
                if code is None:
                    rules.apply_accepted(
                        accounts,
                        usage,
                        moved,
                        is_payment=is_payment,
                        at=created_at,
                        reserve=reserve,
                    )
            else:
                code = rules.apply_transfer(
                    accounts,
                    usage,
                    moved,
                    is_payment=is_payment,
                    at=created_at,
                    debits_suspended=kind == TransferKind.REDEEM,
                    reserve=reserve,
                )
            if code is None and reserve:
                state = TransferState.PENDING
            if transfer_id in pendings:  # a phase later in this batch decides it
                pendings[transfer_id].state = state if code is None else TransferState.REJECTED
        if code is None:
            decisions[transfer_id] = Decision(transfer_id, kind, state, "")
            leaves.append(
                LeafSpec(transfer_id, kind, created_at, legs, state, timeout_at, pending_id, link)
            )
            if state == TransferState.SETTLED and write_posting is not None:
                for asset, debit, credit, amount in legs:
                    write_posting((transfer_id, debit, asset, -amount))
                    write_posting((transfer_id, credit, asset, amount))
            result.settled += 1
        else:
            decisions[transfer_id] = Decision(transfer_id, kind, TransferState.REJECTED, code)
            result.rejected[code] = result.rejected.get(code, 0) + 1
        if again is not None:
            again.note(decisions[transfer_id], moved)
    return decisions, leaves


def _note_commit(decided_at: datetime) -> None:
    """After the batch's commit: when its decisions became visible (BatchCommit). Without
    waiting for the disk on PostgreSQL: a figure for latency, not a record of money."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        table = BatchCommit._meta.db_table
        adapt = connection.ops.adapt_datetimefield_value
        fetch(
            "WITH no_disk_wait AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f"INSERT INTO {table} (decided_at, committed_at) SELECT %s, %s FROM no_disk_wait "
            "ON CONFLICT (decided_at) DO UPDATE SET committed_at = "
            f"greatest({table}.committed_at, excluded.committed_at) RETURNING 1",
            [adapt(decided_at), adapt(now)],
        )
    else:
        BatchCommit.objects.update_or_create(decided_at=decided_at, defaults={"committed_at": now})


@contextmanager
def _queue_read_in_order() -> Iterator[None]:
    """The claim reads the queue's partial index in id order and stops at the batch's size.

    With no statistics of the transfers' columns yet (a new or flushed database that
    autovacuum has not analysed; in this machine's load runs it never had), PostgreSQL
    takes 0.5% of the table to be queued, and claimed with a bitmap scan of every RECEIVED
    transfer and a sort: the longer the backlog, the more a claim cost (113 ms with
    300,000 queued, 27 ms with 40,000). Read in order, a claim of 20,000 took 12-18 ms with
    300,000 queued. Bitmap scans stay on for the rest of the batch, whose lookups by many
    ids they serve well.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    yield
    # Not on error: the transaction is then rolled back, and the setting with it.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan TO DEFAULT")


def _claimed_rows(transfers, limit: int | None = None) -> list[tuple]:
    """(id, kind, created_at, timeout_at, pending_id, link) of each transfer.

    created_at is read as text and parsed once per distinct value: Django's timestamp
    loader on PostgreSQL is pure Python, about 10 µs a row (most of a claim's time), and
    the transfers of one submitted batch share one created_at.
    """
    rows = transfers.annotate(created_text=Cast("created_at", TextField())).values_list(
        "id", "kind", "created_text", "timeout_at", "pending_id", "link"
    )
    return [
        (transfer_id, kind, _created_at(created), *rest)
        for transfer_id, kind, created, *rest in rows[:limit]
    ]


@functools.lru_cache(maxsize=1024)
def _created_at(text: str) -> datetime:
    return _aware(text)


def _hold_chains(claimed: list[tuple]) -> tuple[list[tuple], dict]:
    """The claimed transfers with their linked chains made whole, and {link: members}.

    One batch decides a chain, so the members it did not claim are locked too (SKIP
    LOCKED: they may be in another batch's claim). A chain not wholly held is left
    undecided by every batch holding part of it; the next claim takes it whole. Members
    follow their chain's first member, so a chain is decided in one place.
    """
    links = {row[5] for row in claimed if row[5] is not None}
    if not links:
        return claimed, {}
    held = {row[0]: row for row in claimed}
    members = defaultdict(list)
    for transfer_id, link in Transfer.objects.filter(link__in=links).values_list("id", "link"):
        members[link].append(transfer_id)
    missing = [
        transfer_id for ids in members.values() for transfer_id in ids if transfer_id not in held
    ]
    if missing:
        for row in _claimed_rows(
            Transfer.objects.select_for_update(skip_locked=True).filter(
                id__in=missing, state=TransferState.RECEIVED
            )
        ):
            held[row[0]] = row
    chains = {
        link: [held[transfer_id] for transfer_id in sorted(ids)]
        for link, ids in members.items()
        if all(transfer_id in held for transfer_id in ids)
    }
    kept = [row for row in held.values() if row[5] is None or row[5] in chains]
    kept.sort(key=lambda row: (chains[row[5]][0][0] if row[5] else row[0], row[0]))
    return kept, chains


def _decide_chain(accounts, usage, members: list[tuple], rule_legs) -> dict[int, str | None]:
    """Each member's reject code (None: it applies), the chain applied whole or not at all:
    the first refused member keeps its own code and the others are LINKED_FAILED."""
    refused = rules.apply_linked(
        accounts,
        usage,
        [
            rules.LinkedTransfer(
                rule_legs[transfer_id],
                is_payment=kind in PAYMENT_KINDS,
                at=created_at,
                debits_suspended=kind == TransferKind.REDEEM,
            )
            for transfer_id, kind, created_at, *_ in members
        ],
    )
    if refused is None:
        return {member[0]: None for member in members}
    failed, code = refused
    return {
        member[0]: code if index == failed else rules.LINKED_FAILED
        for index, member in enumerate(members)
    }


def _decide_phase(accounts, usage, kind, legs, pending: _Pending, decided_at) -> str | None:
    """Post, void or expire `pending` in memory; a reject code, or None when it applied."""
    if pending.state != TransferState.PENDING:
        return rules.ALREADY_DECIDED.get(pending.state, rules.PENDING_REJECTED)
    if kind != TransferKind.EXPIRE and pending.timeout_at <= decided_at:
        return rules.PENDING_TIMED_OUT
    is_payment = pending.kind in PAYMENT_KINDS
    if kind == TransferKind.POST:
        return rules.apply_post(
            accounts,
            usage,
            pending.legs,
            sum(leg[3] for leg in legs),
            is_payment=is_payment,
            pending_at=pending.created_at,
        )
    rules.apply_release(
        accounts, usage, pending.legs, is_payment=is_payment, pending_at=pending.created_at
    )
    return None


def _lock_pendings(claimed: list[tuple]) -> dict[int, _Pending]:
    """The pending transfers the claimed phases decide. Those reserved by earlier batches
    are locked, so racing phases in other batches wait and then see this one's decision;
    those claimed in this batch are decided in it, in order."""
    in_batch = {t[0]: t for t in claimed}
    wanted = {t[4] for t in claimed if t[4] is not None}
    pendings = {
        pending_id: _Pending(
            in_batch[pending_id][1], TransferState.RECEIVED, *in_batch[pending_id][2:4]
        )
        for pending_id in wanted & set(in_batch)
    }
    earlier = sorted(wanted - set(in_batch))
    if earlier:
        condition, params = in_ids("id", earlier)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        for pending_id, kind, state, created_at, timeout_at in fetch(
            f"SELECT id, kind, state, created_at, timeout_at FROM {Transfer._meta.db_table} "
            f"WHERE {condition} ORDER BY id{lock}",
            params,
        ):
            pendings[pending_id] = _Pending(
                kind, state, _aware(created_at), timeout_at and _aware(timeout_at)
            )
    return pendings


def _aware(value) -> datetime:
    """A datetime column read with raw SQL, as the ORM would give it (SQLite gives text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _count_decisions(decisions: Iterable[Decision], decided_at: datetime) -> None:
    """Keep the console's tallies: payments decided this minute, rejections by code. A few
    rows per batch, locked in one order (minute, then codes sorted) after the accounts and
    before the audit head, as every batch does."""
    payments = sum(1 for decision in decisions if decision.kind in PAYMENT_KINDS)
    rejected = Counter(
        decision.reject_code for decision in decisions if decision.state == TransferState.REJECTED
    )
    with connection.cursor() as cursor:
        if payments:
            table = PaymentsPerMinute._meta.db_table
            cursor.execute(
                f"INSERT INTO {table} (minute, decided) VALUES (%s, %s) ON CONFLICT (minute) "
                f"DO UPDATE SET decided = {table}.decided + EXCLUDED.decided",
                [
                    connection.ops.adapt_datetimefield_value(
                        decided_at.replace(second=0, microsecond=0)
                    ),
                    payments,
                ],
            )
        if rejected:
            table = RejectionTally._meta.db_table
            codes = sorted(rejected)
            cursor.execute(
                f"INSERT INTO {table} (reject_code, rejected) VALUES "
                + ", ".join(["(%s, %s)"] * len(codes))
                + f" ON CONFLICT (reject_code) DO UPDATE SET rejected = {table}.rejected "
                "+ EXCLUDED.rejected",
                [value for code in codes for value in (code, rejected[code])],
            )


def _check_postings_per_statement() -> None:
    """Have PostgreSQL check that the batch's one COPY of postings balances by itself, set
    based, instead of each transfer again at COMMIT (migration 0005): this transaction only."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL {POSTINGS_BALANCE_PER_STATEMENT} = on")


def _account_rows(ids: set[int], *, lock: bool) -> list[tuple]:
    """The accounts as last committed, the columns a decision reads; with `lock`, locked
    in id order: every batch takes them in the same order, no deadlock.

    NO KEY UPDATE, not UPDATE: it still excludes other settlers, but not the KEY SHARE
    locks that foreign-key checks take when a payment's legs are inserted. With FOR UPDATE
    a submitter (which checks its legs' accounts in constraint order, not id order) and a
    settler could each wait for the other.
    """
    condition, params = in_ids("id", sorted(ids))
    # SQLite has no row locks: its single writer already serialises batches.
    locking = lock and connection.features.has_select_for_update
    return fetch(
        "SELECT id, kind, status, balance, balance_cap, single_limit, daily_limit, annual_limit, "
        "suspended, reserved, day_start, day_spent, year_start, year_spent "
        f"FROM {Account._meta.db_table} WHERE {condition} ORDER BY id"
        + (" FOR NO KEY UPDATE" if locking else ""),
        params,
    )


def _account_states(rows: list[tuple]) -> dict[int, rules.AccountState]:
    return {
        row[0]: rules.AccountState(
            id=row[0],
            status=row[2],
            balance=row[3],
            may_go_negative=row[1] in NEGATIVE_ALLOWED,
            balance_cap=row[4],
            single_limit=row[5],
            daily_limit=row[6],
            annual_limit=row[7],
            suspended=bool(row[8]),
            reserved=row[9],
        )
        for row in rows
    }


def _current_periods(rows: list[tuple]) -> dict[int, CurrentPeriods]:
    """The limit periods on the rows of the accounts with a daily or annual limit."""
    return {
        row[0]: CurrentPeriods(_day(row[10]), row[11], _day(row[12]), row[13])
        for row in rows
        if row[6] is not None or row[7] is not None
    }


def _day(value) -> date | None:
    """A date column read with raw SQL (SQLite gives text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _load_usage(current: dict[int, CurrentPeriods], payment_times: list) -> dict:
    if not current or not payment_times:
        return {}
    return limit_usage(current, {rules.limit_periods(at) for at in payment_times})


def _usage_written(current: dict[int, CurrentPeriods], changed: dict) -> dict[int, CurrentPeriods]:
    """Write the `changed` usage of earlier periods to LimitUsage; the accounts whose rows
    take the rest, with their periods as they are to be written."""
    moved_on, earlier = usage_to_rows(current, changed)
    _save_earlier_usage(earlier)
    return moved_on


def _accounts_written(
    rows: list[tuple],
    accounts: dict[int, rules.AccountState],
    moved_on: dict[int, CurrentPeriods],
) -> list[tuple]:
    """The `_ACCOUNT_WRITTEN` values of the accounts whose balances or limit periods the
    batch changed; `rows` as read under the locks."""
    written = []
    for row in rows:
        account = accounts[row[0]]
        periods = moved_on.get(row[0])
        if periods is not None:
            day_start, day_spent, year_start, year_spent = (
                periods.day_start,
                periods.day_spent,
                periods.year_start,
                periods.year_spent,
            )
        elif (account.balance, account.reserved) != (row[3], row[9]):
            day_start, day_spent, year_start, year_spent = row[10:14]
        else:
            continue
        written.append(
            (
                account.id,
                account.balance,
                account.reserved,
                _iso(day_start),
                day_spent,
                _iso(year_start),
                year_spent,
            )
        )
    return written


def _iso(day) -> str | None:
    return None if day is None else str(day)


def _save_earlier_usage(changed: dict) -> None:
    if not changed:
        return
    if connection.vendor == "postgresql":
        # One upsert from arrays: the ORM's bulk_create built a model per row and bound
        # four parameters each, a quarter of a batch's time at a few thousand rows.
        keys = list(changed)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LimitUsage._meta.db_table} (account_id, period, start, spent) "
                "SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::date[], %s::bigint[]) "
                "ON CONFLICT (account_id, period, start) DO UPDATE SET spent = EXCLUDED.spent",
                [
                    array_literal([key[0] for key in keys]),
                    array_literal([str(key[1]) for key in keys]),
                    array_literal([key[2].isoformat() for key in keys]),
                    array_literal([changed[key] for key in keys]),
                ],
            )
        return
    LimitUsage.objects.bulk_create(
        [
            LimitUsage(account_id=account_id, period=period, start=start, spent=spent)
            for (account_id, period, start), spent in changed.items()
        ],
        update_conflicts=True,
        unique_fields=["account", "period", "start"],
        update_fields=["spent"],
    )
