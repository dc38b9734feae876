"""The doorbell's coalescer: each ring is followed by one sent after it, and rings moments
apart are sent once. In memory, with a recording in place of Redis."""

import threading
import time

import pytest

from settlement.doorbell import Coalescer


class Recording:
    """Stands in for the ring to Redis: when each was sent, and from which thread."""

    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[tuple[float, str]] = []
        self.fail_first = fail_first

    def __call__(self) -> None:
        self.sent.append((time.monotonic(), threading.current_thread().name))
        if len(self.sent) <= self.fail_first:
            raise ConnectionError("Redis is away")


def settled(coalescer: Coalescer, timeout: float = 5.0) -> None:
    """Until nothing is owed (a ring being sent has been sent)."""
    deadline = time.monotonic() + timeout
    while coalescer._owed.is_set() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(coalescer.seconds * 2)  # a ring the thread had just taken on finishes
    assert not coalescer._owed.is_set()


def test_a_ring_after_a_quiet_spell_goes_at_once_in_the_callers_thread():
    sent = Recording()
    coalescer = Coalescer(0.05, sent)
    coalescer.ring()
    assert [thread for _, thread in sent.sent] == [threading.current_thread().name]


def test_rings_moments_apart_are_sent_once_after_the_last_of_them():
    sent = Recording()
    coalescer = Coalescer(0.05, sent)
    for _ in range(50):
        coalescer.ring()
    last_ring = time.monotonic()
    assert len(sent.sent) == 1  # the first, at once; the other 49 are owed
    settled(coalescer)
    assert len(sent.sent) == 2
    at, thread = sent.sent[1]
    assert thread == "doorbell" and at > last_ring


def test_under_load_the_first_ring_after_the_interval_sends_what_is_owed():
    """Not the thread: a ring from a busy process's thread waits for the interpreter."""
    sent = Recording()
    coalescer = Coalescer(0.05, sent)
    coalescer.ring()
    coalescer.ring()  # owed
    time.sleep(0.06)  # past the interval, before the thread's turn (two intervals)
    coalescer.ring()
    assert [thread for _, thread in sent.sent] == [threading.current_thread().name] * 2
    settled(coalescer)
    assert len(sent.sent) == 2  # nothing was left owed for the thread to send


def test_after_the_interval_a_ring_goes_at_once_again():
    sent = Recording()
    coalescer = Coalescer(0.02, sent)
    coalescer.ring()
    coalescer.ring()
    settled(coalescer)
    time.sleep(0.05)
    coalescer.ring()
    assert len(sent.sent) == 3
    assert sent.sent[2][1] == threading.current_thread().name


def test_an_owed_ring_that_fails_is_logged_and_the_next_goes(caplog):
    sent = Recording(fail_first=2)
    coalescer = Coalescer(0.02, sent)
    with pytest.raises(ConnectionError):
        coalescer.ring()  # at once: the caller sees it (on_commit's robust hook logs it)
    coalescer.ring()  # owed: its failure is the thread's
    settled(coalescer)
    assert "the doorbell's owed ring failed" in caplog.text
    time.sleep(0.05)
    coalescer.ring()
    assert len(sent.sent) == 3


def test_each_burst_of_rings_from_many_threads_is_followed_by_a_ring_sent_after_it():
    """The promise a drain relies on: after the last ring of a burst (each made after a
    commit) a ring is sent to Redis, so the flag is checked after every commit; and within
    a burst the rings are coalesced."""
    sent = Recording()
    coalescer = Coalescer(0.01, sent)
    bursts: list[tuple[float, float]] = []

    def payer(seed: int) -> None:
        for i in range(50):
            coalescer.ring()
            time.sleep(((seed * 7 + i * 13) % 5) / 2000)  # 0 to 2 ms between payments

    for _ in range(5):
        threads = [threading.Thread(target=payer, args=(seed,)) for seed in range(4)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bursts.append((start, time.monotonic()))
        time.sleep(0.2)  # a quiet spell, twenty intervals long
    settled(coalescer)
    sent_at = [at for at, _ in sent.sent]
    for (_, end), (next_start, _) in zip(bursts, [*bursts[1:], (float("inf"), 0)], strict=True):
        assert any(end <= at < next_start for at in sent_at)
    assert len(sent_at) < 5 * 200 / 4  # 200 rings a burst over tens of ms: coalesced
