"""Real `celery worker --beat` processes settling from PostgreSQL, woken through Redis.

Each test starts its own worker against the test database, and stops it before the
database is flushed. Nothing here is mocked: the doorbell goes through the broker, the
sweep through beat, and a killed worker is killed with SIGKILL.
"""

import time

import pytest
from django.db import connection

from settlement import doorbell
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.bench import queue_received
from settlement.models import Account, AuditLeaf, Checkpoint, Posting, Transfer, TransferKind
from settlement.tasks import settle_pending
from tests.helpers import World, balance

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return World.build()


def wait_until_decided(transfers=None, timeout: float = 60) -> None:
    queue = Transfer.objects.filter(state="RECEIVED")
    if transfers is not None:
        queue = queue.filter(pk__in=[t.pk for t in transfers])
    deadline = time.monotonic() + timeout
    while queue.exists():
        assert time.monotonic() < deadline, f"{queue.count()} transfers still RECEIVED"
        time.sleep(0.1)


def assert_each_settled_exactly_once() -> None:
    # The last leaves may not be sealed yet: seal them, as beat would a moment later.
    checkpoint_seal()
    settled = Transfer.objects.filter(state="SETTLED")
    assert AuditLeaf.objects.count() == settled.count()
    indexes = list(AuditLeaf.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(len(indexes)))
    assert not Posting.objects.filter(transfer__state="REJECTED").exists()
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.checkpoints >= 1


def test_a_payment_is_settled_by_the_worker_the_doorbell_wakes(world, start_worker):
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob", operator="CCB")
    start_worker()

    transfer = world.pay_later(alice, bob, 2_550, idempotency_key="pay:1")

    wait_until_decided([transfer], timeout=20)
    assert world.state(transfer) == ("SETTLED", "")
    assert (balance(alice), balance(bob)) == (10_000 - 2_550, 2_550)
    assert_each_settled_exactly_once()


def test_a_lost_doorbell_is_caught_by_the_sweep(world, start_worker):
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    # A flag that says a task is pending, with no task behind it: the ring is swallowed.
    doorbell.answer()
    assert doorbell.raise_flag()
    start_worker()

    transfer = world.pay_later(alice, bob, 100, idempotency_key="p")

    wait_until_decided([transfer], timeout=20)  # beat sweeps every 0.5 s here
    assert world.state(transfer) == ("SETTLED", "")
    assert_each_settled_exactly_once()


def test_duplicate_doorbells_settle_each_transfer_once(world, start_worker, monkeypatch):
    wallets = [world.wallet(f"W{i}", klass=1, load=1_000) for i in range(10)]
    monkeypatch.setattr(doorbell, "ring", lambda: None)  # the queue fills silently first
    for i in range(500):
        payer, payee = wallets[i % 10], wallets[(i * 7 + 3) % 10]
        if payer != payee:
            world.pay_later(payer, payee, 1_000 + i, idempotency_key=f"dup:{i}")
    total_before = sum(balance(wallet) for wallet in wallets)
    start_worker()

    for _ in range(25):
        settle_pending.delay()

    wait_until_decided(timeout=30)
    assert sum(balance(wallet) for wallet in wallets) == total_before
    assert_each_settled_exactly_once()


def test_a_worker_killed_mid_drain_loses_nothing_and_settles_nothing_twice(world, start_worker):
    accounts = [world.wallet(f"W{i}", klass=1, load=50_000).account for i in range(200)]
    payments = [
        [("ECNY", accounts[i % 200], accounts[(i * 31 + 7) % 200], 100 + i % 9_000)]
        for i in range(40_000)
        if i % 200 != (i * 31 + 7) % 200
    ]
    queue_received("kill", TransferKind.P2P, payments)
    queued = len(payments)
    before = {a.pk: a.balance for a in Account.objects.filter(pk__in=[a.pk for a in accounts])}

    first = start_worker(batch_size=200)
    settle_pending.delay()
    deadline = time.monotonic() + 60
    while AuditLeaf.objects.filter(transfer__kind="P2P").count() < 2_000:
        assert time.monotonic() < deadline, "the first worker never got going"
        time.sleep(0.05)
    first.kill()
    halfway = Transfer.objects.filter(kind="P2P").exclude(state="RECEIVED").count()
    assert 0 < halfway < queued, "the kill must land mid-drain for this test to mean anything"

    start_worker(batch_size=200)  # no new doorbell: the sweep finds the rest
    wait_until_decided(timeout=120)

    assert Transfer.objects.filter(kind="P2P").count() == queued
    sealed_while_draining = Checkpoint.objects.count()
    assert sealed_while_draining > 1, "checkpoints are sealed while the workers settle"
    after = {a.pk: a.balance for a in Account.objects.filter(pk__in=before)}
    assert sum(after.values()) == sum(before.values())
    assert_each_settled_exactly_once()


def test_a_worker_reconnects_after_its_database_connections_are_cut(world, start_worker):
    # As after a PostgreSQL restart (the chaos run's): every backend but this test's is
    # terminated. Celery keeps a worker's connection for hundreds of tasks without looking
    # at it, so without a check before each task every later task fails on the dead one.
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    start_worker(concurrency=1)  # one process, so no other one can take the task instead
    first = world.pay_later(alice, bob, 100, idempotency_key="before")
    wait_until_decided([first], timeout=20)
    time.sleep(1.5)  # a sweep and a checkpoint or two on the same connections

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1

    second = world.pay_later(alice, bob, 200, idempotency_key="after")
    wait_until_decided([second], timeout=20)
    assert world.state(second) == ("SETTLED", "")
    assert_each_settled_exactly_once()
