"""The end-of-run checks, each {"ok": bool, ...details}: every accepted transfer decided
exactly once, money conserved, no negative balance, and `audit verify`."""

from django.db import connection

from settlement.audit import keys
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import (
    NEGATIVE_ALLOWED,
    Account,
    AuditLeaf,
    Posting,
    Transfer,
    TransferLeg,
)
from settlement.selectors import money_totals


def _one(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] or 0


def exactly_once(*, after: int, accepted_ids: set[int] | None, rows: list[tuple]) -> dict:
    """Each accepted transfer is SETTLED (one leaf, two postings per leg) or REJECTED (no
    leaf, no postings), none still RECEIVED, and none appeared that was not accepted."""
    transfers, leaves = Transfer._meta.db_table, AuditLeaf._meta.db_table
    postings, legs = Posting._meta.db_table, TransferLeg._meta.db_table
    undecided = sum(1 for r in rows if r[2] == "RECEIVED")
    ids = {r[0] for r in rows}
    missing = len(accepted_ids - ids) if accepted_ids is not None else 0
    unexpected = len(ids - accepted_ids) if accepted_ids is not None else 0
    bad_leaves = _one(
        f"SELECT count(*) FROM (SELECT t.id FROM {transfers} t "
        f"LEFT JOIN {leaves} l ON l.transfer_id = t.id WHERE t.id > %s "
        "GROUP BY t.id, t.state HAVING (t.state = 'SETTLED' AND count(l.transfer_id) <> 1) "
        "OR (t.state <> 'SETTLED' AND count(l.transfer_id) <> 0)) bad",
        [after],
    )
    bad_postings = _one(
        f"SELECT count(*) FROM {transfers} t "
        f"LEFT JOIN (SELECT transfer_id, count(*) AS n FROM {postings} WHERE transfer_id > %s "
        "GROUP BY transfer_id) p ON p.transfer_id = t.id "
        f"LEFT JOIN (SELECT transfer_id, count(*) AS n FROM {legs} WHERE transfer_id > %s "
        "GROUP BY transfer_id) g ON g.transfer_id = t.id "
        "WHERE t.id > %s AND ((t.state = 'SETTLED' AND coalesce(p.n, 0) <> 2 * coalesce(g.n, 0)) "
        "OR (t.state <> 'SETTLED' AND coalesce(p.n, 0) <> 0))",
        [after, after, after],
    )
    return {
        "ok": not (undecided or missing or unexpected or bad_leaves or bad_postings),
        "transfers": len(rows),
        "still_received": undecided,
        "accepted_not_found": missing,
        "found_not_accepted": unexpected,
        "leaf_count_wrong": bad_leaves,
        "posting_count_wrong": bad_postings,
    }


def money_conserved(before) -> dict:
    after = money_totals()
    per_asset = dict(
        _rows(f"SELECT asset, sum(balance) FROM {Account._meta.db_table} GROUP BY asset")
    )
    return {
        "ok": after.balanced and after == before and not any(per_asset.values()),
        "circulation_fen": after.circulation,
        "circulation_before_fen": before.circulation,
        "issued_fen": -after.issuance,
        "backing_fen": after.backing,
        "sum_by_asset": {asset: int(total) for asset, total in per_asset.items()},
    }


def no_negative_balance() -> dict:
    kinds = ", ".join(f"'{kind}'" for kind in NEGATIVE_ALLOWED)
    negative = _one(
        f"SELECT count(*) FROM {Account._meta.db_table} "
        f"WHERE balance < 0 AND kind NOT IN ({kinds})",
        [],
    )
    return {"ok": negative == 0, "negative_accounts": negative}


def audit_verified() -> dict:
    keys.signing_key_ensure()  # made, or registered again after a flush
    while checkpoint_seal() is not None:
        pass
    report = audit_verify()
    return {
        "ok": report.ok,
        "leaves": report.leaves,
        "checkpoints": report.checkpoints,
        "seconds": round(report.seconds, 2),
        "mismatch": str(report.mismatch) if report.mismatch else None,
    }


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def run_checks(*, after: int, accepted_ids, rows, money_before, verify: bool = True) -> dict:
    checks = {
        "exactly_once": exactly_once(after=after, accepted_ids=accepted_ids, rows=rows),
        "money_conserved": money_conserved(money_before),
        "no_negative_balance": no_negative_balance(),
    }
    if verify:
        checks["audit_verify"] = audit_verified()
    return checks
