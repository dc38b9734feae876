"""Settling updates balances and limit usage in place on PostgreSQL (migration 0018):
each account's row, which holds its current day's and year's spending too (migration
0021), gets its next version on its own page, with no new index entries. Batches commit
for real here, as a worker's do, so that the row versions they leave behind can be
reclaimed."""

import pytest
from django.db import connection

from settlement.bench import queue_received
from settlement.models import Account, LimitUsage, TransferKind
from settlement.services import transfers_settle
from tests.helpers import World

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pages(table: str, column: str, ids: list[int]) -> dict:
    """Which page of `table` holds each row whose `column` is in `ids`: a row updated in
    place stays on its page; one updated on a full page moves to another."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, (ctid::text::point)[0] FROM {table} WHERE {column} = ANY(%s)", [ids]
        )
        return dict(cursor.fetchall())


def moved(before: dict, after: dict) -> int:
    assert before.keys() == after.keys()
    return sum(before[row] != after[row] for row in before)


def test_batches_update_balances_and_limit_usage_in_place():
    world = World.build()
    # Class 2 wallets have a balance cap and daily and annual limits: their payments keep
    # limit usage. Each pays the next, so every one is debited and credited.
    accounts = [world.wallet(f"W{i}", klass=2, load=1_000).account for i in range(120)]
    ids = [account.pk for account in accounts]
    payments = [[("ECNY", accounts[i], accounts[(i + 1) % 120], 100 + i)] for i in range(120)]
    queue_received("in-place-0", TransferKind.P2P, payments)
    assert transfers_settle().settled == 120
    accounts_at = pages("settlement_account", "id", ids)
    # Today's and this year's spending are on the accounts' rows: no usage row of their own.
    assert not LimitUsage.objects.filter(account_id__in=ids).exists()

    for round_ in range(1, 4):
        queue_received(f"in-place-{round_}", TransferKind.P2P, payments)
        assert transfers_settle().settled == 120
        # the first pays 100 fen and is paid 219 by the last
        first = Account.objects.get(pk=ids[0])
        assert first.balance == 1_000_00 + 119 * (round_ + 1)
        assert first.day_spent == first.year_spent == 100 * (round_ + 1)

    # A page's old versions are reclaimed when it runs short of room, so a row at the edge
    # of one may still move now and then; on full pages nearly every row does.
    assert moved(accounts_at, pages("settlement_account", "id", ids)) <= len(accounts_at) // 50


def test_accounts_and_limit_usage_leave_room_on_their_pages():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname",
            [["settlement_account", "settlement_limitusage"]],
        )
        assert cursor.fetchall() == [
            ("settlement_account", ["fillfactor=40"]),
            ("settlement_limitusage", ["fillfactor=40"]),
        ]


def test_limit_usage_is_found_by_its_unique_key_alone():
    """Its account's own index went (migration 0020): usage_unique leads with the account,
    and a payment's usage row was one more index entry to write."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'settlement_limitusage' "
            "ORDER BY indexname"
        )
        assert [name for (name,) in cursor.fetchall()] == [
            "settlement_limitusage_pkey",
            "usage_unique",
        ]
