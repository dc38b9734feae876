"""A batch decided again under its locks decides anew only what another batch's commit may
have changed (settlement/batch.py, `_Again`): random batches of payments, reservations,
their posts and voids and linked chains, decided ahead on some balances, then again on
balances another batch moved, must come out exactly as a decision made again in full:
every decision, leaf, balance, reservation, limit use and count. In memory, no database."""

import copy
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from settlement import rules
from settlement.batch import BatchResult, _Again, _decide_in_order, _Pending
from settlement.models import TransferKind, TransferState

AT = datetime(2026, 12, 5, 4, tzinfo=UTC)
ACCOUNTS = [1, 2, 3, 4]


def random_steps(rng) -> list[tuple]:
    """Payments, reservations, posts and voids of them, and linked chains among four
    accounts, with amounts near the balances so that outcomes hang on a few fen."""
    steps = []
    for _ in range(rng.randint(1, 40)):
        what = rng.choices(["pay", "reserve", "post", "void", "chain"], [6, 2, 1, 1, 1])[0]
        if what in ("pay", "reserve"):
            steps.append((what, rng.sample(ACCOUNTS, 2), rng.randint(1, 1_500)))
        elif what in ("post", "void"):
            steps.append((what, rng.randint(0, 30), rng.randint(1, 1_500)))
        else:
            members = [(rng.sample(ACCOUNTS, 2), rng.randint(1, 1_500)) for _ in range(2)]
            steps.append(("chain", members, 0))
    return steps


def random_state(rng) -> tuple:
    """(balance, status, cap, daily limit): mostly active, now and then a cap or a limit."""
    return (
        rng.randint(0, 2_000),
        rng.choices(["ACTIVE", "FROZEN", "RECEIVE_ONLY"], [18, 1, 1])[0],
        rng.choice([None, None, None, rng.randint(1_000, 5_000)]),
        rng.choice([None, None, None, rng.randint(500, 4_000)]),
    )


def batch_of(steps):
    """(claimed rows, legs by transfer, rule legs, chains, a fresh pendings factory)."""
    claimed, legs, chains, reservations = [], defaultdict(list), {}, []
    next_id = iter(range(1, 1_000))
    for what, arg, amount in steps:
        if what in ("pay", "reserve"):
            transfer_id = next(next_id)
            timeout = AT + timedelta(hours=1) if what == "reserve" else None
            claimed.append((transfer_id, TransferKind.P2P, AT, timeout, None, None))
            legs[transfer_id] = [("ECNY", arg[0], arg[1], amount)]
            if what == "reserve":
                reservations.append(transfer_id)
        elif what in ("post", "void"):
            if not reservations:
                continue
            pending_id = reservations[arg % len(reservations)]
            transfer_id = next(next_id)
            kind = TransferKind.POST if what == "post" else TransferKind.VOID
            claimed.append((transfer_id, kind, AT, None, pending_id, None))
            if what == "post":
                debit, credit, held = legs[pending_id][0][1:]
                legs[transfer_id] = [("ECNY", debit, credit, min(amount, held))]
        else:
            link = uuid.uuid4()
            members = []
            for (debit, credit), member_amount in arg:
                transfer_id = next(next_id)
                row = (transfer_id, TransferKind.P2P, AT, None, None, link)
                members.append(row)
                legs[transfer_id] = [("ECNY", debit, credit, member_amount)]
            claimed.extend(members)
            chains[link] = members
    rule_legs = {t: [rules.Leg(d, c, a) for _, d, c, a in ls] for t, ls in legs.items()}
    wanted = {row[4] for row in claimed if row[4] is not None}

    def pendings():
        made = {}
        for pending_id in wanted:
            row = next(r for r in claimed if r[0] == pending_id)
            made[pending_id] = _Pending(
                row[1], TransferState.RECEIVED, row[2], row[3], rule_legs[pending_id]
            )
        return made

    return claimed, legs, rule_legs, chains, pendings


def accounts_of(states):
    return {
        account: rules.AccountState(
            id=account,
            status=status,
            balance=balance,
            balance_cap=cap,
            daily_limit=daily,
        )
        for account, (balance, status, cap, daily) in zip(ACCOUNTS, states, strict=True)
    }


def decided(batch, accounts, usage, again=None):
    claimed, legs, rule_legs, chains, pendings = batch
    result, pending = BatchResult(), pendings()
    decisions, leaves = _decide_in_order(
        claimed,
        legs_by_transfer=legs,
        rule_legs=rule_legs,
        chains=chains,
        pendings=pending,
        accounts=accounts,
        usage=usage,
        decided_at=AT,
        result=result,
        write_posting=None,
        again=again,
    )
    return decisions, leaves, accounts, usage, pending, result


@settings(max_examples=500, deadline=None)
@given(st.randoms(use_true_random=False))
def test_deciding_again_only_what_changed_equals_deciding_again_in_full(rng):
    batch = batch_of(random_steps(rng))
    day, year = rules.limit_periods(AT)
    ahead_states = accounts_of([random_state(rng) for _ in ACCOUNTS])
    ahead = decided(batch, copy.deepcopy(ahead_states), {})

    # Another batch's commit in between: one account's balance, now and then a second
    # account's whole row (status, cap, limit) or its limit use.
    locked_states = copy.deepcopy(ahead_states)
    locked_states[rng.choice(ACCOUNTS)].balance = rng.randint(0, 2_000)
    locked_usage = {}
    if rng.random() < 0.2:
        account = rng.choice(ACCOUNTS)
        balance, status, cap, daily = random_state(rng)
        locked_states[account] = rules.AccountState(
            id=account, status=status, balance=balance, balance_cap=cap, daily_limit=daily
        )
    if rng.random() < 0.2:
        account, spent = rng.choice(ACCOUNTS), rng.randint(0, 3_000)
        locked_usage = {(account, "DAY", day): spent, (account, "YEAR", year): spent}
    changed = {a for a in ACCOUNTS if locked_states[a] != ahead_states[a]}
    changed |= {key[0] for key in locked_usage}

    in_full = decided(batch, copy.deepcopy(locked_states), dict(locked_usage))
    again = decided(
        batch,
        copy.deepcopy(locked_states),
        dict(locked_usage),
        again=_Again(ahead[0], changed),
    )
    assert again == in_full


def test_a_transfer_decided_otherwise_changes_the_accounts_it_would_have_moved():
    """Ahead, 3 paid 4 50 and 4 then paid 2 1,030, which needed those 50. Under the locks 3
    is empty: its payment is refused, so 4 was not paid and its payment is refused too,
    though 4's row did not change since the decision ahead."""
    batch = batch_of([("pay", [3, 4], 50), ("pay", [4, 2], 1_030)])
    accounts = accounts_of([(1_000, "ACTIVE", None, None)] * 4)
    ahead = decided(batch, copy.deepcopy(accounts), {})
    assert [d.state for d in ahead[0].values()] == ["SETTLED", "SETTLED"]
    accounts[3].balance = 0
    in_full = decided(batch, copy.deepcopy(accounts), {})
    again = decided(batch, copy.deepcopy(accounts), {}, again=_Again(ahead[0], {3}))
    assert [d.reject_code for d in again[0].values()] == ["INSUFFICIENT_FUNDS"] * 2
    assert again == in_full


def test_only_the_transfers_that_meet_a_changed_account_are_checked_again(monkeypatch):
    """Account 4 changed since the decision ahead: of three payments, the rules check again
    only the one paying 4 and the one after it that 4 then pays, whose outcome it could
    change; the first two touch only unchanged accounts."""
    batch = batch_of(
        [("pay", [1, 2], 500), ("pay", [2, 3], 300), ("pay", [3, 4], 100), ("pay", [4, 1], 50)]
    )
    accounts = accounts_of([(1_000, "ACTIVE", None, None)] * 4)
    ahead = decided(batch, copy.deepcopy(accounts), {})
    accounts[4].balance = 0
    checked = []
    apply_transfer = rules.apply_transfer

    def counted(accounts, usage, legs, **kwargs):
        checked.append([(leg.debit, leg.credit) for leg in legs])
        return apply_transfer(accounts, usage, legs, **kwargs)

    monkeypatch.setattr(rules, "apply_transfer", counted)
    again = decided(batch, copy.deepcopy(accounts), {}, again=_Again(ahead[0], {4}))
    assert checked == [[(3, 4)], [(4, 1)]]
    assert [d.state for d in again[0].values()] == ["SETTLED"] * 4
    assert [again[2][a].balance for a in ACCOUNTS] == [550, 1_200, 1_200, 50]
