"""Settling one batch of RECEIVED transfers in one transaction.

The database is the queue (DESIGN.md, "Transfers and settlement"):

1. claim the oldest RECEIVED transfers with FOR UPDATE SKIP LOCKED, so concurrent workers
   take disjoint batches;
2. lock every account they touch in id order, so two batches never deadlock;
3. decide each transfer in arrival order in memory (settlement.rules);
4. write postings, balances, limit usage, states and audit leaves with set-based SQL.

A worker killed anywhere in here rolls back and its rows are claimed again; a transfer
that is no longer RECEIVED is never claimed, so running this twice cannot double a payment.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from settlement import rules
from settlement.audit.log import audit_append
from settlement.models import (
    NEGATIVE_ALLOWED,
    PAYMENT_KINDS,
    Account,
    LimitUsage,
    Posting,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.signals import transfers_decided
from settlement.sql import array_literal, fetch, in_ids, insert_rows, update_from_values

# The transaction-local setting that migration 0005's triggers read.
POSTINGS_BALANCE_PER_STATEMENT = "settlement.postings_balance_per_statement"


@dataclass(frozen=True, slots=True)
class Decision:
    transfer_id: int
    kind: str
    state: str
    reject_code: str


@dataclass
class BatchResult:
    claimed: int = 0
    settled: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def add(self, other: "BatchResult") -> None:
        self.claimed += other.claimed
        self.settled += other.settled
        for code, count in other.rejected.items():
            self.rejected[code] = self.rejected.get(code, 0) + count


@transaction.atomic
def settle_batch(limit: int) -> BatchResult:
    claimed = list(
        Transfer.objects.select_for_update(skip_locked=True)
        .filter(state=TransferState.RECEIVED)
        .order_by("id")
        .values_list("id", "kind", "created_at")[:limit]
    )
    if not claimed:
        return BatchResult()

    legs_by_transfer: dict[int, list[tuple[str, int, int, int]]] = defaultdict(list)
    condition, params = in_ids("transfer_id", [t[0] for t in claimed])
    for transfer_id, asset, debit, credit, amount in fetch(
        f"SELECT transfer_id, asset, debit_id, credit_id, amount FROM {TransferLeg._meta.db_table} "
        f"WHERE {condition} ORDER BY transfer_id, seq",
        params,
    ):
        legs_by_transfer[transfer_id].append((asset, debit, credit, amount))

    accounts = _lock_accounts(
        {account for legs in legs_by_transfer.values() for leg in legs for account in leg[1:3]}
    )
    before = {account.id: account.balance for account in accounts.values()}
    usage = _load_usage(
        accounts, [created for _, kind, created in claimed if kind in PAYMENT_KINDS]
    )
    usage_before = dict(usage)

    result = BatchResult(claimed=len(claimed))
    decisions: list[Decision] = []
    settled = []
    for transfer_id, kind, created_at in claimed:
        legs = legs_by_transfer[transfer_id]
        code = rules.apply_transfer(
            accounts,
            usage,
            [rules.Leg(debit, credit, amount) for _, debit, credit, amount in legs],
            is_payment=kind in PAYMENT_KINDS,
            at=created_at,
            debits_suspended=kind == TransferKind.REDEEM,
        )
        if code is None:
            decisions.append(Decision(transfer_id, kind, TransferState.SETTLED, ""))
            settled.append((transfer_id, kind, created_at, legs))
        else:
            decisions.append(Decision(transfer_id, kind, TransferState.REJECTED, code))
            result.rejected[code] = result.rejected.get(code, 0) + 1
    result.settled = len(settled)

    decided_at = timezone.now()
    _check_postings_per_statement()
    insert_rows(
        Posting._meta.db_table,
        ["transfer_id", "account_id", "asset", "amount"],
        [
            (transfer_id, account, asset, sign * amount)
            for transfer_id, _, _, legs in settled
            for asset, debit, credit, amount in legs
            for account, sign in ((debit, -1), (credit, 1))
        ],
    )
    update_from_values(
        Account._meta.db_table,
        "id",
        [("balance", "bigint")],
        [(a.id, a.balance) for a in accounts.values() if a.balance != before[a.id]],
    )
    _save_usage({key: spent for key, spent in usage.items() if usage_before.get(key) != spent})
    decided_at_sql = connection.ops.adapt_datetimefield_value(decided_at)
    update_from_values(
        Transfer._meta.db_table,
        "id",
        [("state", "varchar"), ("reject_code", "varchar"), ("decided_at", "timestamptz")],
        [(d.transfer_id, d.state, d.reject_code, decided_at_sql) for d in decisions],
    )
    audit_append(settled, decided_at=decided_at)
    transfers_decided.send(sender=Transfer, decisions=decisions, decided_at=decided_at)
    return result


def _check_postings_per_statement() -> None:
    """Have PostgreSQL check that the batch's one COPY of postings balances by itself, set
    based, instead of each transfer again at COMMIT (migration 0005): this transaction only."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL {POSTINGS_BALANCE_PER_STATEMENT} = on")


def _lock_accounts(ids: set[int]) -> dict[int, rules.AccountState]:
    """Lock the accounts in id order: every batch takes them in the same order, no deadlock.

    NO KEY UPDATE, not UPDATE: it still excludes other settlers, but not the KEY SHARE
    locks that foreign-key checks take when a payment's legs are inserted. With FOR UPDATE
    a submitter (which checks its legs' accounts in constraint order, not id order) and a
    settler could each wait for the other.
    """
    condition, params = in_ids("id", sorted(ids))
    # SQLite has no row locks: its single writer already serialises batches.
    lock = " FOR NO KEY UPDATE" if connection.features.has_select_for_update else ""
    rows = fetch(
        "SELECT id, kind, status, balance, balance_cap, single_limit, daily_limit, annual_limit, "
        "suspended "
        f"FROM {Account._meta.db_table} WHERE {condition} ORDER BY id{lock}",
        params,
    )
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
        )
        for row in rows
    }


def _load_usage(accounts: dict[int, rules.AccountState], payment_times: list) -> dict:
    limited = [a.id for a in accounts.values() if a.has_period_limits]
    if not limited or not payment_times:
        return {}
    starts = {start for at in payment_times for start in rules.limit_periods(at)}
    if connection.vendor == "postgresql":  # two array parameters, no model instances
        rows = fetch(
            f"SELECT account_id, period, start, spent FROM {LimitUsage._meta.db_table} "
            "WHERE account_id = ANY(%s::bigint[]) AND start = ANY(%s::date[])",
            [array_literal(limited), array_literal(sorted(starts))],
        )
    else:
        rows = LimitUsage.objects.filter(account_id__in=limited, start__in=starts).values_list(
            "account_id", "period", "start", "spent"
        )
    return {(account_id, period, start): spent for account_id, period, start, spent in rows}


def _save_usage(changed: dict) -> None:
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
