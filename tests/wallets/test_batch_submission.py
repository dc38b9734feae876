"""An operator's batches of payments and loads: the wallets' lookup also reads their
accounts' assets, so the ledger asks the database nothing more before its insert, and no
savepoint is opened inside the caller's transaction. What each item gets stays the same."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ewallet.money import yuan
from settlement import services as ledger
from settlement.exceptions import TransferInvalid
from settlement.models import Account, Transfer, TransferKind
from settlement.services import LegSpec, TransferSpec
from tests.helpers import assert_every_fen_kept, balance, key, settle
from wallets import services


@pytest.fixture(autouse=True)
def every_fen_kept(world, audit_key):
    yield
    assert_every_fen_kept()


def statements_during(call):
    """What `call` returns, and the SQL it ran, inside a transaction of the caller's (as the
    load run's driver and the API's batch view call it)."""
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [query["sql"] for query in captured.captured_queries]


def reads_of_accounts_alone(sql: list[str | None]) -> list[str]:
    """Statements that read the accounts table on its own (the ledger's lookup of assets),
    not joined to the wallets or the operator that own them."""
    table = Account._meta.db_table
    owners = ("wallets_wallet", "wallets_operator")
    return [
        s for s in sql if s and table in s and not any(o in s for o in owners) and "INSERT" not in s
    ]


def assert_no_savepoint_and_no_lookup_of_assets(sql: list[str | None], *, on_postgres: int):
    if connection.vendor == "postgresql":
        # Prepared statements are logged without their text: count them. (The lookup of
        # assets, a savepoint and its release made five a batch before.)
        assert len(sql) == on_postgres, sql
    assert not [s for s in sql if s and "SAVEPOINT" in s.upper()]
    assert reads_of_accounts_alone(sql) == []


def test_a_batch_of_payments_needs_no_lookup_of_assets_and_no_savepoint(world):
    alice, bob = world.wallet("alice", load=100), world.wallet("bob")
    shop = world.merchant("shop")
    outcomes, sql = statements_during(
        lambda: services.payments_submit_many(
            actor=world.staff,
            payments=[
                services.PaymentSpec(alice.number, bob.number, yuan(10), key()),
                services.PaymentSpec(alice.number, shop.wallet.number, yuan(20), key()),
                services.PaymentSpec(alice.number, "9" * 16, yuan(1), key()),
            ],
        )
    )
    assert [o.error.code if o.error else o.created for o in outcomes] == [True, True, "NOT_FOUND"]
    assert_no_savepoint_and_no_lookup_of_assets(sql, on_postgres=2)  # wallets; insert
    settle()
    assert (balance(alice), balance(bob), balance(shop.wallet)) == (yuan(70), yuan(10), yuan(20))


def test_a_batch_of_loads_reads_the_vaults_asset_with_the_operator(world):
    alice, bob = world.wallet("alice"), world.wallet("bob")
    carol_at_ccb = world.wallet("carol", operator="CCB")
    outcomes, sql = statements_during(
        lambda: services.wallet_loads_submit_many(
            actor=world.staff,
            loads=[
                services.LoadSpec(alice.number, yuan(5), key()),
                services.LoadSpec(bob.number, yuan(7), key()),
                services.LoadSpec(carol_at_ccb.number, yuan(9), key()),  # not ICBC's
            ],
        )
    )
    assert [o.error.code if o.error else o.created for o in outcomes] == [True, True, "NOT_FOUND"]
    assert_no_savepoint_and_no_lookup_of_assets(sql, on_postgres=3)  # vault; wallets; insert
    settle()
    assert (balance(alice), balance(bob), balance(carol_at_ccb)) == (yuan(5), yuan(7), 0)


def test_the_ledger_looks_up_what_the_caller_did_not_name_and_still_refuses_mixed_assets(world):
    alice, bob = world.wallet("alice", load=100), world.wallet("bob")
    reserve = world.operators["ICBC"].reserve_account_id  # RESERVE, not e-CNY
    known = {alice.account_id: Account.objects.get(pk=alice.account_id).asset}
    to_bob = [LegSpec(alice.account_id, bob.account_id, 1)]
    to_reserve = [LegSpec(alice.account_id, reserve, 1)]
    outcomes, sql = statements_during(
        lambda: ledger.transfers_submit_many(
            [
                TransferSpec(TransferKind.P2P, to_bob, key()),
                TransferSpec(TransferKind.P2P, to_reserve, key()),
            ],
            assets=known,
        )
    )
    assert outcomes[0].created
    assert outcomes[1].error.code == "ASSET_MISMATCH"
    assert len(reads_of_accounts_alone(sql)) == 1  # bob's and the reserve's, in one query
    assert Transfer.objects.filter(pk=outcomes[0].transfer_id).exists()
    settle()
    assert (balance(alice), balance(bob)) == (yuan(100) - 1, 1)


def test_an_open_chain_is_refused_before_anything_is_written_and_the_transaction_goes_on(world):
    alice, bob = world.wallet("alice", load=100), world.wallet("bob")
    legs = [LegSpec(alice.account_id, bob.account_id, 1)]
    before = Transfer.objects.count()
    with transaction.atomic():
        with pytest.raises(TransferInvalid) as refused:
            ledger.transfers_submit_many([TransferSpec(TransferKind.P2P, legs, key(), linked=True)])
        # The caller's transaction is still usable: nothing was begun inside it.
        assert Transfer.objects.count() == before
    assert refused.value.code == "LINKED_CHAIN_OPEN"
