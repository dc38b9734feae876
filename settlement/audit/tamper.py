"""`audit tamper`: a seeded campaign of random mutations of the ledger and the audit log,
each checked by `audit verify`, to show that every change is found and named.

Every mutation runs inside a savepoint of one transaction that is rolled back: after each
one the savepoint is rolled back, and at the end the whole transaction, so the database is
never changed. That beats a throwaway copy for two reasons: it mutates the very rows an
auditor would be shown (no copy that could differ), and it costs nothing to set up. The
price is that the mutated rows stay locked until their savepoint is rolled back, so run it
on a quiet database (or a restored copy of a live one).

Each mutation is what someone who can write the database, but holds no signing key, could
do to one row or two: change a byte, an amount, a state, a time, an account; delete a row;
insert one; swap two. A mutation that changes nothing (swapping two equal values) is
counted as `unchanged`, not as found; one the database itself refuses (a CHECK, a unique
key, the deferred balance trigger fired with SET CONSTRAINTS ALL IMMEDIATE) as `refused`,
naming the constraint. A change to the legs of a transfer that has no leaf (a REJECTED one,
or one still RECEIVED) that the verifier passes is counted as `outside`: the log records
settled money and reservations, not rejected requests, so nothing binds those rows.
PostgreSQL only: it is where the ledger's real constraints live.
"""

import base64
import hashlib
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import DatabaseError, connection, transaction

from settlement.audit import keys
from settlement.audit.leaf import chain_next, leaf_hash
from settlement.audit.note import Checkpoint as CheckpointText
from settlement.audit.note import Verifier, public_bytes, sign_note
from settlement.audit.verify import audit_verify
from settlement.models import (
    Account,
    AuditEvent,
    AuditHead,
    AuditLeaf,
    Checkpoint,
    MerkleNode,
    Posting,
    SigningKey,
    Transfer,
    TransferLeg,
)
from settlement.sql import fetch

# A session setting the append-only triggers on the audit tables let through (migration
# 0016): set, transaction-local, by this campaign only.
AUDIT_REWRITE_SETTING = "ewallet.audit_rewrite"

UNCHANGED = "unchanged"
OUTSIDE = "outside"  # a row the log does not cover: counted apart, never as detected


class _Undo(Exception):
    """Raised to roll a mutation's savepoint back."""


@dataclass
class KindTally:
    mutations: int = 0
    detected: int = 0
    refused: int = 0
    unchanged: int = 0
    outside: int = 0
    missed: int = 0
    named_by: Counter = field(default_factory=Counter)  # the verifier's check names
    example: str = ""  # the first finding, as the verifier or the database named it
    missed_examples: list[str] = field(default_factory=list)
    outside_examples: list[str] = field(default_factory=list)


@dataclass
class CampaignReport:
    seed: int
    seconds: float = 0.0
    kinds: dict[str, KindTally] = field(default_factory=lambda: defaultdict(KindTally))

    def total(self, attribute: str) -> int:
        return sum(getattr(tally, attribute) for tally in self.kinds.values())


def tamper_campaign(*, mutations: int, seed: int, on_each: Callable | None = None):
    """Apply `mutations` random mutations, one at a time, each rolled back after `audit
    verify` has looked at it; the database is left as it was."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the tamper campaign runs on PostgreSQL only")
    rng = random.Random(seed)
    report = CampaignReport(seed=seed)
    started = time.perf_counter()
    with transaction.atomic():
        baseline = audit_verify()
        if not baseline.ok:
            raise RuntimeError(f"the log does not verify before any mutation: {baseline.mismatch}")
        _sql("SELECT set_config(%s, 'on', true)", [AUDIT_REWRITE_SETTING])
        for number in range(mutations):
            kind = rng.choice(sorted(MUTATIONS))
            outcome, finding, what = _one(kind, rng)
            tally = report.kinds[kind]
            tally.mutations += 1
            if outcome == "detected":
                tally.detected += 1
                tally.named_by[finding.split(":", 1)[0]] += 1
            elif outcome == "refused":
                tally.refused += 1
                name = re.sub(r"\d+", "N", finding.removeprefix("refused by the database: "))
                tally.named_by[f"refused: {name}"] += 1
            elif outcome == UNCHANGED:
                tally.unchanged += 1
            elif outcome == OUTSIDE:
                tally.outside += 1
                tally.outside_examples.append(what)
            else:
                tally.missed += 1
                tally.missed_examples.append(what)
            if finding and not tally.example:
                tally.example = finding
            if on_each:
                on_each(number, kind, outcome, what, finding)
        transaction.set_rollback(True)
    report.seconds = time.perf_counter() - started
    return report


def _one(kind: str, rng: random.Random) -> tuple[str, str, str]:
    """(outcome, what the verifier or the database named, what was done)."""
    result: tuple[str, str, str] = ("missed", "", kind)
    phase = "mutating"
    try:
        with transaction.atomic():
            what = MUTATIONS[kind](rng)
            outside = isinstance(what, tuple) and what[0] is OUTSIDE
            if outside:
                what = what[1]
            if what is UNCHANGED or (isinstance(what, tuple) and what[0] is UNCHANGED):
                done = what[1] if isinstance(what, tuple) else f"{kind}: nothing to mutate"
                phase = "verifying"
                report = audit_verify()
                result = (UNCHANGED, "" if report.ok else str(report.mismatch), done)
                raise _Undo
            _sql("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred balance trigger fires now
            phase = "verifying"
            report = audit_verify()
            if report.ok:
                result = (OUTSIDE if outside else "missed", "", what)
            else:
                result = ("detected", str(report.mismatch), what)
            raise _Undo
    except _Undo:
        pass
    except DatabaseError as error:
        if phase == "verifying":  # the verifier broke instead of naming what it found
            result = ("missed", "", f"{kind}: audit verify raised {error}")
        else:
            diag = getattr(getattr(error, "__cause__", None), "diag", None)
            name = getattr(diag, "constraint_name", None) or str(error).splitlines()[0]
            result = ("refused", f"refused by the database: {name}", kind)
            if "append-only" in name:  # the campaign's own rewrite setting was lost
                result = ("missed", "", f"{kind}: {name}")
    _sql("SET CONSTRAINTS ALL DEFERRED")
    return result


# --- the mutations: each changes one row or two and says what it did -------------------

TRANSFERS = Transfer._meta.db_table
LEGS = TransferLeg._meta.db_table
POSTINGS = Posting._meta.db_table
ACCOUNTS = Account._meta.db_table
LEAVES = AuditLeaf._meta.db_table
EVENTS = AuditEvent._meta.db_table
HEAD = AuditHead._meta.db_table
NODES = MerkleNode._meta.db_table
CHECKPOINTS = Checkpoint._meta.db_table
KEYS = SigningKey._meta.db_table


def _sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _pick(rng: random.Random, table: str, columns: str, where: str = "TRUE", order="1"):
    """A random row of `table` (None if there is none), as a tuple of `columns`."""
    count = fetch(f"SELECT count(*) FROM {table} WHERE {where}", [])[0][0]
    if not count:
        return None
    offset = rng.randrange(count)
    return fetch(
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} OFFSET %s LIMIT 1",
        [offset],
    )[0]


def _flip(value: bytes, rng: random.Random) -> tuple[bytes, int]:
    data = bytearray(value)
    position = rng.randrange(len(data))
    data[position] ^= 1 << rng.randrange(8)
    return bytes(data), position


def _delta(rng: random.Random) -> int:
    return rng.choice([-1, 1]) * rng.choice([1, 2, 10, 99, 100, 12_345])


def _shift(rng: random.Random) -> timedelta:
    return timedelta(milliseconds=rng.choice([-1, 1]) * rng.choice([1, 999, 60_000, 86_400_000]))


def transfer_state(rng):
    row = _pick(rng, TRANSFERS, "id, state")
    if row is None:
        return UNCHANGED
    new = rng.choice([s for s in ("SETTLED", "REJECTED", "RECEIVED", "PENDING") if s != row[1]])
    _sql(f"UPDATE {TRANSFERS} SET state = %s WHERE id = %s", [new, row[0]])
    return f"transfer {row[0]} state {row[1]} -> {new}"


def transfer_time(rng):
    row = _pick(rng, TRANSFERS, "id", "state IN ('SETTLED', 'PENDING', 'POSTED', 'VOIDED')")
    if row is None:
        return UNCHANGED
    column = rng.choice(["created_at", "decided_at"])
    _sql(f"UPDATE {TRANSFERS} SET {column} = {column} + %s WHERE id = %s", [_shift(rng), row[0]])
    return f"transfer {row[0]} {column} shifted"


def transfer_kind(rng):
    row = _pick(rng, TRANSFERS, "id, kind", "state = 'SETTLED'")
    if row is None:
        return UNCHANGED
    kinds = [k for (k,) in fetch(f"SELECT DISTINCT kind FROM {TRANSFERS}", []) if k != row[1]]
    new = rng.choice(kinds or ["P2P" if row[1] != "P2P" else "MERCHANT"])
    _sql(f"UPDATE {TRANSFERS} SET kind = %s WHERE id = %s", [new, row[0]])
    return f"transfer {row[0]} kind {row[1]} -> {new}"


def transfer_delete(rng):
    row = _pick(rng, TRANSFERS, "id", "state <> 'RECEIVED'")
    if row is None:
        return UNCHANGED
    _sql(f"UPDATE {TRANSFERS} SET pending_id = NULL WHERE pending_id = %s", [row[0]])
    _sql(f"DELETE FROM {TRANSFERS} WHERE id = %s", [row[0]])
    return f"transfer {row[0]} deleted"


def transfer_insert(rng):
    row = _pick(rng, TRANSFERS, "id", "state = 'SETTLED'")
    if row is None:
        return UNCHANGED
    _sql(
        f"INSERT INTO {TRANSFERS} (kind, state, reject_code, idempotency_key, memo, created_at, "
        f"decided_at, timeout_at, pending_id, link) SELECT kind, state, reject_code, "
        f"idempotency_key || '-forged', memo, created_at, decided_at, timeout_at, pending_id, "
        f"link FROM {TRANSFERS} WHERE id = %s",
        [row[0]],
    )
    return f"a SETTLED transfer inserted (copy of {row[0]})"


def _outside_unless_logged(what, leg_id: int):
    """Tag a change to a leg of a transfer that has no leaf (REJECTED, or RECEIVED and not
    yet decided): the log records no rejection, so nothing binds those legs."""
    if isinstance(what, tuple):
        return what
    logged = fetch(
        f"SELECT EXISTS (SELECT 1 FROM {LEGS} g JOIN {LEAVES} l ON l.transfer_id = "
        "g.transfer_id WHERE g.id = %s)",
        [leg_id],
    )[0][0]
    return what if logged else (OUTSIDE, f"{what} (its transfer has no leaf)")


def leg_amount(rng):
    row = _pick(rng, LEGS, "id, amount")
    if row is None:
        return UNCHANGED
    new = max(1, row[1] + _delta(rng))
    if new == row[1]:
        new += 1
    _sql(f"UPDATE {LEGS} SET amount = %s WHERE id = %s", [new, row[0]])
    return _outside_unless_logged(f"leg {row[0]} amount {row[1]} -> {new}", row[0])


def leg_account(rng):
    row = _pick(rng, LEGS, "id, debit_id, credit_id")
    if row is None:
        return UNCHANGED
    side = rng.choice(["debit_id", "credit_id"])
    others = [
        a for (a,) in fetch(f"SELECT id FROM {ACCOUNTS} WHERE id <> ALL(%s)", [list(row[1:])])
    ]
    if not others:
        return UNCHANGED
    new = rng.choice(others)
    _sql(f"UPDATE {LEGS} SET {side} = %s WHERE id = %s", [new, row[0]])
    return _outside_unless_logged(f"leg {row[0]} {side} -> account {new}", row[0])


def leg_delete(rng):
    row = _pick(rng, LEGS, "id")
    if row is None:
        return UNCHANGED
    outcome = _outside_unless_logged(f"leg {row[0]} deleted", row[0])
    _sql(f"DELETE FROM {LEGS} WHERE id = %s", [row[0]])
    return outcome


def leg_insert(rng):
    row = _pick(rng, LEGS, "id, transfer_id")
    if row is None:
        return UNCHANGED
    _sql(
        f"INSERT INTO {LEGS} (transfer_id, seq, asset, debit_id, credit_id, amount) "
        f"SELECT transfer_id, (SELECT max(seq) + 1 FROM {LEGS} WHERE transfer_id = %s), asset, "
        f"debit_id, credit_id, amount FROM {LEGS} WHERE id = %s",
        [row[1], row[0]],
    )
    return _outside_unless_logged(f"a leg inserted into transfer {row[1]}", row[0])


def leg_swap(rng):
    first = _pick(rng, LEGS, "id, amount")
    second = first and _pick(rng, LEGS, "id, amount", f"amount <> {int(first[1])}")
    if second is None:
        return UNCHANGED, "every leg has the same amount: a swap changes nothing"
    _sql(f"UPDATE {LEGS} SET amount = %s WHERE id = %s", [second[1], first[0]])
    _sql(f"UPDATE {LEGS} SET amount = %s WHERE id = %s", [first[1], second[0]])
    what = f"amounts of legs {first[0]} and {second[0]} swapped"
    return _outside_unless_logged(_outside_unless_logged(what, first[0]), second[0])


def posting_amount(rng):
    row = _pick(rng, POSTINGS, "id, amount")
    if row is None:
        return UNCHANGED
    new = row[1] + _delta(rng)
    new = new if new else new + 1
    _sql(f"UPDATE {POSTINGS} SET amount = %s WHERE id = %s", [new, row[0]])
    return f"posting {row[0]} amount {row[1]} -> {new}"


def posting_account(rng):
    row = _pick(rng, POSTINGS, "id, account_id")
    if row is None:
        return UNCHANGED
    new = _pick(rng, ACCOUNTS, "id", f"id <> {int(row[1])}")
    if new is None:
        return UNCHANGED
    _sql(f"UPDATE {POSTINGS} SET account_id = %s WHERE id = %s", [new[0], row[0]])
    return f"posting {row[0]} account {row[1]} -> {new[0]}"


def _delete(rng, table: str, column: str, what: str):
    """One row, picked by its key `column`, deleted."""
    row = _pick(rng, table, column)
    if row is None:
        return UNCHANGED
    _sql(f"DELETE FROM {table} WHERE {column} = %s", [row[0]])
    return f"{what} {row[0]} deleted"


def posting_delete(rng):
    return _delete(rng, POSTINGS, "id", "posting")


def posting_insert(rng):
    row = _pick(rng, POSTINGS, "id")
    if row is None:
        return UNCHANGED
    _sql(
        f"INSERT INTO {POSTINGS} (transfer_id, account_id, asset, amount) "
        f"SELECT transfer_id, account_id, asset, amount FROM {POSTINGS} WHERE id = %s",
        [row[0]],
    )
    return f"a posting inserted (copy of {row[0]})"


def _trade(rng, table: str, column: str, alike: str):
    """Two rows (by id) trade their values of `column`; `alike` says why none differ."""
    first = _pick(rng, table, f"id, {column}")
    second = first and _pick(rng, table, f"id, {column}", f"{column} <> {int(first[1])}")
    if second is None:
        return None, (UNCHANGED, alike)
    _sql(f"UPDATE {table} SET {column} = %s WHERE id = %s", [second[1], first[0]])
    _sql(f"UPDATE {table} SET {column} = %s WHERE id = %s", [first[1], second[0]])
    return (first[0], second[0]), None


def posting_swap(rng):
    ids, unchanged = _trade(
        rng, POSTINGS, "transfer_id", "all postings are of one transfer: a swap changes nothing"
    )
    return unchanged or f"transfers of postings {ids[0]} and {ids[1]} swapped"


def balance_change(rng):
    row = _pick(rng, ACCOUNTS, "id, balance")
    if row is None:
        return UNCHANGED
    new = row[1] + _delta(rng)
    _sql(f"UPDATE {ACCOUNTS} SET balance = %s WHERE id = %s", [new, row[0]])
    return f"account {row[0]} balance {row[1]} -> {new}"


def reserved_change(rng):
    row = _pick(rng, ACCOUNTS, "id, reserved")
    if row is None:
        return UNCHANGED
    new = max(0, row[1] + _delta(rng))
    new = new if new != row[1] else new + 1
    _sql(f"UPDATE {ACCOUNTS} SET reserved = %s WHERE id = %s", [new, row[0]])
    return f"account {row[0]} reserved {row[1]} -> {new}"


def balance_swap(rng):
    ids, unchanged = _trade(
        rng, ACCOUNTS, "balance", "every account has the same balance: a swap changes nothing"
    )
    return unchanged or f"balances of accounts {ids[0]} and {ids[1]} swapped"


def leaf_byte(rng):
    column = rng.choice(["leaf_bytes", "leaf_hash", "chain_hash"])
    row = _pick(rng, LEAVES, f'"index", {column}')
    if row is None:
        return UNCHANGED
    flipped, position = _flip(bytes(row[1]), rng)
    _sql(f'UPDATE {LEAVES} SET {column} = %s WHERE "index" = %s', [flipped, row[0]])
    return f"leaf {row[0]} {column} byte {position} flipped"


def leaf_rehashed(rng):
    """A leaf's bytes changed with its hash, its chain and the head rebuilt to match, as
    someone who knows the format would: only the signed checkpoints can tell."""
    row = _pick(rng, LEAVES, '"index", leaf_bytes')
    if row is None:
        return UNCHANGED
    index, data = row[0], bytes(row[1])
    forged = data.replace(b'"amount":', b'"amount":1', 1)
    if forged == data:
        forged = _flip(data, rng)[0]
    chain = bytes(
        fetch(f'SELECT chain_hash FROM {LEAVES} WHERE "index" = %s', [index - 1])[0][0]
        if index
        else bytes(32)
    )
    rows = fetch(f'SELECT "index", leaf_hash FROM {LEAVES} WHERE "index" >= %s ORDER BY 1', [index])
    for at, stored in rows:
        this = leaf_hash(forged) if at == index else bytes(stored)
        chain = chain_next(chain, this)
        if at == index:
            _sql(
                f"UPDATE {LEAVES} SET leaf_bytes = %s, leaf_hash = %s, chain_hash = %s "
                f'WHERE "index" = %s',
                [forged, this, chain, at],
            )
        else:
            _sql(f'UPDATE {LEAVES} SET chain_hash = %s WHERE "index" = %s', [chain, at])
    _sql(f"UPDATE {HEAD} SET chain_hash = %s", [chain])
    return f"leaf {index} rewritten with its hash, chain and head rebuilt"


def leaf_delete(rng):
    return _delete(rng, LEAVES, '"index"', "leaf")


def leaf_insert(rng):
    """A leaf appended after the last one, hash and chain and head all made to match."""
    head = fetch(f"SELECT size, chain_hash FROM {HEAD}", [])
    row = _pick(rng, LEAVES, "leaf_bytes")
    if not head or row is None:
        return UNCHANGED
    size, chain = head[0][0], bytes(head[0][1])
    data = bytes(row[0])
    this = leaf_hash(data)
    chain = chain_next(chain, this)
    unlogged = fetch(
        f"SELECT id FROM {TRANSFERS} t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {LEAVES} l WHERE l.transfer_id = t.id) ORDER BY id LIMIT 1",
        [],
    )
    if not unlogged:
        return UNCHANGED, "every transfer has a leaf: none to forge one for"
    nowhere = unlogged[0][0]
    _sql(
        f'INSERT INTO {LEAVES} ("index", transfer_id, leaf_bytes, leaf_hash, chain_hash) '
        "VALUES (%s, %s, %s, %s, %s)",
        [size, nowhere, data, this, chain],
    )
    _sql(f"UPDATE {HEAD} SET size = %s, chain_hash = %s", [size + 1, chain])
    return f"leaf {size} appended (a copy), chain and head made to match"


def _swap(rng, table: str, column: str, what: str, whats: str):
    """Two rows trade their positions (`column`, unique), through a parking value."""
    first = _pick(rng, table, column)
    second = first and _pick(rng, table, column, f"{column} <> {int(first[0])}")
    if second is None:
        return UNCHANGED, f"a log of one {what}: nothing to swap it with"
    parking = 10**15
    for to, where in ((parking, first[0]), (first[0], second[0]), (second[0], parking)):
        _sql(f"UPDATE {table} SET {column} = %s WHERE {column} = %s", [to, where])
    return f"{whats} {first[0]} and {second[0]} swapped"


def leaf_swap(rng):
    return _swap(rng, LEAVES, '"index"', "leaf", "leaves")


def event_change(rng):
    row = _pick(rng, EVENTS, "id")
    if row is None:
        return UNCHANGED, "a log with no events: no event to change"
    if rng.random() < 0.5:
        _sql(f"UPDATE {EVENTS} SET at = at + %s WHERE id = %s", [_shift(rng), row[0]])
        return f"event {row[0]} time shifted"
    _sql(
        f"UPDATE {EVENTS} SET data = data || '{{\"tampered\": true}}'::jsonb WHERE id = %s",
        [row[0]],
    )
    return f"event {row[0]} data changed"


def head_change(rng):
    head = fetch(f"SELECT size, chain_hash FROM {HEAD}", [])
    if not head:
        return UNCHANGED
    if rng.random() < 0.5:
        new = max(0, head[0][0] + _delta(rng))
        new = new if new != head[0][0] else new + 1
        _sql(f"UPDATE {HEAD} SET size = %s", [new])
        return f"head size {head[0][0]} -> {new}"
    flipped, position = _flip(bytes(head[0][1]), rng)
    _sql(f"UPDATE {HEAD} SET chain_hash = %s", [flipped])
    return f"head chain hash byte {position} flipped"


def node_byte(rng):
    row = _pick(rng, NODES, 'level, "index", hash', order='level, "index"')
    if row is None:
        return UNCHANGED
    flipped, position = _flip(bytes(row[2]), rng)
    _sql(f'UPDATE {NODES} SET hash = %s WHERE level = %s AND "index" = %s', [flipped, *row[:2]])
    return f"Merkle node {row[0]}/{row[1]} byte {position} flipped"


def node_delete(rng):
    row = _pick(rng, NODES, 'level, "index"', order='level, "index"')
    if row is None:
        return UNCHANGED
    _sql(f'DELETE FROM {NODES} WHERE level = %s AND "index" = %s', list(row))
    return f"Merkle node {row[0]}/{row[1]} deleted"


def node_insert(rng):
    level = rng.randrange(0, 4)
    top = fetch(f'SELECT coalesce(max("index"), -1) FROM {NODES} WHERE level = %s', [level])
    index = top[0][0] + 1 + rng.randrange(3)
    _sql(
        f'INSERT INTO {NODES} (level, "index", hash) VALUES (%s, %s, %s)',
        [level, index, rng.randbytes(32)],
    )
    return f"Merkle node {level}/{index} inserted"


def node_swap(rng):
    order = 'level, "index"'
    first = _pick(rng, NODES, 'level, "index", hash', order=order)
    other = first and f"hash <> '\\x{bytes(first[2]).hex()}'::bytea"
    second = first and _pick(rng, NODES, 'level, "index", hash', other, order=order)
    if second is None:
        return UNCHANGED, "no two Merkle nodes differ: a swap changes nothing"
    update = f'UPDATE {NODES} SET hash = %s WHERE level = %s AND "index" = %s'
    _sql(update, [second[2], *first[:2]])
    _sql(update, [first[2], *second[:2]])
    return f"Merkle nodes {first[0]}/{first[1]} and {second[0]}/{second[1]} swapped"


def checkpoint_field(rng):
    row = _pick(rng, CHECKPOINTS, "height")
    if row is None:
        return UNCHANGED
    column = rng.choice(["root_hash", "previous_hash", "note", "created_at", "size", "key_hash"])
    if column in ("root_hash", "previous_hash"):
        value = bytes(fetch(f"SELECT {column} FROM {CHECKPOINTS} WHERE height = %s", row)[0][0])
        _sql(
            f"UPDATE {CHECKPOINTS} SET {column} = %s WHERE height = %s",
            [_flip(value, rng)[0], row[0]],
        )
    elif column == "note":
        note = fetch(f"SELECT note FROM {CHECKPOINTS} WHERE height = %s", row)[0][0]
        position = rng.randrange(len(note) - 1)
        changed = note[:position] + ("x" if note[position] != "x" else "y") + note[position + 1 :]
        _sql(f"UPDATE {CHECKPOINTS} SET note = %s WHERE height = %s", [changed, row[0]])
        column = f"note character {position}"
    elif column == "created_at":
        _sql(
            f"UPDATE {CHECKPOINTS} SET created_at = created_at + %s WHERE height = %s",
            [_shift(rng), row[0]],
        )
    elif column == "size":
        _sql(f"UPDATE {CHECKPOINTS} SET size = size + %s WHERE height = %s", [_delta(rng), row[0]])
    else:
        other = rng.randbytes(4).hex()
        _sql(f"UPDATE {CHECKPOINTS} SET key_hash = %s WHERE height = %s", [other, row[0]])
    return f"checkpoint {row[0]} {column} changed"


def checkpoint_delete(rng):
    return _delete(rng, CHECKPOINTS, "height", "checkpoint")


def checkpoint_insert(rng):
    """A next checkpoint over the true head, signed by a key of the forger's own."""
    last = fetch(f"SELECT height, size, note FROM {CHECKPOINTS} ORDER BY height DESC LIMIT 1", [])
    leaves = fetch(f"SELECT count(*) FROM {LEAVES}", [])[0][0]
    height, size = (last[0][0] + 1, last[0][1]) if last else (0, 0)
    size = max(size + 1, leaves)
    forger = Ed25519PrivateKey.generate()
    name = keys.key_name()
    text = CheckpointText(name, size, rng.randbytes(32), ("prev " + "A" * 43 + "=",)).text()
    verifier = Verifier.from_public(name, forger.public_key())
    _sql(
        f"INSERT INTO {CHECKPOINTS} (height, size, root_hash, previous_hash, created_at, "
        "key_hash, note) VALUES (%s, %s, %s, %s, now(), %s, %s)",
        [
            height,
            size,
            rng.randbytes(32),
            bytes(32),
            verifier.hash.hex(),
            sign_note(text, name, forger),
        ],
    )
    return f"checkpoint {height} (size {size}) inserted, signed by an unknown key"


def checkpoint_swap(rng):
    return _swap(rng, CHECKPOINTS, "height", "checkpoint", "checkpoints")


def key_field(rng):
    row = _pick(rng, KEYS, "key_hash")
    if row is None:
        return UNCHANGED
    column = rng.choice(["key_hash", "public_key", "name", "retired_at", "created_at"])
    if column == "key_hash":
        _sql(
            f"UPDATE {KEYS} SET key_hash = %s WHERE key_hash = %s", [rng.randbytes(4).hex(), row[0]]
        )
    elif column == "public_key":
        value = bytes(fetch(f"SELECT public_key FROM {KEYS} WHERE key_hash = %s", row)[0][0])
        _sql(
            f"UPDATE {KEYS} SET public_key = %s WHERE key_hash = %s", [_flip(value, rng)[0], row[0]]
        )
    elif column == "name":
        _sql(f"UPDATE {KEYS} SET name = name || '.forged' WHERE key_hash = %s", row)
    elif column == "retired_at":
        # Retired before the checkpoints it signed (or, if retired, made current again).
        _sql(
            f"UPDATE {KEYS} SET retired_at = CASE WHEN retired_at IS NULL THEN created_at "
            "ELSE NULL END WHERE key_hash = %s",
            row,
        )
    else:
        # Made after the checkpoints it signed.
        _sql(
            f"UPDATE {KEYS} SET created_at = created_at + interval '1 day' WHERE key_hash = %s", row
        )
    return f"signing key {row[0]} {column} changed"


def key_delete(rng):
    return _delete(rng, KEYS, "key_hash", "signing key")


def key_insert(rng):
    forger = Verifier.from_public(keys.key_name(), Ed25519PrivateKey.generate().public_key())
    _sql(
        f"INSERT INTO {KEYS} (key_hash, name, public_key, created_at, retired_at) "
        "VALUES (%s, %s, %s, now() - interval '10 years', now() - interval '9 years')",
        [forger.hash.hex(), forger.name, public_bytes(forger.key)],
    )
    return f"signing key {forger.hash.hex()} (a retired one of the forger's) inserted"


def key_substituted(rng):
    """Every checkpoint re-signed by the forger's key, which replaces the stored key: only a
    key pinned outside the database tells them apart."""
    rows = fetch(f"SELECT height, note FROM {CHECKPOINTS} ORDER BY height", [])
    if not rows:
        return UNCHANGED
    forger = Ed25519PrivateKey.generate()
    name = keys.key_name()
    verifier = Verifier.from_public(name, forger.public_key())
    _sql(
        f"UPDATE {KEYS} SET key_hash = %s, public_key = %s WHERE key_hash = "
        f"(SELECT key_hash FROM {CHECKPOINTS} ORDER BY height LIMIT 1)",
        [verifier.hash.hex(), public_bytes(verifier.key)],
    )
    _sql(f"UPDATE {KEYS} SET retired_at = NULL WHERE key_hash = %s", [verifier.hash.hex()])
    _sql(f"DELETE FROM {KEYS} WHERE key_hash <> %s", [verifier.hash.hex()])
    _sql(f"UPDATE {KEYS} SET created_at = now() - interval '100 years'")
    previous = bytes(32)
    for height, note in rows:
        text = note.split("\n\n", 1)[0] + "\n"
        lines = text.splitlines()
        lines = [
            f"prev {base64.b64encode(previous).decode()}" if line.startswith("prev ") else line
            for line in lines
        ]
        signed = sign_note("\n".join(lines) + "\n", name, forger)
        _sql(
            f"UPDATE {CHECKPOINTS} SET note = %s, key_hash = %s, previous_hash = %s "
            "WHERE height = %s",
            [signed, verifier.hash.hex(), previous, height],
        )
        previous = hashlib.sha256(signed.encode()).digest()
    return f"every checkpoint re-signed by a substituted key {verifier.hash.hex()}"


MUTATIONS: dict[str, Callable] = {
    function.__name__: function
    for function in (
        transfer_state,
        transfer_time,
        transfer_kind,
        transfer_delete,
        transfer_insert,
        leg_amount,
        leg_account,
        leg_delete,
        leg_insert,
        leg_swap,
        posting_amount,
        posting_account,
        posting_delete,
        posting_insert,
        posting_swap,
        balance_change,
        reserved_change,
        balance_swap,
        leaf_byte,
        leaf_rehashed,
        leaf_delete,
        leaf_insert,
        leaf_swap,
        event_change,
        head_change,
        node_byte,
        node_delete,
        node_insert,
        node_swap,
        checkpoint_field,
        checkpoint_delete,
        checkpoint_insert,
        checkpoint_swap,
        key_field,
        key_delete,
        key_insert,
        key_substituted,
    )
}
