"""A batch decided ahead of its accounts' locks, against the balances last committed, and
another batch that moves the same accounts commits before it takes them.

Committed for real (transactional_db): the other batch runs on its own connection, as a
second settlement worker would.
"""

import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import connections

from settlement import batch, doorbell
from settlement.audit.verify import audit_verify
from settlement.batch import settle_batch
from settlement.models import Account, AuditLeaf, Posting, Transfer, TransferKind
from settlement.services import LegSpec, transfer_post, transfer_reserve
from tests.helpers import World, balance, settle

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue_without_doorbell(monkeypatch):
    """Transfers stay RECEIVED until a test settles them (the doorbell would settle at once)."""
    monkeypatch.setattr(doorbell, "ring", lambda: None)


@dataclass
class OtherBatch:
    """A batch of `size` (once the test sets it) settled on its own connection just before
    this thread's next batch locks its accounts; what it settled, and what this thread's
    batch decided ahead."""

    size: int
    results: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    ahead_states: dict = field(default_factory=dict)


@pytest.fixture
def other_batch_first(queue_without_doorbell, monkeypatch):
    real_rows, real_correct = batch._account_rows, batch._correct_ahead
    other = OtherBatch(size=0)

    def settle_other() -> None:
        try:
            other.results.append(settle_batch(other.size))
        except BaseException as error:  # handed to the test thread
            other.errors.append(error)
        finally:
            connections.close_all()

    def account_rows(ids, *, lock):
        armed = other.size and not other.results  # set by the test once it has queued
        if lock and armed and threading.current_thread() is threading.main_thread():
            thread = threading.Thread(target=settle_other)
            thread.start()
            thread.join(timeout=60)
            assert not thread.is_alive(), "the other batch waited for this one"
        return real_rows(ids, lock=lock)

    def correct_ahead(ahead, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            other.ahead_states.update(
                {i: (d.state, d.reject_code) for i, d in ahead.decisions.items()}
            )
        return real_correct(ahead, *args, **kwargs)

    monkeypatch.setattr(batch, "_account_rows", account_rows)
    monkeypatch.setattr(batch, "_correct_ahead", correct_ahead)
    return other


def test_what_another_batch_committed_in_between_is_what_the_batch_decides(other_batch_first):
    world = World.build()
    alice = world.wallet("Alice", load="1.00")
    dave = world.wallet("Dave")
    erin = world.wallet("Erin", load="1.00")
    bob = world.wallet("Bob")
    shop = world.wallet("Shop", merchant=True)
    settle()
    # This batch's, the two oldest: Alice has 100 fen and Dave none when it decides ahead.
    alice_to_bob = world.pay_later(alice, bob, 50)
    dave_to_bob = world.pay_later(dave, bob, 50)
    # The other batch's, committed before this one locks: Alice is left 20 fen, Dave has 60.
    world.pay_later(alice, shop, 80)
    world.pay_later(erin, dave, 60)
    other_batch_first.size = 2

    ours = settle_batch(2)

    assert not other_batch_first.errors, other_batch_first.errors
    assert other_batch_first.results[0].settled == 2
    # Ahead, against what was committed then, the batch decided the other way round ...
    assert other_batch_first.ahead_states == {
        alice_to_bob.pk: ("SETTLED", ""),
        dave_to_bob.pk: ("REJECTED", "INSUFFICIENT_FUNDS"),
    }
    # ... and under the locks, what the ledger keeps is what the balances then allowed.
    assert (ours.settled, ours.rejected) == (1, {"INSUFFICIENT_FUNDS": 1})
    alice_to_bob.refresh_from_db()
    dave_to_bob.refresh_from_db()
    assert (alice_to_bob.state, alice_to_bob.reject_code) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert (dave_to_bob.state, dave_to_bob.reject_code) == ("SETTLED", "")
    assert not Posting.objects.filter(transfer=alice_to_bob).exists()
    assert sorted(
        Posting.objects.filter(transfer=dave_to_bob).values_list("amount", flat=True)
    ) == [
        -50,
        50,
    ]
    assert not AuditLeaf.objects.filter(transfer=alice_to_bob).exists()
    assert AuditLeaf.objects.filter(transfer=dave_to_bob).count() == 1
    assert [balance(w) for w in (alice, dave, erin, bob, shop)] == [20, 10, 40, 50, 80]
    assert not Transfer.objects.filter(state="RECEIVED").exists()
    report = audit_verify()
    assert report.ok, report.mismatch


def test_a_post_decided_ahead_and_refused_under_the_locks_leaves_its_reservation_pending(
    other_batch_first,
):
    world = World.build()
    alice = world.wallet("Alice", load="10.00")
    erin = world.wallet("Erin", load="10.00")
    capped = world.wallet("Capped")
    Account.objects.filter(pk=capped.account_id).update(balance_cap=500)
    settle()
    pending, _ = transfer_reserve(
        kind=TransferKind.P2P,
        legs=[LegSpec(alice.account_id, capped.account_id, 300)],
        idempotency_key="hold",
        timeout=timedelta(hours=1),
    )
    settle()
    # This batch's: the post, which fits under the cap while Capped holds nothing ...
    post, _ = transfer_post(pending=pending, idempotency_key="post")
    # ... and the other batch's, which gives Capped 300 fen first.
    world.pay_later(erin, capped, 300)
    other_batch_first.size = 1

    ours = settle_batch(1)

    assert not other_batch_first.errors, other_batch_first.errors
    assert other_batch_first.ahead_states == {post.pk: ("SETTLED", "")}
    assert (ours.settled, ours.rejected) == (0, {"LIMIT_BALANCE": 1})
    post.refresh_from_db()
    pending.refresh_from_db()
    assert (post.state, post.reject_code) == ("REJECTED", "LIMIT_BALANCE")
    # The decision ahead had written the reservation POSTED: it is PENDING again.
    assert pending.state == "PENDING"
    assert not Posting.objects.filter(transfer=post).exists()
    held = Account.objects.get(pk=alice.account_id)
    assert (held.balance, held.reserved) == (1_000, 300)
    assert balance(capped) == 300
    report = audit_verify()
    assert report.ok, report.mismatch


def test_a_batch_whose_accounts_nobody_moved_meanwhile_is_decided_once(
    queue_without_doorbell, monkeypatch
):
    world = World.build()
    alice = world.wallet("Alice", load="1.00")
    bob = world.wallet("Bob")
    settle()
    paid = world.pay_later(alice, bob, 60)
    refused = world.pay_later(alice, bob, 60)
    decide, corrections = batch._decide_in_order, []
    decisions = []

    def decide_counted(*args, **kwargs):
        decisions.append(1)
        return decide(*args, **kwargs)

    monkeypatch.setattr(batch, "_decide_in_order", decide_counted)
    monkeypatch.setattr(batch, "_correct_ahead", lambda *args, **kwargs: corrections.append(1))

    result = settle_batch(10)

    assert (len(decisions), corrections) == (1, [])
    assert (result.taken, result.claimed, result.settled) == (2, 2, 1)
    assert result.rejected == {"INSUFFICIENT_FUNDS": 1}
    assert [Transfer.objects.get(pk=t.pk).state for t in (paid, refused)] == [
        "SETTLED",
        "REJECTED",
    ]
    assert [balance(alice), balance(bob)] == [40, 60]
    assert Posting.objects.filter(transfer=paid).count() == 2
    report = audit_verify()
    assert report.ok, report.mismatch
