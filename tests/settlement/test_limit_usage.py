"""Where limit usage lives (settlement/usage.py): the current day and year on the account's
row, earlier periods in LimitUsage, and a payment queued before midnight and decided after
a later one still counted against its own day."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ewallet.money import yuan
from settlement import doorbell
from settlement.audit.verify import audit_verify
from settlement.models import Account, LimitUsage, Transfer
from settlement.services import transfers_settle
from settlement.usage import DAY, YEAR, CurrentPeriods, usage_on_rows, usage_to_rows
from tests.helpers import assert_every_fen_kept
from wallets import selectors

DEC_1, DEC_2, DEC_3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)
YEAR_2026 = date(2026, 1, 1)


# ---------------------------------------------------------------- the pure translation


def test_a_key_of_the_rows_period_is_read_from_the_row_an_earlier_one_from_the_table():
    current = {
        1: CurrentPeriods(DEC_2, 500, YEAR_2026, 9_000),
        2: CurrentPeriods(),  # never paid
    }
    usage, earlier = usage_on_rows(current, days=[DEC_1, DEC_2, DEC_3], years=[YEAR_2026])
    assert usage == {(1, DAY, DEC_2): 500, (1, YEAR, YEAR_2026): 9_000}
    assert earlier == [(1, DAY, DEC_1)]  # 3 December is later than the row's: nothing spent


def test_a_later_period_rolls_the_row_on_and_the_one_it_held_goes_to_the_table():
    current = {1: CurrentPeriods(DEC_1, 700, YEAR_2026, 9_000)}
    changes = [((1, DAY, DEC_2), 300), ((1, DAY, DEC_1), 800), ((1, YEAR, YEAR_2026), 10_100)]
    # 1 December's change counts, whether it comes before or after 2 December's.
    for changed in (dict(changes), dict(reversed(changes))):
        rows, earlier = usage_to_rows(current, changed)
        assert rows == {1: CurrentPeriods(DEC_2, 300, YEAR_2026, 10_100)}
        assert earlier == {(1, DAY, DEC_1): 800}


def test_a_change_to_an_earlier_period_goes_to_the_table_and_leaves_the_row():
    current = {1: CurrentPeriods(DEC_2, 300, YEAR_2026, 9_000)}
    assert usage_to_rows(current, {(1, DAY, DEC_1): 0}) == ({}, {(1, DAY, DEC_1): 0})


def test_a_period_with_nothing_spent_is_not_kept_when_the_row_rolls_on():
    current = {1: CurrentPeriods(DEC_1, 0, None, 0)}
    rows, earlier = usage_to_rows(current, {(1, DAY, DEC_2): 50, (1, YEAR, YEAR_2026): 50})
    assert rows == {1: CurrentPeriods(DEC_2, 50, YEAR_2026, 50)} and earlier == {}


@given(
    st.lists(
        st.dictionaries(
            st.tuples(
                st.sampled_from([1, 2]),
                st.sampled_from([DAY, YEAR]),
                st.sampled_from([DEC_1, DEC_2, DEC_3, YEAR_2026]),
            ),
            st.integers(min_value=0, max_value=1_000),
            max_size=6,
        ),
        max_size=8,
    )
)
def test_what_is_written_is_read_back_key_by_key(batches):
    """Batches of usage changes in any order of periods, written as usage_to_rows says and
    read as usage_on_rows says (the table consulted for what it lists): every key reads
    back what was last written to it, 0 for one never written."""
    truth: dict = {}
    current = {1: CurrentPeriods(), 2: CurrentPeriods()}
    table: dict = {}
    for changed in batches:
        rows, earlier = usage_to_rows(current, changed)
        current.update(rows)
        table.update(earlier)
        truth.update(changed)
    starts = [DEC_1, DEC_2, DEC_3, YEAR_2026]
    usage, listed = usage_on_rows(current, days=starts, years=starts)
    usage.update({key: table.get(key, 0) for key in listed})
    for account in (1, 2):
        for period in (DAY, YEAR):
            for start in starts:
                key = (account, period, start)
                assert usage.get(key, 0) == truth.get(key, 0), key


# ---------------------------------------------------------------- settled for real


@pytest.fixture
def queued_until_settled(monkeypatch, audit_key):
    monkeypatch.setattr(doorbell, "ring", lambda: None)
    yield
    assert_every_fen_kept()


def paid_at(world, payer, payee, amount_yuan: int, at: datetime) -> Transfer:
    payment = world.pay_later(payer, payee, yuan(amount_yuan))
    Transfer.objects.filter(pk=payment.pk).update(created_at=at)
    return payment


def test_a_payment_queued_before_midnight_and_decided_after_the_next_days_counts_for_its_own_day(
    world, queued_until_settled
):
    """Alice (class 4: 2,000 a payment, 5,000 a day) pays 2,000 twice on 1 December (Beijing)
    and 1,500 on 2 December: her row then holds 2 December, 1 December's 4,000 is in the
    table. Two payments queued on 1 December and decided after: 1,500 would make 5,500 that
    day (LIMIT_DAILY), 1,000 makes 5,000 (settled), and 2 December is untouched."""
    alice, bob = world.wallet("Alice", klass=4, load=9_000), world.wallet("Bob", klass=3)
    dec_1 = datetime(2026, 12, 1, 4, tzinfo=UTC)  # noon in Beijing
    dec_2 = datetime(2026, 12, 2, 4, tzinfo=UTC)
    first = [paid_at(world, alice, bob, 2_000, dec_1) for _ in range(2)]
    transfers_settle()
    after = paid_at(world, alice, bob, 1_500, dec_2)
    transfers_settle()
    account = Account.objects.get(pk=alice.account_id)
    assert (account.day_start, account.day_spent) == (DEC_2, yuan(1_500))
    assert (account.year_start, account.year_spent) == (YEAR_2026, yuan(5_500))
    assert dict(
        LimitUsage.objects.filter(account_id=alice.account_id).values_list("start", "spent")
    ) == {DEC_1: yuan(4_000)}

    late = [paid_at(world, alice, bob, amount, dec_1) for amount in (1_500, 1_000)]
    transfers_settle()
    assert [world.state(t) for t in [*first, after, *late]] == [
        ("SETTLED", ""),
        ("SETTLED", ""),
        ("SETTLED", ""),
        ("REJECTED", "LIMIT_DAILY"),
        ("SETTLED", ""),
    ]
    assert selectors.wallet_limit_usage(alice, at=dec_1)["daily"] == selectors.LimitUse(
        yuan(5_000), yuan(5_000)
    )
    assert selectors.wallet_limit_usage(alice, at=dec_2)["daily"] == selectors.LimitUse(
        yuan(5_000), yuan(1_500)
    )
    assert selectors.wallet_limit_usage(alice, at=dec_2)["annual"].used == yuan(6_500)
    assert audit_verify().ok


def test_one_batch_across_midnight_rolls_the_row_on_and_keeps_the_day_before(
    world, queued_until_settled
):
    """One batch holds Alice's payments of 1 and 2 December: the row ends on 2 December and
    1 December's spending is in the table, each day's limit checked on its own."""
    alice, bob = world.wallet("Alice", klass=4, load=9_000), world.wallet("Bob", klass=3)
    dec_1 = datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing
    dec_2 = datetime(2026, 12, 1, 16, tzinfo=UTC)  # midnight
    payments = [
        paid_at(world, alice, bob, 2_000, dec_1),
        paid_at(world, alice, bob, 2_000, dec_1),
        paid_at(world, alice, bob, 2_000, dec_2),
        paid_at(world, alice, bob, 2_000, dec_2),
        paid_at(world, alice, bob, 1_500, dec_2),
    ]
    assert transfers_settle().settled == 4
    assert [world.state(t)[1] for t in payments] == ["", "", "", "", "LIMIT_DAILY"]
    account = Account.objects.get(pk=alice.account_id)
    assert (account.day_start, account.day_spent) == (DEC_2, yuan(4_000))
    assert account.year_spent == yuan(8_000)
    assert dict(
        LimitUsage.objects.filter(account_id=alice.account_id).values_list("start", "spent")
    ) == {DEC_1: yuan(4_000)}
