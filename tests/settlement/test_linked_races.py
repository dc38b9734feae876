"""Linked chains under concurrent settlers, on PostgreSQL: a chain is decided by the one
batch that holds all of it, never split between two, whatever the batch boundaries."""

import threading

import pytest
from django.db import connection, transaction

from ewallet.money import yuan
from settlement import services
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.batch import settle_batch
from settlement.models import Transfer, TransferKind
from settlement.services import LegSpec, TransferSpec
from tests.helpers import World, balance, key
from tests.settlement.test_postgres import in_threads, queue_without_doorbell  # noqa: F401

# Transfers stay RECEIVED until a test settles them.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("queue_without_doorbell"),
]


def spec(payer, payee, amount, *, linked=False) -> TransferSpec:
    return TransferSpec(
        TransferKind.P2P,
        [LegSpec(payer.account_id, payee.account_id, amount)],
        key("link"),
        linked=linked,
    )


def states(outcomes) -> list[tuple[str, str]]:
    rows = dict(
        (pk, (state, code))
        for pk, state, code in Transfer.objects.filter(
            pk__in=[o.transfer_id for o in outcomes]
        ).values_list("pk", "state", "reject_code")
    )
    return [rows[o.transfer_id] for o in outcomes]


def hold_row(transfer_id: int, held: threading.Event, release: threading.Event) -> None:
    """Another settler's transaction holding one transfer's row lock until `release`."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM settlement_transfer WHERE id = %s FOR UPDATE", [transfer_id]
                )
            held.set()
            release.wait(10)
    finally:
        connection.close()


def test_a_chain_part_of_which_another_batch_holds_is_left_whole_for_later(audit_key):
    world = World.build()
    alice = world.wallet("Alice", klass=2, load=100)
    bob = world.wallet("Bob", klass=2, load=40)
    carol = world.wallet("Carol", klass=2)
    chain = services.transfers_submit_many(
        [spec(alice, bob, yuan(100), linked=True), spec(bob, carol, yuan(120))]
    )
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_row, args=(chain[1].transfer_id, held, release))
    holder.start()
    assert held.wait(10)
    try:
        (single,) = services.transfers_submit_many([spec(carol, alice, 1)])
        result = settle_batch(100)
        # The chain's first member was claimed but not its second: both left undecided.
        assert result.claimed == 1
        assert states(chain) == [("RECEIVED", "")] * 2
        assert states([single]) == [("REJECTED", "INSUFFICIENT_FUNDS")]
    finally:
        release.set()
        holder.join()
    services.transfers_settle()
    assert states(chain) == [("SETTLED", "")] * 2
    assert (balance(alice), balance(bob), balance(carol)) == (0, yuan(20), yuan(120))
    checkpoint_seal()
    assert audit_verify().ok


def test_a_drain_goes_on_past_a_batch_that_defers_a_chain(audit_key):
    """A full batch part of which is a chain another batch holds still decides the rest,
    and the drain goes on to the end of the queue."""
    world = World.build()
    alice = world.wallet("Alice", klass=2, load=100)
    bob = world.wallet("Bob", klass=2, load=40)
    carol = world.wallet("Carol", klass=2, load=10)
    chain = services.transfers_submit_many(
        [spec(alice, bob, yuan(100), linked=True), spec(bob, carol, yuan(120))]
    )
    singles = services.transfers_submit_many([spec(carol, alice, 100) for _ in range(9)])
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_row, args=(chain[1].transfer_id, held, release))
    holder.start()
    assert held.wait(10)
    try:
        # Each batch of two takes the chain's first member (deferred) and one payment.
        result = services.transfers_settle(batch_size=2)
        assert (result.claimed, result.settled) == (9, 9)
        assert states(singles) == [("SETTLED", "")] * 9
        assert states(chain) == [("RECEIVED", "")] * 2
    finally:
        release.set()
        holder.join()
    services.transfers_settle(batch_size=2)
    assert states(chain) == [("SETTLED", "")] * 2
    checkpoint_seal()
    assert audit_verify().ok


def test_concurrent_settlers_decide_each_chain_whole(audit_key):
    world = World.build()
    wallets = [world.wallet(f"W{n}", klass=1, load=50) for n in range(6)]
    chains = []
    for round_ in range(40):
        a, b, c = (wallets[(round_ + k) % 6] for k in range(3))
        # Every other chain is one fen too much for its last member, so it fails whole.
        last = yuan(50) + yuan(10) + (round_ % 2)
        chains.append(
            services.transfers_submit_many(
                [spec(a, b, yuan(10), linked=True), spec(b, c, last, linked=True), spec(c, a, 1)]
            )
        )
    # Four settlers, a few transfers a batch, so chains straddle batch boundaries.
    in_threads(4, lambda i: services.transfers_settle(batch_size=2))
    services.transfers_settle()
    for outcomes in chains:
        decided = states(outcomes)
        kinds = {state for state, _ in decided}
        assert kinds in ({"SETTLED"}, {"REJECTED"}), decided
        if kinds == {"REJECTED"}:
            assert sorted(code for _, code in decided).count("LINKED_FAILED") == 2
    total = sum(balance(wallet) for wallet in wallets)
    assert total == 6 * yuan(50)
    checkpoint_seal()
    assert audit_verify().ok
