"""The doorbell's promise, on a real Redis: a drain promised for later keeps the flag up
until then, and a process that learns of it stops asking Redis until it lapses."""

import time

import pytest

from ewallet import celery_app
from ewallet.redisclient import redis_client
from settlement import doorbell

pytestmark = pytest.mark.redis


@pytest.fixture
def queue(monkeypatch):
    """Tasks go to the broker (no worker takes them): the test counts what rings sent."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    monkeypatch.setattr(doorbell, "_promised_until", 0.0)
    client = redis_client()
    client.delete(doorbell.PROMISE_KEY)
    doorbell.answer()
    celery_app.control.purge()

    def sent() -> int:
        return celery_app.control.purge()

    yield sent
    celery_app.conf.task_always_eager = eager
    client.delete(doorbell.PROMISE_KEY)
    doorbell.answer()
    celery_app.control.purge()


def flag_up() -> bool:
    return bool(redis_client().exists(doorbell.DOORBELL_KEY))


def test_without_a_promise_a_ring_wakes_a_worker_once_while_one_is_pending(queue):
    doorbell.ring()
    doorbell.ring()
    assert (flag_up(), queue()) == (True, 1)
    doorbell.answer()  # at once: nothing was promised
    assert not flag_up()
    doorbell.ring()
    assert queue() == 1


def test_a_promised_drain_keeps_the_flag_up_and_no_drain_answers_it_sooner(queue):
    doorbell.promise(0.2)
    started = time.monotonic()
    doorbell.answer()
    assert time.monotonic() - started >= 0.15
    assert not flag_up()
    assert redis_client().pttl(doorbell.PROMISE_KEY) == -2  # lapsed


def test_a_promise_wakes_a_worker_for_that_drain_unless_one_is_pending(queue):
    doorbell.promise(0.2)  # the flag was down: nobody else will send a task
    assert (flag_up(), queue()) == (True, 1)
    doorbell.promise(0.2)  # up now: the task above is still to come
    assert queue() == 0
    doorbell.promise(0)  # nothing promised: the flag and the queue are left as they were
    assert redis_client().pttl(doorbell.PROMISE_KEY) > 0
    assert queue() == 0


def test_a_process_that_learns_of_a_promise_asks_redis_no_more_until_it_lapses(queue):
    doorbell.promise(0.3)
    queue()
    doorbell.ring()  # finds the flag up and learns of the promise
    assert queue() == 0
    # Lower the flag behind the promise's back: a ring that asked Redis would raise it.
    redis_client().delete(doorbell.DOORBELL_KEY)
    doorbell.ring()
    assert (flag_up(), queue()) == (False, 0)
    while redis_client().exists(doorbell.PROMISE_KEY):
        time.sleep(0.01)
    doorbell.ring()
    assert (flag_up(), queue()) == (True, 1)


def test_a_busy_drain_promises_its_successor_only_from_a_worker(queue, world, monkeypatch):
    from settlement import tasks
    from settlement.models import Transfer

    monkeypatch.setattr(tasks, "_CADENCE", tasks.DrainCadence(10))
    monkeypatch.setattr(doorbell, "ring", lambda: None)  # queued, drained below
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    for _ in range(3):
        world.pay_later(alice, bob, 100)
    # In the caller's own thread (the embedded default) no payment can ring meanwhile,
    # and a promise would hold that thread: its successor would run there and wait it out.
    celery_app.conf.task_always_eager = True
    started = time.monotonic()
    assert tasks.settle_pending.delay().get()["settled"] == 3
    assert time.monotonic() - started < 5
    assert redis_client().pttl(doorbell.PROMISE_KEY) == -2
    # The same drain as a worker runs it promises the next one when its cadence allows,
    # ten seconds on, and wakes a worker for it.
    celery_app.conf.task_always_eager = False
    monkeypatch.setattr(tasks, "_CADENCE", tasks.DrainCadence(10))  # its first drain
    for _ in range(3):
        world.pay_later(alice, bob, 100)
    assert tasks.settle_pending()["settled"] == 3
    assert 9_000 < redis_client().pttl(doorbell.PROMISE_KEY) <= 10_000
    assert (flag_up(), queue()) == (True, 1)
    assert Transfer.objects.filter(state="RECEIVED").count() == 0
