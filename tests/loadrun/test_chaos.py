"""`manage.py chaos` end to end on its own private PostgreSQL and Redis, and its pure parts.

Worked examples: the seeded schedule and payments are the same for a seed and hold every
kind of fault; each check fails on the ledger or snapshots that break it; and a short run
with every kind of fault (a worker SIGKILLed, Redis and PostgreSQL crashed and restarted,
requests cut off after sending) loses and doubles nothing.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wallets.chaos import checks
from wallets.chaos.checks import ACCEPTED, REFUSED, UNKNOWN, LedgerRow, Snapshot, Told
from wallets.chaos.schedule import (
    KILL_WORKER,
    KINDS,
    RESTART_POSTGRES,
    fault_schedule,
    payment_plan,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_schedule_and_payments_come_from_the_seed_alone():
    one = fault_schedule(seed=3, seconds=8, workers=2)
    assert one == fault_schedule(seed=3, seconds=8, workers=2)
    assert one != fault_schedule(seed=4, seconds=8, workers=2)
    assert {fault.kind for fault in one} == set(KINDS)
    assert [f.at for f in one] == sorted(f.at for f in one)
    assert sum(f.kind == RESTART_POSTGRES for f in one) == 1
    assert one[-1].kind == KILL_WORKER and one[-1].at == 8  # the backlog is timed from it
    payments = payment_plan(seed=3, transfers=500, wallets=1000)
    assert payments == payment_plan(seed=3, transfers=500, wallets=1000)
    assert all(p.payer != p.payee and 1 <= p.amount <= 20_000 for p in payments)


def settled(transfer_id: int, payment: int) -> LedgerRow:
    return LedgerRow(transfer_id, payment, "SETTLED", leaves=1, postings=2, legs=1)


def assert_failed(check: checks.Check, count: int) -> None:
    assert (check.count, check.ok) == (count, False), check.line()
    assert check.line().endswith(": FAILED")


def test_each_check_fails_on_what_it_looks_for():
    told = {0: Told(ACCEPTED, 10), 1: Told(ACCEPTED, 11), 2: Told(REFUSED, code="LIMIT_DAILY")}
    told[3] = Told(UNKNOWN)
    rows = [settled(10, 0), settled(11, 1)]
    assert all(c.ok for c in (checks.lost(told, rows), checks.doubled(rows)))
    assert checks.unaccepted(told, rows).ok
    # An unknown payment may be in the ledger once; a refused one may not be there at all.
    assert checks.unaccepted(told, [*rows, settled(13, 3)]).ok
    assert_failed(checks.unaccepted(told, [*rows, settled(12, 2)]), 1)
    assert_failed(checks.lost(told, rows[:1]), 1)
    assert_failed(checks.lost(told, [settled(10, 0), settled(11, 0)]), 1)  # not payment 1's
    assert_failed(checks.doubled([*rows, settled(12, 1)]), 1)

    snapshots = [Snapshot(0.1, 500), Snapshot(0.2, None), Snapshot(0.3, 500)]
    assert checks.bad_snapshots(snapshots, 500).ok
    assert_failed(checks.bad_snapshots([*snapshots, Snapshot(0.4, 499)], 500), 1)
    assert not checks.bad_snapshots([Snapshot(0.1, None)], 500).ok  # none was read
    assert checks.negative(snapshots, 0).ok
    assert_failed(checks.negative([Snapshot(0.4, 500, negative=1)], 0), 1)
    assert_failed(checks.negative(snapshots, 2), 2)

    assert checks.leaves_one_to_one(rows).ok
    no_leaf = LedgerRow(12, 2, "SETTLED", leaves=0, postings=2, legs=1)
    leaf_on_rejected = LedgerRow(13, 3, "REJECTED", leaves=1, postings=0, legs=1)
    assert_failed(checks.leaves_one_to_one([*rows, no_leaf, leaf_on_rejected]), 2)
    assert_failed(checks.undecided([LedgerRow(14, 4, "RECEIVED", 0, 0, 1)]), 1)


EXPECTED = [
    r"lost 0 \(of (\d+) accepted; (\d+) refused, 0 left unknown after retrying\): ok",
    r"doubled 0 \(\d+ transfers in the ledger for \d+ payments\): ok",
    r"unaccepted 0 \(.*\): ok",
    r"bad snapshots 0 \(of (\d+) snapshots summing [\d,.]+ CNY; \d+ unanswered .*\): ok",
    r"negative 0 \(.*\): ok",
    r"leaves mismatched 0 \((\d+) settled transfers, \1 leaves\): ok",
    r"undecided 0 \(.*\): ok",
    r"audit verify ok \(\d+ leaves, \d+ checkpoints\)",
    r"faults ok \(([1-9]\d*) worker kills, ([1-9]\d*) Redis restarts, 1 PostgreSQL restarts, "
    r"([1-9]\d*) requests cut off; .*\)",
    r"backlog empty [\d.]+ s after the last fault \(the last payment was answered -?[\d.]+ s "
    r"after it\): ok",
]


@pytest.mark.worker
def test_a_short_chaos_run_loses_and_doubles_nothing_through_every_kind_of_fault():
    # Its own PostgreSQL and Redis: the shared ones (the test database's) are not used.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "chaos", "--transfers", "240", "--rate", "40", "--seed", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()
    for pattern in EXPECTED:
        assert any(re.fullmatch(pattern, line) for line in lines), (pattern, output)
    accepted, refused = map(int, re.search(EXPECTED[0], done.stdout).groups())
    assert accepted + refused == 240 and accepted > 200
    assert int(re.search(EXPECTED[3], done.stdout).group(1)) >= 40  # every 100 ms over 6 s
    assert time.monotonic() - started < 120
