"""Two-phase transfers under races, on PostgreSQL: a post, a void and an expiry of one
pending transfer, queued together and settled by concurrent batches, decide it once."""

import time
from collections import Counter
from datetime import timedelta

import pytest

from settlement import services
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Account, Transfer, TransferKind
from settlement.services import LegSpec
from tests.helpers import World, key
from tests.settlement.test_postgres import in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_racing_post_void_and_expiry_decide_each_pending_transfer_once(audit_key):
    world = World.build()
    alice = world.wallet("Alice", klass=1, load=10_000)
    bob = world.wallet("Bob", klass=1)
    pendings = []
    for _ in range(20):
        pending, _ = services.transfer_reserve(
            kind=TransferKind.P2P,
            legs=[LegSpec(alice.account_id, bob.account_id, 1_000)],
            idempotency_key=key("hold"),
            timeout=timedelta(seconds=1),
        )
        pendings.append(pending)
    services.transfers_settle()
    time.sleep(1.1)  # every pending transfer timed out: its post and void come too late...
    for pending in pendings[:10]:
        services.transfer_post(pending=pending, idempotency_key=key("post"))
        services.transfer_void(pending=pending, idempotency_key=key("void"))
    services.pendings_expire()  # ...and its expiry races them
    for pending in pendings[10:]:
        services.transfer_void(pending=pending, idempotency_key=key("void"))
        services.transfer_post(pending=pending, idempotency_key=key("post"))
    # Four settlers, a few transfers a batch, so phases of one pending transfer land in
    # different concurrent batches and wait on its row lock.
    in_threads(4, lambda i: services.transfers_settle(batch_size=3))
    services.transfers_settle()

    for pending in pendings:
        pending.refresh_from_db()
        assert pending.state == "EXPIRED"
        phases = Counter(
            (t.kind, t.state, t.reject_code) for t in Transfer.objects.filter(pending=pending)
        )
        settled = [phase for phase in phases if phase[1] == "SETTLED"]
        assert settled == [(TransferKind.EXPIRE, "SETTLED", "")], phases
    alice_account = Account.objects.get(pk=alice.account_id)
    assert (alice_account.balance, alice_account.reserved) == (1_000_000, 0)
    checkpoint_seal()
    assert audit_verify().ok


def test_racing_post_and_void_before_the_timeout_one_wins(audit_key):
    world = World.build()
    alice = world.wallet("Alice", klass=1, load=10_000)
    bob = world.wallet("Bob", klass=1)
    pendings = []
    for _ in range(30):
        pending, _ = services.transfer_reserve(
            kind=TransferKind.P2P,
            legs=[LegSpec(alice.account_id, bob.account_id, 1_000)],
            idempotency_key=key("hold"),
            timeout=timedelta(hours=1),
        )
        pendings.append(pending)
    services.transfers_settle()

    def decide(i: int) -> None:
        for pending in pendings:
            if i % 2:
                services.transfer_post(pending=pending, idempotency_key=f"post:{pending.pk}:{i}")
            else:
                services.transfer_void(pending=pending, idempotency_key=f"void:{pending.pk}:{i}")
            services.transfers_settle(batch_size=2)

    in_threads(4, decide)
    services.transfers_settle()
    posted = 0
    for pending in pendings:
        pending.refresh_from_db()
        phases = Transfer.objects.filter(pending=pending)
        assert phases.filter(state="SETTLED").count() == 1
        assert phases.filter(state="REJECTED").count() == 3
        posted += pending.state == "POSTED"
        assert pending.state in ("POSTED", "VOIDED")
    balances = {
        a.pk: (a.balance, a.reserved)
        for a in Account.objects.filter(pk__in=[alice.account_id, bob.account_id])
    }
    assert balances[alice.account_id] == (1_000_000 - posted * 1_000, 0)
    assert balances[bob.account_id] == (posted * 1_000, 0)
    checkpoint_seal()
    assert audit_verify().ok
