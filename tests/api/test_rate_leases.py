"""Rate windows counted in blocks (wallets/api/rate_leases.py): processes sharing a window
never let more than its limit through, and ask the shared counter once per block."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from wallets.api.rate_leases import Leases, block_size


class SharedCounter:
    """Redis's INCRBY, in memory, counting the round trips."""

    def __init__(self):
        self.totals = Counter()
        self.trips = 0

    def take(self, key: str, n: int, ttl: int) -> int:
        assert ttl >= 1
        self.trips += 1
        self.totals[key] += n
        return self.totals[key]


def test_blocks_are_a_fiftieth_of_the_limit_between_one_and_a_hundred():
    assert [block_size(limit) for limit in (1, 3, 99, 100, 2000, 5000, 10**6)] == [
        1,
        1,
        1,
        2,
        40,
        100,
        100,
    ]


def test_a_busy_caller_costs_one_round_trip_per_block():
    counter = SharedCounter()
    leases = Leases(counter.take)
    allowed = [leases.allow("w", 2000, now=0.0, ends=1.0) for _ in range(2000)]
    assert all(allowed) and counter.trips == 50
    assert leases.allow("w", 2000, now=0.5, ends=1.0) is False  # the 2,001st


def test_small_limits_count_every_request():
    counter = SharedCounter()
    leases = Leases(counter.take)
    assert [leases.allow("w", 3, 0.0, 60.0) for _ in range(5)] == [True] * 3 + [False] * 2
    assert counter.trips == 5


def test_a_block_straddling_the_limit_grants_only_what_is_left():
    counter = SharedCounter()
    counter.totals["w"] = 1990  # other processes have counted these
    leases = Leases(counter.take)
    assert sum(leases.allow("w", 2000, 0.0, 1.0) for _ in range(50)) == 10


@given(
    limit=st.integers(1, 500),
    processes=st.integers(1, 6),
    order=st.lists(st.integers(0, 5), min_size=0, max_size=1500),
)
def test_processes_sharing_a_window_never_exceed_its_limit(limit, processes, order):
    counter = SharedCounter()
    leases = [Leases(counter.take) for _ in range(processes)]
    allowed = sum(leases[i % processes].allow("w", limit, 0.0, 1.0) for i in order)
    assert allowed <= limit
    # ...and refuse early by at most what the others hold unspent.
    if len(order) >= limit + processes * block_size(limit):
        assert allowed >= limit - (processes - 1) * block_size(limit)


def test_each_window_has_its_own_count_and_ended_ones_are_dropped():
    counter = SharedCounter()
    leases = Leases(counter.take)
    for window in range(1100):
        assert leases.allow(f"w{window}", 2000, now=window, ends=window + 1)
    assert len(leases._held) <= 1001
