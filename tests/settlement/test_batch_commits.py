"""Latency to the commit: each settlement batch notes when it committed (BatchCommit)."""

from settlement import doorbell
from settlement.models import BatchCommit, Transfer, TransferState
from settlement.selectors import with_visible_at
from settlement.services import transfers_settle


def test_a_batch_notes_its_commit_and_decisions_count_to_it(transactional_db, world, monkeypatch):
    monkeypatch.setattr(doorbell, "ring", lambda: None)  # queued, settled below in one batch
    alice = world.wallet("Alice", load=1_000)
    bob = world.wallet("Bob")
    transfers_settle()
    paid = [world.pay_later(alice, bob, 1_000) for _ in range(3)]
    refused = world.pay_later(alice, bob, 1_000_000)
    transfers_settle()
    rows = with_visible_at(Transfer.objects.filter(pk__in=[t.pk for t in [*paid, refused]]))
    (decided_at,) = {row.decided_at for row in rows}
    commit = BatchCommit.objects.get(decided_at=decided_at)
    assert commit.committed_at > decided_at
    assert {row.visible_at for row in rows} == {commit.committed_at}
    assert {row.state for row in rows} == {TransferState.SETTLED, TransferState.REJECTED}
    # Where no commit was noted (a crash just after one), the decision counts from decided_at.
    commit.delete()
    assert {row.visible_at for row in rows.all()} == {decided_at}
    # Undecided transfers have no time yet.
    waiting = world.pay_later(alice, bob, 1)
    assert with_visible_at(Transfer.objects.filter(pk=waiting.pk)).get().visible_at is None
