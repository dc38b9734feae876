"""The default cap on a settlement batch: a backlog of that many is settled by one batch,
on whichever database runs the tests (SQLite's limit on bound parameters included)."""

from django.conf import settings

from settlement.audit.verify import audit_verify
from settlement.bench import queue_received
from settlement.models import Account, Transfer, TransferKind
from settlement.services import transfers_settle


def test_a_backlog_the_size_of_the_default_cap_settles_in_one_batch(world, audit_key):
    size = settings.EWALLET_SETTLEMENT_BATCH_SIZE
    assert size == 5000
    accounts = [world.wallet(f"W{i}", klass=1, load=1_000).account for i in range(40)]
    queue_received(
        "cap",
        TransferKind.P2P,
        [
            [("ECNY", accounts[i % 40], accounts[(i * 7 + 1) % 40], 1 + i % 50)]
            for i in range(size + 1)
        ],
    )
    before = sum(
        Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True)
    )

    first = transfers_settle(max_batches=1)

    assert first.claimed == size
    assert Transfer.objects.filter(kind="P2P", state="RECEIVED").count() == 1
    assert transfers_settle().claimed == 1
    after = sum(
        Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True)
    )
    assert after == before
    assert audit_verify().ok
