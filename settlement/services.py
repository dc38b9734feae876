"""Writes to the ledger: opening accounts, setting their policy, submitting and settling.

Submitting only validates the shape of a transfer and queues it (RECEIVED); whether it
settles or is rejected for funds, limits or status is decided by settlement, in order.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ewallet.errors import ErrorCode, EwalletError
from ewallet.money import require_fen
from settlement import doorbell
from settlement.audit.log import audit_event_append
from settlement.batch import BatchResult, settle_batch
from settlement.exceptions import IdempotencyConflict, LinkedFailed, TransferInvalid
from settlement.models import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    PHASE_KINDS,
    Account,
    AccountKind,
    AccountStatus,
    Asset,
    AuditEvent,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.sql import array_literal, fetch, fetch_prepared, in_ids, insert_rows


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise TransferInvalid(
            ErrorCode.INVALID_INPUT,
            f"idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters",
        )


# The longest a pending transfer may hold its payer's funds.
MAX_PENDING_TIMEOUT = timedelta(days=90)


@dataclass(frozen=True)
class LegSpec:
    debit: Account | int
    credit: Account | int
    amount: int

    @property
    def debit_id(self) -> int:
        return self.debit if isinstance(self.debit, int) else self.debit.pk

    @property
    def credit_id(self) -> int:
        return self.credit if isinstance(self.credit, int) else self.credit.pk


def audit_event_record(*, kind: str, data: dict) -> AuditEvent:
    """Keep an event that moves no money in the audit log, in the caller's transaction:
    its leaf is chained, checkpointed and rebuilt by `audit verify` like a transfer's.
    `data` (text, integers, booleans, nulls) must hold nothing the log's readers may not
    see; INVALID_INPUT otherwise."""
    return audit_event_append(kind=kind, data=data)


def account_open(
    *, label: str, kind: AccountKind, asset: Asset, **policy: int | bool | None
) -> Account:
    return Account.objects.create(label=label, kind=kind, asset=asset, **policy)


def accounts_set_policy(
    *,
    account_ids: Sequence[int],
    status: AccountStatus | None = None,
    limits: dict[str, int | None] | None = None,
    suspended: bool | None = None,
) -> int:
    """Write status, limits and/or suspension onto accounts; settlement enforces them from
    then on (a transfer already queued is judged by what holds when it settles)."""
    allowed = {"balance_cap", "single_limit", "daily_limit", "annual_limit"}
    changes: dict[str, object] = dict(limits or {})
    if not set(changes) <= allowed:
        raise ValueError(f"unknown limits: {sorted(set(changes) - allowed)}")
    if status is not None:
        changes["status"] = status
    if suspended is not None:
        changes["suspended"] = suspended
    return Account.objects.filter(id__in=account_ids).update(**changes)


def transfer_submit(
    *,
    kind: TransferKind,
    legs: Sequence[LegSpec],
    idempotency_key: str,
    memo: str = "",
) -> tuple[Transfer, bool]:
    """Queue a transfer. Returns (transfer, created); the same key and legs return the first.

    On PostgreSQL the usual path is one statement in autocommit: it checks the legs'
    accounts and inserts the transfer and its legs, or inserts nothing. Only then (a key
    seen before, or a leg that names a wrong account) does the careful path run, to find
    the replay or the reason.
    """
    if not legs:
        raise TransferInvalid(ErrorCode.INVALID_INPUT, "a transfer needs at least one leg")
    _check_key(idempotency_key)
    kind = TransferKind(kind)
    wanted = [(leg.debit_id, leg.credit_id, require_fen(leg.amount)) for leg in legs]
    transfer = Transfer(kind=kind, idempotency_key=idempotency_key, memo=memo[:140])
    row = [
        transfer.kind,
        transfer.state,
        transfer.idempotency_key,
        transfer.memo,
        connection.ops.adapt_datetimefield_value(transfer.created_at),
    ]
    transfer_id = None
    if connection.vendor == "postgresql" and all(debit != credit for debit, credit, _ in wanted):
        transfer_id = _insert_checked_transfer(row, wanted)
    if transfer_id is None:
        with transaction.atomic():
            assets = _assets_of({a for debit, credit, _ in wanted for a in (debit, credit)})
            _check_legs(wanted, assets)
            legs_rows = [
                (seq, assets[debit], debit, credit, amount)
                for seq, (debit, credit, amount) in enumerate(wanted)
            ]
            transfer_id = _insert_transfer(row, legs_rows)
            if transfer_id is None:
                return _find_replay(idempotency_key, kind, wanted), False
    transfer.pk = transfer_id
    transfer._state.adding = False
    doorbell.ring_on_commit()
    return transfer, True


_INSERT_TRANSFER = (
    f"INSERT INTO {Transfer._meta.db_table} "
    "(kind, state, reject_code, idempotency_key, memo, created_at) "
    "VALUES (%s, %s, '', %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
_LEG_COLUMNS = ["transfer_id", "seq", "asset", "debit_id", "credit_id", "amount"]

# The legs with their accounts' asset, kept only where both accounts exist and agree; the
# transfer is inserted only if every leg was kept, and its legs only if it was inserted.
_INSERT_CHECKED_TRANSFER = (
    "WITH l AS ("
    " SELECT l.seq, d.asset, l.debit, l.credit, l.amount"
    " FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::bigint[])"
    "  AS l(seq, debit, credit, amount)"
    f" JOIN {Account._meta.db_table} d ON d.id = l.debit"
    f" JOIN {Account._meta.db_table} c ON c.id = l.credit AND c.asset = d.asset"
    "), t AS ("
    f" INSERT INTO {Transfer._meta.db_table}"
    " (kind, state, reject_code, idempotency_key, memo, created_at)"
    " SELECT %s, %s, '', %s, %s, %s WHERE (SELECT count(*) FROM l) = %s"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
    ") "
    f"INSERT INTO {TransferLeg._meta.db_table} ({', '.join(_LEG_COLUMNS)}) "
    "SELECT t.id, l.seq, l.asset, l.debit, l.credit, l.amount FROM t, l RETURNING transfer_id"
)


def _insert_checked_transfer(row: list, wanted: list[tuple[int, int, int]]) -> int | None:
    """PostgreSQL: check and insert in one round trip (a single statement needs no
    transaction of its own). None if nothing was inserted, for whatever reason."""
    columns = [range(len(wanted)), *zip(*wanted, strict=True)]
    rows = fetch(
        _INSERT_CHECKED_TRANSFER,
        [*(array_literal(list(column)) for column in columns), *row, len(wanted)],
    )
    return rows[0][0] if rows else None


def _insert_transfer(row: list, legs_rows: list[tuple]) -> int | None:
    """Insert one transfer and its legs; None if its key was taken (nothing inserted)."""
    if connection.vendor == "postgresql":
        # One round trip: the legs are inserted only if the transfer was.
        columns = list(zip(*legs_rows, strict=True))
        rows = fetch(
            f"WITH t AS ({_INSERT_TRANSFER}) "
            f"INSERT INTO {TransferLeg._meta.db_table} ({', '.join(_LEG_COLUMNS)}) "
            "SELECT t.id, l.seq, l.asset, l.debit, l.credit, l.amount FROM t, "
            "unnest(%s::int[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[]) "
            "AS l(seq, asset, debit, credit, amount) RETURNING transfer_id",
            [*row, *(array_literal(column) for column in columns)],
        )
        return rows[0][0] if rows else None
    rows = fetch(_INSERT_TRANSFER, row)
    if not rows:
        return None
    insert_rows(TransferLeg._meta.db_table, _LEG_COLUMNS, [(rows[0][0], *leg) for leg in legs_rows])
    return rows[0][0]


@dataclass(frozen=True)
class TransferSpec:
    kind: TransferKind
    legs: Sequence[LegSpec]
    idempotency_key: str
    memo: str = ""
    # Linked to the next spec: a chain (linked specs and the first one after them that is
    # not) is queued whole or refused whole, and settles whole or is rejected whole.
    linked: bool = False


@dataclass(frozen=True)
class SubmitOutcome:
    """One item of a batch: the transfer's id and state (created or replayed), or why it
    was refused. Ids, not models: a thousand model instances cost more than the INSERT."""

    transfer_id: int | None = None
    state: str | None = None
    created: bool = False
    error: EwalletError | None = None


def linked_chains(linked: Sequence[bool]) -> list[range]:
    """The linked chains of a batch, as ranges of indexes: each run of linked items with
    the item that ends it. A batch whose last item is linked leaves a chain open: refused."""
    chains = []
    start = None
    for index, flag in enumerate(linked):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            chains.append(range(start, index + 1))
            start = None
    if start is not None:
        raise TransferInvalid(
            ErrorCode.LINKED_CHAIN_OPEN,
            f"item {len(linked) - 1} is linked to nothing: a chain ends with an item not linked",
        )
    return chains


def refuse_broken_chains(chains: Sequence[range], errors: dict[int, EwalletError]) -> None:
    """A chain with a refused member is refused whole: its other members as LINKED_FAILED."""
    for chain in chains:
        failed = next((index for index in chain if index in errors), None)
        if failed is not None:
            for index in chain:
                errors.setdefault(index, LinkedFailed(failed - chain.start))


def transfers_submit_many(
    specs: Sequence[TransferSpec], *, assets: Mapping[int, str] | None = None
) -> list[SubmitOutcome]:
    """Queue many transfers at once, each independently (a bad item is refused alone) but
    for linked chains, which are queued or refused whole.

    Set-based: one query for the accounts' assets (none when `assets`, read by the caller
    in this transaction, names them all), one INSERT ... ON CONFLICT for the transfers and
    their legs (on SQLite, and a second for the legs), and one doorbell; replays (keys
    seen before, in an earlier request or earlier in this one) are checked like
    `transfer_submit`'s. A chain replays only as the same chain. A batch whose chains do
    not close is refused (LINKED_CHAIN_OPEN) before anything is written.
    """
    chains = linked_chains([spec.linked for spec in specs])
    return _transfers_queue(specs, chains, assets or {})


# No savepoint inside a caller's transaction: bad items are refused one by one in here,
# and what does raise (a database error, a bug) ends that whole transaction anyway. A
# savepoint and its release were two round trips of each operator's chunk's five.
@transaction.atomic(savepoint=False)
def _transfers_queue(
    specs: Sequence[TransferSpec], chains: list[range], known: Mapping[int, str]
) -> list[SubmitOutcome]:
    in_chain = {index for chain in chains for index in chain}
    wanted: list[list[tuple[int, int, int]] | None] = []
    errors: dict[int, EwalletError] = {}
    for index, spec in enumerate(specs):
        try:
            if not spec.legs:
                raise TransferInvalid(ErrorCode.INVALID_INPUT, "a transfer needs at least one leg")
            _check_key(spec.idempotency_key)
            TransferKind(spec.kind)
            if spec.kind in PHASE_KINDS and index in in_chain:
                raise TransferInvalid(ErrorCode.INVALID_INPUT, "a phase cannot be linked")
            wanted.append(
                [(leg.debit_id, leg.credit_id, require_fen(leg.amount)) for leg in spec.legs]
            )
        except EwalletError as error:
            errors[index] = error
            wanted.append(None)
    ids = {a for legs in wanted if legs for debit, credit, _ in legs for a in (debit, credit)}
    assets = {**known, **_assets_of(missing)} if (missing := ids - known.keys()) else known
    for index, legs in enumerate(wanted):
        if legs is None:
            continue
        try:
            _check_legs(legs, assets)
        except EwalletError as error:
            errors[index] = error
    for chain in chains:
        keys = [specs[index].idempotency_key for index in chain]
        for index, key in zip(chain, keys, strict=True):
            if keys.index(key) != index - chain.start:
                errors.setdefault(
                    index, TransferInvalid(ErrorCode.INVALID_INPUT, "a key used twice in a chain")
                )
    refuse_broken_chains(chains, errors)

    fresh = [i for i in range(len(specs)) if i not in errors]
    links: dict[int, UUID] = {}  # each queued chain's members: one link
    for chain in chains:
        if chain.start not in errors:
            link = uuid4()
            links.update((index, link) for index in chain)
    # A key used twice in the batch is inserted (with its legs) for its first item only.
    first: dict[str, int] = {}
    for index in fresh:
        first.setdefault(specs[index].idempotency_key, index)
    inserted = _insert_transfers(
        [specs[i] for i in fresh],
        [links.get(i) for i in fresh],
        [
            (specs[index].idempotency_key, seq, assets[debit], debit, credit, amount)
            for index in first.values()
            for seq, (debit, credit, amount) in enumerate(wanted[index])
        ],
    )
    created = {index: inserted[key] for key, index in first.items() if key in inserted}
    replays = _settle_chains(specs, wanted, chains, created, errors)
    outcomes = []
    for index, spec in enumerate(specs):
        if index in errors:
            outcomes.append(SubmitOutcome(error=errors[index]))
        elif index in created:
            outcomes.append(
                SubmitOutcome(
                    transfer_id=created[index], state=TransferState.RECEIVED, created=True
                )
            )
        elif index in replays:
            outcomes.append(replays[index])
        else:
            try:
                replay = _find_replay(spec.idempotency_key, spec.kind, wanted[index])
                outcomes.append(SubmitOutcome(transfer_id=replay.pk, state=replay.state))
            except EwalletError as error:
                outcomes.append(SubmitOutcome(error=error))
    if created:
        doorbell.ring_on_commit()
    return outcomes


def _settle_chains(specs, wanted, chains, created, errors) -> dict[int, SubmitOutcome]:
    """Make each queued chain whole after the INSERT: all members new (queued), all replays
    of one earlier chain with the same members in the same order (replayed), or else
    refused whole, the members just inserted deleted again. Returns the replays' outcomes;
    refusals go into `errors` and out of `created`."""
    replays: dict[int, SubmitOutcome] = {}
    undo: list[int] = []
    for chain in chains:
        if chain.start in errors or all(index in created for index in chain):
            continue
        if not any(index in created for index in chain):
            try:
                replays.update(_chain_replay(specs, wanted, chain))
                continue
            except EwalletError as error:
                errors[chain.start] = error
        for index in chain:
            if index in created:
                undo.append(created.pop(index))
            else:
                errors.setdefault(index, IdempotencyConflict(specs[index].idempotency_key))
        refuse_broken_chains([chain], errors)
    if undo:
        with connection.cursor() as cursor:
            condition, params = in_ids("transfer_id", undo)
            cursor.execute(f"DELETE FROM {TransferLeg._meta.db_table} WHERE {condition}", params)
            condition, params = in_ids("id", undo)
            cursor.execute(f"DELETE FROM {Transfer._meta.db_table} WHERE {condition}", params)
    return replays


def _chain_replay(specs, wanted, chain: range) -> dict[int, SubmitOutcome]:
    """The outcomes of a chain queued before under the same keys, or IdempotencyConflict."""
    found = [
        _find_replay(specs[index].idempotency_key, specs[index].kind, wanted[index], chained=True)
        for index in chain
    ]
    link = found[0].link
    same_chain = (
        link is not None
        and all(transfer.link == link for transfer in found)
        and [t.pk for t in found] == sorted(t.pk for t in found)
        and Transfer.objects.filter(link=link).count() == len(found)
    )
    if not same_chain:
        raise IdempotencyConflict(specs[chain.start].idempotency_key)
    return {
        index: SubmitOutcome(transfer_id=transfer.pk, state=transfer.state)
        for index, transfer in zip(chain, found, strict=True)
    }


def _check_legs(legs: list[tuple[int, int, int]], assets: Mapping[int, str]) -> None:
    # Membership in `assets`, not a set made of it: a batch checks each item's legs against
    # every account the batch names.
    if missing := {a for debit, credit, _ in legs for a in (debit, credit) if a not in assets}:
        raise TransferInvalid(ErrorCode.NOT_FOUND, f"no such account: {sorted(missing)}")
    for debit, credit, _ in legs:
        if debit == credit:
            raise TransferInvalid(ErrorCode.SAME_ACCOUNT, "payer and payee are the same account")
        if assets[debit] != assets[credit]:
            raise TransferInvalid(ErrorCode.ASSET_MISMATCH, "a leg must move a single asset")


def _assets_of(ids: set[int]) -> dict[int, str]:
    """{account id: asset}; one array parameter on PostgreSQL, not thousands of them."""
    if connection.vendor == "postgresql":
        return dict(
            fetch(
                f"SELECT id, asset FROM {Account._meta.db_table} WHERE id = ANY(%s::bigint[])",
                [array_literal(sorted(ids))],
            )
        )
    return dict(Account.objects.filter(id__in=ids).values_list("id", "asset"))


def _insert_transfers(
    specs: Sequence[TransferSpec], links: Sequence[UUID | None], legs: Sequence[tuple]
) -> dict[str, int]:
    """INSERT the transfers whose keys are new, each with its chain's link (or None), and
    the legs of those, (key, seq, asset, debit, credit, amount); returns {key: id} of
    those inserted. A key must name the legs of one transfer only."""
    if not specs:
        return {}
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    table = Transfer._meta.db_table
    columns = "(kind, state, reject_code, idempotency_key, memo, created_at, link)"
    tail = "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key"
    if connection.vendor == "postgresql":
        # One statement: the legs join the transfers the INSERT returned by key, so a key
        # taken before inserts no legs. (COPY of the legs was a second round trip and a
        # Python call per row.) Prepared: every operator's chunk runs it, and parsing and
        # planning it each time cost its backend about a tenth of submitting.
        rows = fetch_prepared(
            f"WITH t AS (INSERT INTO {table} {columns} SELECT k, %s, '', i, m, %s, l FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::uuid[]) WITH ORDINALITY AS v(k, i, m, l, ord) "
            f"ORDER BY ord {tail}), "
            f"legs AS (INSERT INTO {TransferLeg._meta.db_table} ({', '.join(_LEG_COLUMNS)}) "
            "SELECT t.id, l.seq, l.asset, l.debit, l.credit, l.amount FROM unnest("
            "%s::text[], %s::int[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[]) "
            "AS l(k, seq, asset, debit, credit, amount) JOIN t ON t.idempotency_key = l.k) "
            "SELECT id, idempotency_key FROM t",
            [
                TransferState.RECEIVED,
                stamp,
                array_literal([str(spec.kind) for spec in specs]),
                array_literal([spec.idempotency_key for spec in specs]),
                array_literal([spec.memo[:140] for spec in specs]),
                array_literal(links),
                *(array_literal(column) for column in _columns(legs, 6)),
            ],
        )
        return {key: pk for pk, key in rows}
    values = ", ".join(["(%s, %s, '', %s, %s, %s, %s)"] * len(specs))
    params = [
        value
        for spec, link in zip(specs, links, strict=True)
        for value in (
            str(spec.kind),
            TransferState.RECEIVED,
            spec.idempotency_key,
            spec.memo[:140],
            stamp,
            link and link.hex,  # Django keeps a UUID as 32 hex digits on SQLite
        )
    ]
    rows = fetch(f"INSERT INTO {table} {columns} VALUES {values} {tail}", params)
    inserted = {key: pk for pk, key in rows}
    insert_rows(
        TransferLeg._meta.db_table,
        _LEG_COLUMNS,
        [(inserted[key], *leg) for key, *leg in legs if key in inserted],
    )
    return inserted


def _columns(rows: Sequence[tuple], width: int) -> list[tuple]:
    """The rows' columns (`width` empty ones when there are no rows)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _find_replay(
    key: str, kind: str, wanted: list[tuple[int, int, int]], *, chained: bool = False
) -> Transfer:
    """The transfer already queued under this key, if it asked for the same thing (linked
    in a chain, `chained`, or not)."""
    transfer = Transfer.objects.filter(idempotency_key=key).first()
    if transfer is None:  # taken earlier in this request by a chain since refused
        raise IdempotencyConflict(key)
    stored = list(transfer.legs.order_by("seq").values_list("debit_id", "credit_id", "amount"))
    if transfer.kind != kind or stored != wanted or (transfer.link is not None) != chained:
        raise IdempotencyConflict(key)
    return transfer


# ---------------------------------------------------------------- two-phase transfers


def transfer_reserve(
    *,
    kind: TransferKind,
    legs: Sequence[LegSpec],
    idempotency_key: str,
    timeout: timedelta,
    memo: str = "",
) -> tuple[Transfer, bool]:
    """Queue a two-phase transfer: settlement reserves its payers' funds (checking balance
    and limits as for a payment) and it is PENDING until posted, voided, or expired at
    `timeout` from now. Returns (transfer, created), as transfer_submit."""
    if not timedelta(seconds=1) <= timeout <= MAX_PENDING_TIMEOUT:
        raise TransferInvalid(
            ErrorCode.INVALID_INPUT,
            f"a timeout is between 1 second and {MAX_PENDING_TIMEOUT.days} days",
            field="timeout",
        )
    if kind in PHASE_KINDS:
        raise TransferInvalid(ErrorCode.INVALID_INPUT, "a phase is not a pending transfer")
    wanted = [(leg.debit_id, leg.credit_id, require_fen(leg.amount)) for leg in legs]
    if not wanted:
        raise TransferInvalid(ErrorCode.INVALID_INPUT, "a transfer needs at least one leg")
    return _queue(
        TransferKind(kind), wanted, idempotency_key, memo, timeout_at=timezone.now() + timeout
    )


def transfer_post(
    *, pending: Transfer, idempotency_key: str, amount: int | None = None, memo: str = ""
) -> tuple[Transfer, bool]:
    """Queue the posting of a pending transfer: all of it, or `amount` of a one-leg one.
    Settlement posts it if it is still PENDING and not timed out (else REJECTED,
    ALREADY_POSTED / ALREADY_VOIDED / ALREADY_EXPIRED / PENDING_TIMED_OUT)."""
    legs = _pending_legs(pending)
    total = sum(amount for _, _, amount in legs)
    amount = total if amount is None else require_fen(amount)
    if amount > total:
        raise TransferInvalid(
            ErrorCode.INVALID_AMOUNT, f"a post moves at most the {total} fen reserved"
        )
    if amount < total and len(legs) > 1:
        raise TransferInvalid(
            ErrorCode.INVALID_AMOUNT, "only a one-leg pending transfer is posted in part"
        )
    posted = legs if amount == total else [(legs[0][0], legs[0][1], amount)]
    return _queue(TransferKind.POST, posted, idempotency_key, memo, pending_id=pending.pk)


def transfer_void(
    *, pending: Transfer, idempotency_key: str, memo: str = ""
) -> tuple[Transfer, bool]:
    """Queue the voiding of a pending transfer: its funds released, nothing moved."""
    _pending_legs(pending)
    return _queue(TransferKind.VOID, [], idempotency_key, memo, pending_id=pending.pk)


def pendings_expire(*, now: datetime | None = None) -> int:
    """Queue an EXPIRE for every PENDING transfer whose timeout has passed, once each (its
    key is `expire:<id>`), and ring for settlement. Safe to run anywhere, any number of
    times: beat's sweep and every settle task run it. Returns how many it queued."""
    now = now or timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    table = Transfer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, state, reject_code, idempotency_key, memo, created_at, "
            "pending_id) "
            f"SELECT %s, %s, '', 'expire:' || id, '', %s, id FROM {table} "
            "WHERE state = %s AND timeout_at <= %s "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            [TransferKind.EXPIRE, TransferState.RECEIVED, at, TransferState.PENDING, at],
        )
        queued = cursor.rowcount
    if queued:
        doorbell.ring_on_commit()
    return queued


def _pending_legs(pending: Transfer) -> list[tuple[int, int, int]]:
    if pending.timeout_at is None or pending.kind in PHASE_KINDS:
        raise TransferInvalid(
            ErrorCode.INVALID_STATE, f"transfer {pending.pk} is not a two-phase transfer"
        )
    return list(pending.legs.order_by("seq").values_list("debit_id", "credit_id", "amount"))


def _queue(
    kind: TransferKind,
    wanted: list[tuple[int, int, int]],
    idempotency_key: str,
    memo: str,
    *,
    timeout_at: datetime | None = None,
    pending_id: int | None = None,
) -> tuple[Transfer, bool]:
    """Insert a transfer and its legs, or find the one its key queued before (which must
    ask for the same thing); ring for settlement."""
    _check_key(idempotency_key)
    with transaction.atomic():
        assets = _assets_of({a for debit, credit, _ in wanted for a in (debit, credit)})
        _check_legs(wanted, assets)
        existing = Transfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.pending_id != pending_id:
                raise IdempotencyConflict(idempotency_key)
            return _find_replay(idempotency_key, kind, wanted), False
        transfer = Transfer.objects.create(
            kind=kind,
            idempotency_key=idempotency_key,
            memo=memo[:140],
            timeout_at=timeout_at,
            pending_id=pending_id,
        )
        TransferLeg.objects.bulk_create(
            TransferLeg(
                transfer=transfer,
                seq=seq,
                asset=assets[debit],
                debit_id=debit,
                credit_id=credit,
                amount=amount,
            )
            for seq, (debit, credit, amount) in enumerate(wanted)
        )
    doorbell.ring_on_commit()
    return transfer, True


def transfers_settle(
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    between_batches: Callable[[], object] | None = None,
) -> BatchResult:
    """Drain the queue: settle batches until the queue gives a batch fewer rows than it
    asks for, or a batch decides nothing (or max_batches ran).

    `between_batches` runs after each full batch, while the drain goes on (the worker
    seals checkpoints there, so a long drain does not hold them back).
    """
    size = batch_size or settings.EWALLET_SETTLEMENT_BATCH_SIZE
    total = BatchResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        result = settle_batch(size)
        total.add(result)
        batches += 1
        # A short take means the queue is drained. A full one goes on even when some of
        # it was deferred (chains or phases another batch holds), unless all of it was:
        # taking the same rows again at once would only spin while their holder's batch is
        # open; the next ring or sweep takes them.
        if result.taken < size or result.claimed == 0:
            break
        if between_batches is not None:
            between_batches()
    return total
