"""`audit verify`: recompute the audit log from the ledger tables and check the money.

Checks, in order, stopping at the first mismatch (which it names):
1. leaves are numbered 0..n-1; each leaf's bytes equal the entry rebuilt from its transfer
   and legs (or from its event's row), its hash is SHA-256(0x00 || bytes), and the chain
   links to the previous leaf; every stored Merkle node under the last checkpoint equals
   the node recomputed from the leaves (receipts are built from them), and none lies
   beyond it;
2. the head row holds n and the last chain hash; every SETTLED transfer, and every
   two-phase transfer that reserved funds (its leaf records the reservation), and every
   event has a leaf, and no other transfer has postings; every settled transfer's
   postings are exactly its legs (compared in the database in one pass, naming the leaf);
   every linked chain was decided whole (its members all SETTLED, all REJECTED or all
   still RECEIVED);
3. every transfer's postings sum to zero per asset; every balance is the sum of its
   account's postings; no holder account is negative; every account's reserved funds are
   the sum of its pending transfers' legs, never more than its balance;
4. circulation == -issuance == reserve backing;
5. keys: each stored key's id is derived from its name and public key, and, when verifier
   keys are pinned outside the database (keys.pinned_verifiers), each stored key is one of
   them: signatures are then checked with the pinned key, never the row;
6. checkpoints: heights count up and sizes grow, each names the previous note's hash,
   each note's signature verifies with the key that was current at its time, its row's
   time is its signed time, its head equals the Merkle head recomputed from the leaves,
   the stored nodes give the same head, and consecutive checkpoints are consistent
   (RFC 9162 consistency proof).
"""

import base64
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from settlement.audit import keys, leaf, merkle
from settlement.audit.note import Verifier, key_hash
from settlement.models import (
    NEGATIVE_ALLOWED,
    RESERVED_STATES,
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
    TransferState,
)
from settlement.selectors import MoneyTotals, money_totals
from settlement.sql import fetch, in_ids

CHUNK = 5000


@dataclass(frozen=True)
class Mismatch:
    check: str
    detail: str
    index: int | None = None  # the leaf's sequence number, when a leaf is at fault

    def __str__(self) -> str:
        where = f"leaf {self.index}: " if self.index is not None else ""
        return f"{self.check}: {where}{self.detail}"


@dataclass
class VerifyReport:
    leaves: int = 0
    transfers: int = 0
    events: int = 0
    postings: int = 0
    accounts: int = 0
    chain_head: bytes = leaf.ZERO_HASH
    totals: MoneyTotals | None = None
    seconds: float = 0.0
    mismatch: Mismatch | None = None
    counts_by_state: dict[str, int] = field(default_factory=dict)
    checkpoints: int = 0
    leaves_checked: int = 0  # all of them, or those after the `since` checkpoint
    heads: dict[int, bytes] = field(default_factory=dict)  # size -> recomputed Merkle head
    merkle_nodes: int = 0  # stored nodes recomputed from the leaves and found equal
    # What passed but is trusted rather than proven (e.g. keys not pinned outside the DB).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.mismatch is None


class _Failed(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch


def audit_verify(*, since: int | None = None) -> VerifyReport:
    """Check everything, or with `since` (a checkpoint height) only the leaves and
    checkpoints from that checkpoint on, trusting the log up to it once its signature and
    its head recomputed from the stored nodes hold. The money checks always run whole."""
    report = VerifyReport()
    started = time.perf_counter()
    try:
        with _one_snapshot():
            start = _resume_from(report, since) if since is not None else _Start()
            _check_leaves(report, start)
            _check_head_and_coverage(report)
            _check_postings_are_legs()
            _check_linked()
            _check_postings_and_balances(report)
            _check_money(report)
            trusted = _check_keys(report)
            _check_checkpoints(report, start, trusted)
    except _Failed as failed:
        report.mismatch = failed.mismatch
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def _one_snapshot():
    """On PostgreSQL, every read of a verify from one snapshot, so settlement and sealing
    can go on meanwhile: statement by statement, a checkpoint sealed between two reads
    looked like one whose head matched no leaves. (SQLite's writers wait for no reader, and
    an IMMEDIATE transaction would hold them all off, so there it reads as it goes.)"""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _fail(check: str, detail: str, index: int | None = None) -> None:
    raise _Failed(Mismatch(check, detail, index))


@dataclass
class _Start:
    """Where checking begins: the whole log, or a trusted checkpoint."""

    index: int = 0
    chain: bytes = leaf.ZERO_HASH
    frontier: merkle.Frontier = field(default_factory=merkle.Frontier)
    previous: Checkpoint | None = None  # the checkpoint before the first one checked
    height: int = 0


def _resume_from(report: VerifyReport, height: int) -> _Start:
    from settlement.audit.proofs import with_stored_nodes

    checkpoint = Checkpoint.objects.filter(height=height).first()
    if checkpoint is None:
        _fail("checkpoints", f"there is no checkpoint {height} to verify from")
    size = checkpoint.size
    # The perfect subtrees covering [0, size), left to right, as a streaming frontier.
    frontier = merkle.Frontier()
    frontier.size = size
    pieces = merkle.perfect_subtrees(0, size)
    try:
        frontier.roots = with_stored_nodes(lambda get: [get(level, i) for level, i in pieces])
    except KeyError:
        _fail("checkpoints", f"stored Merkle nodes for checkpoint {height} are missing")
    if frontier.root() != bytes(checkpoint.root_hash):
        _fail("checkpoints", f"stored Merkle nodes do not give checkpoint {height}'s head")
    report.heads[size] = frontier.root()
    chain = AuditLeaf.objects.filter(index=size - 1).values_list("chain_hash", flat=True).first()
    if chain is None:
        _fail("checkpoints", f"checkpoint {height} covers {size} leaves; the log is shorter")
    previous = Checkpoint.objects.filter(height=height - 1).first()
    return _Start(size, bytes(chain), frontier, previous, height)


def _check_leaves(report: VerifyReport, start: _Start) -> None:
    chain = start.chain
    expected_index = start.index
    # Merkle heads are recomputed on the way at every checkpointed size.
    wanted_heads = set(Checkpoint.objects.values_list("size", flat=True))
    sealed = max(wanted_heads, default=0)  # stored nodes cover the leaves below this
    frontier = start.frontier
    legs_table = TransferLeg._meta.db_table
    while True:
        # One joined query per chunk (no long IN lists: binding them cost more than reading).
        rows = list(
            AuditLeaf.objects.filter(index__gte=expected_index)
            .order_by("index")
            .values_list(
                "index",
                "transfer_id",
                "leaf_bytes",
                "leaf_hash",
                "chain_hash",
                "transfer__kind",
                "transfer__state",
                "transfer__created_at",
                "transfer__decided_at",
                "transfer__timeout_at",
                "transfer__pending_id",
                "transfer__link",
                "event_id",
                "event__kind",
                "event__at",
                "event__data",
            )[:CHUNK]
        )
        if not rows:
            break
        recomputed: list[merkle.Node] = []
        transfer_ids = [row[1] for row in rows if row[1] is not None]
        legs = defaultdict(list)
        if transfer_ids:
            condition, params = in_ids("transfer_id", transfer_ids)
            for transfer_id, *rest in fetch(
                f"SELECT transfer_id, asset, debit_id, credit_id, amount FROM {legs_table} "
                f"WHERE {condition} ORDER BY transfer_id, seq",
                params,
            ):
                legs[transfer_id].append(tuple(rest))

        for index, transfer_id, data, stored_hash, stored_chain, *transfer in rows:
            data, stored_hash, stored_chain = bytes(data), bytes(stored_hash), bytes(stored_chain)
            if index != expected_index:
                _fail("leaves", f"expected leaf {expected_index} next, found {index}", index)
            kind, state, created_at, decided_at, timeout_at, pending, link = transfer[:7]
            if transfer_id is None:
                rebuilt = _event_leaf_bytes(*transfer[7:], index)
                if rebuilt != data:
                    _fail(
                        "leaves",
                        f"bytes differ from the ledger for event {transfer[7]}: "
                        f"stored {data[:200]!r}, ledger {rebuilt[:200]!r}",
                        index,
                    )
            else:
                # A two-phase transfer's leaf is its reservation, whatever became of it since.
                leaf_state = TransferState.PENDING if state in RESERVED_STATES else state
                if state != TransferState.SETTLED and state not in RESERVED_STATES:
                    _fail("leaves", f"transfer {transfer_id} is {state}, not SETTLED", index)
                rebuilt = leaf.transfer_leaf_bytes(
                    transfer_id=transfer_id,
                    kind=kind,
                    state=leaf_state,
                    created_at=created_at,
                    decided_at=decided_at,
                    legs=legs[transfer_id],
                    timeout_at=timeout_at,
                    pending=pending,
                    link=link,
                )
                if rebuilt != data:
                    _fail(
                        "leaves",
                        f"bytes differ from the ledger for transfer {transfer_id}: "
                        f"stored {data[:200]!r}, ledger {rebuilt[:200]!r}",
                        index,
                    )
            if leaf.leaf_hash(data) != stored_hash:
                _fail("leaves", "leaf hash is not SHA-256(0x00 || leaf bytes)", index)
            chain = leaf.chain_next(chain, stored_hash)
            made = frontier.append(stored_hash)
            if index < sealed:
                recomputed += made
            if index + 1 in wanted_heads:
                report.heads[index + 1] = frontier.root()
            if chain != stored_chain:
                _fail("chain", "chain hash does not follow from the previous leaf", index)
            expected_index += 1
        _check_stored_nodes(report, recomputed)
    _check_no_stray_nodes(sealed)
    report.leaves = expected_index
    report.leaves_checked = expected_index - start.index
    report.chain_head = chain


def _check_stored_nodes(report: VerifyReport, recomputed: list[merkle.Node]) -> None:
    """The stored nodes of a chunk's leaves, read level by level, equal the recomputed ones."""
    if not recomputed:
        return
    spans: dict[int, list[int]] = {}
    for level, index, _ in recomputed:
        low_high = spans.setdefault(level, [index, index])
        low_high[0], low_high[1] = min(low_high[0], index), max(low_high[1], index)
    condition = Q()
    for level, (low, high) in spans.items():
        condition |= Q(level=level, index__gte=low, index__lte=high)
    stored = {
        (level, index): bytes(value)
        for level, index, value in MerkleNode.objects.filter(condition).values_list(
            "level", "index", "hash"
        )
    }
    for level, index, value in recomputed:
        found = stored.get((level, index))
        leaves = f"leaves [{index << level}, {(index + 1) << level})"
        if found is None:
            _fail("merkle nodes", f"stored node {level}/{index} ({leaves}) is missing")
        if found != value:
            _fail(
                "merkle nodes",
                f"stored node {level}/{index} is not the hash of {leaves}: stored "
                f"{found.hex()[:16]}…, recomputed {value.hex()[:16]}…",
            )
    report.merkle_nodes += len(recomputed)


def _check_no_stray_nodes(sealed: int) -> None:
    """No stored node covers a leaf past the last checkpoint (a seal stores exactly the
    subtrees it completes), so a dropped checkpoint or a planted node shows."""
    stray = fetch(
        f'SELECT level, "index" FROM {MerkleNode._meta.db_table} '
        f'WHERE level > 62 OR "index" < 0 OR (("index" + 1) << level) > %s '
        f'ORDER BY level, "index" LIMIT 1',
        [sealed],
    )
    if stray:
        level, index = stray[0]
        _fail(
            "merkle nodes",
            f"stored node {level}/{index} lies beyond the last checkpoint (size {sealed})",
        )


def _event_leaf_bytes(event_id, kind, at, data, index: int) -> bytes:
    """An event's leaf as its row says it should be (a leaf naming no row fails here)."""
    if event_id is None:
        _fail("leaves", "the leaf names neither a transfer nor an event", index)
    if not leaf.event_data_plain(data):
        _fail("leaves", f"event {event_id} holds data no leaf can: {data!r:.200}", index)
    return leaf.leaf_bytes(leaf.event_entry(event_id=event_id, kind=kind, at=at, data=data))


# The multiset of (transfer, account, asset, amount) that settled legs imply, against the
# postings, compared in the database in one pass; the lowest transfer that differs is named.
POSTINGS_ARE_LEGS = """
SELECT transfer_id FROM (
    SELECT l.transfer_id, l.debit_id AS account_id, l.asset, -l.amount AS amount,
           1 AS wanted, 0 AS found
    FROM {legs} l JOIN {transfers} t ON t.id = l.transfer_id WHERE t.state = 'SETTLED'
    UNION ALL
    SELECT l.transfer_id, l.credit_id, l.asset, l.amount, 1, 0
    FROM {legs} l JOIN {transfers} t ON t.id = l.transfer_id WHERE t.state = 'SETTLED'
    UNION ALL
    SELECT transfer_id, account_id, asset, amount, 0, 1 FROM {postings}
) AS both_sides
GROUP BY transfer_id, account_id, asset, amount
HAVING SUM(wanted) <> SUM(found)
ORDER BY transfer_id
LIMIT 1
"""


def _check_postings_are_legs() -> None:
    differing = fetch(
        POSTINGS_ARE_LEGS.format(
            legs=TransferLeg._meta.db_table,
            transfers=Transfer._meta.db_table,
            postings=Posting._meta.db_table,
        ),
        [],
    )
    if differing:
        transfer_id = differing[0][0]
        wanted = sorted(
            (account, asset, sign * amount)
            for asset, debit, credit, amount in TransferLeg.objects.filter(
                transfer_id=transfer_id
            ).values_list("asset", "debit_id", "credit_id", "amount")
            for account, sign in ((debit, -1), (credit, 1))
        )
        found = sorted(
            Posting.objects.filter(transfer_id=transfer_id).values_list(
                "account_id", "asset", "amount"
            )
        )
        index = (
            AuditLeaf.objects.filter(transfer_id=transfer_id)
            .values_list("index", flat=True)
            .first()
        )
        _fail(
            "postings",
            f"postings of transfer {transfer_id} are not its legs: {found} != {wanted}",
            index,
        )


def _check_head_and_coverage(report: VerifyReport) -> None:
    head = AuditHead.objects.filter(pk=1).first()
    size, chain = (head.size, bytes(head.chain_hash)) if head else (0, leaf.ZERO_HASH)
    if size != report.leaves:
        _fail("head", f"head says {size} leaves, the log has {report.leaves}")
    if chain != report.chain_head:
        _fail("head", "head chain hash is not the last leaf's chain hash")
    report.counts_by_state = dict(
        Transfer.objects.values_list("state").annotate(n=Count("id")).order_by()
    )
    report.transfers = sum(report.counts_by_state.values())
    settled = sum(
        report.counts_by_state.get(state, 0) for state in {TransferState.SETTLED, *RESERVED_STATES}
    )
    report.events = AuditEvent.objects.count()
    if settled + report.events != report.leaves:
        unlogged = (
            AuditEvent.objects.filter(audit_leaf__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
        if unlogged is not None:
            _fail(
                "coverage",
                f"{report.events} events but event {unlogged} has no leaf",
            )
        missing = (
            Transfer.objects.filter(
                state__in=[TransferState.SETTLED, *RESERVED_STATES], audit_leaf__isnull=True
            )
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
        _fail(
            "coverage",
            f"{settled} settled transfers and {report.events} events but {report.leaves} "
            f"leaves; first settled transfer without a leaf: {missing}",
        )
    stray = (
        Posting.objects.exclude(transfer__state=TransferState.SETTLED)
        .values_list("transfer_id", flat=True)
        .first()
    )
    if stray is not None:
        _fail("postings", f"transfer {stray} has postings but is not SETTLED")


def _check_postings_and_balances(report: VerifyReport) -> None:
    unbalanced = (
        Posting.objects.values("transfer_id", "asset")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("transfer_id")
        .first()
    )
    if unbalanced:
        _fail(
            "postings",
            f"transfer {unbalanced['transfer_id']} {unbalanced['asset']} postings sum to "
            f"{unbalanced['total']}, not 0",
        )
    report.postings = Posting.objects.count()
    sums = dict(Posting.objects.values_list("account_id").annotate(s=Sum("amount")).order_by())
    for account_id, label, kind, balance in (
        Account.objects.order_by("id")
        .values_list("id", "label", "kind", "balance")
        .iterator(chunk_size=CHUNK)
    ):
        report.accounts += 1
        if balance != sums.get(account_id, 0):
            _fail(
                "balances",
                f"account {account_id} ({label}) balance {balance} != "
                f"sum of postings {sums.get(account_id, 0)}",
            )
        if balance < 0 and kind not in NEGATIVE_ALLOWED:
            _fail("balances", f"account {account_id} ({label}) is negative: {balance}")
    _check_reserved()


def _check_linked() -> None:
    """A linked chain settles whole or not at all: no chain has members in two states."""
    split = list(
        Transfer.objects.filter(link__isnull=False)
        .values("link")
        .annotate(states=Count("state", distinct=True))
        .filter(states__gt=1)
        .values_list("link", flat=True)[:1]
    )
    if split:
        _fail("linked", f"linked chain {split[0]} was decided in part")


def _check_reserved() -> None:
    """Each account's reserved funds are exactly its PENDING transfers' debits, and never
    more than its balance: what it may spend is never negative."""
    held = dict(
        TransferLeg.objects.filter(transfer__state=TransferState.PENDING)
        .values_list("debit_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for account_id, label, kind, balance, reserved in (
        Account.objects.filter(Q(reserved__gt=0) | Q(pk__in=list(held)))
        .order_by("id")
        .values_list("id", "label", "kind", "balance", "reserved")
    ):
        if reserved != held.get(account_id, 0):
            _fail(
                "reserved",
                f"account {account_id} ({label}) reserves {reserved}, its pending transfers "
                f"{held.get(account_id, 0)}",
            )
        if balance - reserved < 0 and kind not in NEGATIVE_ALLOWED:
            _fail("reserved", f"account {account_id} ({label}) reserves more than its balance")


def _check_money(report: VerifyReport) -> None:
    report.totals = totals = money_totals()
    if not totals.balanced:
        _fail(
            "money",
            f"circulation {totals.circulation}, issuance {totals.issuance}, "
            f"backing {totals.backing}: expected circulation == -issuance == backing",
        )


def _check_keys(report: VerifyReport) -> dict[str, tuple[Verifier, SigningKey]]:
    """The stored keys, each checked, with the verifier to trust for each: the pinned one
    when keys are pinned outside the database, else (with a warning) the row's own."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pinned = keys.pinned_verifiers()
    except ValueError as error:
        _fail("keys", str(error))
    trusted = {}
    current = []
    for row in keys.stored_keys():
        where = f"signing key {row.key_hash} ({row.name})"
        public = bytes(row.public_key)
        if len(public) != 32:
            _fail("keys", f"{where}: the public key is {len(public)} bytes, not 32")
        derived = key_hash(row.name, public).hex()
        if derived != row.key_hash:
            _fail("keys", f"{where}: its id is not derived from its name and key ({derived})")
        if row.retired_at is None:
            current.append(row.key_hash)
        elif row.retired_at < row.created_at:
            _fail("keys", f"{where} was retired before it was made")
        if pinned:
            verifier = pinned.get(row.key_hash)
            if verifier is None:
                _fail(
                    "keys",
                    f"{where} is stored but not pinned (not in {keys.trusted_keys_path()} "
                    "nor EWALLET_AUDIT_TRUSTED_KEYS)",
                )
            if (verifier.name, verifier.key.public_bytes_raw()) != (row.name, public):
                _fail("keys", f"{where} differs from the pinned key of that id")
        else:
            try:
                key = Ed25519PublicKey.from_public_bytes(public)
            except ValueError as error:
                _fail("keys", f"{where}: {error}")
            verifier = Verifier(row.name, bytes.fromhex(row.key_hash), key)
        trusted[row.key_hash] = (verifier, row)
    if len(current) > 1:
        _fail("keys", f"{len(current)} keys are current at once: {', '.join(current)}")
    if not pinned and trusted:
        report.warnings.append(
            f"no verifier key is pinned outside the database ({keys.trusted_keys_path()} "
            f"or EWALLET_AUDIT_TRUSTED_KEYS): the {len(trusted)} keys stored in it were trusted"
        )
    return trusted


def _as_signed(moment) -> str:
    """A time as a seal signs it; one with a finer fraction than milliseconds never is."""
    from datetime import UTC

    text = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return text[:-4] + "Z" if text.endswith("000Z") else text


def _signed_time(extensions: tuple[str, ...] | list[str]) -> str | None:
    for line in extensions:
        if line.startswith("time "):
            return line.removeprefix("time ")
    return None


def _check_checkpoints(
    report: VerifyReport, start: _Start, known: dict[str, tuple[Verifier, SigningKey]]
) -> None:
    from datetime import UTC

    from settlement.audit.checkpoint import note_hash
    from settlement.audit.note import NoteError, open_note, parse_checkpoint
    from settlement.audit.proofs import with_stored_nodes

    previous = start.previous
    checkpoints = Checkpoint.objects.filter(height__gte=start.height).order_by("height")
    for checkpoint in checkpoints.iterator():
        where = f"checkpoint {checkpoint.height} (size {checkpoint.size})"
        root = bytes(checkpoint.root_hash)
        expected_height = previous.height + 1 if previous else start.height
        if checkpoint.height != expected_height:
            _fail("checkpoints", f"{where}: expected height {expected_height}")
        if previous and (
            checkpoint.size <= previous.size or checkpoint.created_at < previous.created_at
        ):
            _fail("checkpoints", f"{where} goes backwards from checkpoint {previous.height}")
        if checkpoint.size > report.leaves:
            _fail("checkpoints", f"{where} covers more leaves than the log has ({report.leaves})")
        verifier, key = known.get(checkpoint.key_hash, (None, None))
        if verifier is None:
            _fail("checkpoints", f"{where}: signed by unknown key {checkpoint.key_hash}")
        if checkpoint.created_at < key.created_at or (
            key.retired_at and checkpoint.created_at > key.retired_at
        ):
            _fail("checkpoints", f"{where}: key {checkpoint.key_hash} was not current then")
        try:
            text = open_note(checkpoint.note, [verifier]).text
            signed = parse_checkpoint(text)
        except NoteError as error:
            _fail("checkpoints", f"{where}: {error}")
        previous_hash = note_hash(previous.note) if previous else leaf.ZERO_HASH
        if bytes(checkpoint.previous_hash) != previous_hash or (
            f"prev {base64.b64encode(previous_hash).decode()}" not in signed.extensions
        ):
            _fail("checkpoints", f"{where} does not name the previous checkpoint's hash")
        if (signed.size, signed.root_hash) != (checkpoint.size, root):
            _fail("checkpoints", f"{where}: the signed size or head differs from the row")
        if report.heads.get(checkpoint.size) != root:
            _fail("checkpoints", f"{where}: head is not the Merkle head of the leaves")
        if with_stored_nodes(lambda get, size=checkpoint.size: merkle.root(size, get)) != root:
            _fail("checkpoints", f"{where}: stored Merkle nodes give another head")
        row_time = checkpoint.created_at.astimezone(UTC).isoformat(timespec="microseconds")
        if _signed_time(signed.extensions) != _as_signed(checkpoint.created_at):
            _fail(
                "checkpoints",
                f"{where}: the row's time {row_time} is not its signed time "
                f"{_signed_time(signed.extensions)}",
            )
        if previous and not merkle.verify_consistency(
            previous.size,
            checkpoint.size,
            bytes(previous.root_hash),
            root,
            with_stored_nodes(
                lambda get, old=previous.size, new=checkpoint.size: merkle.consistency_proof(
                    old, new, get
                )
            ),
        ):
            _fail("checkpoints", f"{where} is not consistent with checkpoint {previous.height}")
        report.checkpoints += 1
        previous = checkpoint


__all__ = ["Mismatch", "VerifyReport", "audit_verify"]
