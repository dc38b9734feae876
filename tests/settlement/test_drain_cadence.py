"""Under load a worker process starts at most one drain per interval; a drain after a
quiet spell, or after one that found a single transfer, starts at once."""

from settlement.tasks import DrainCadence


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def cadence_of(clock: Clock, seconds: float = 0.05) -> DrainCadence:
    return DrainCadence(seconds, clock=clock, sleep=clock.sleep)


def test_under_load_a_drain_too_soon_after_the_last_waits_out_the_interval():
    clock = Clock()
    cadence = cadence_of(clock)
    cadence.wait()  # the first drain of the process
    cadence.drained(4)
    clock.now += 0.01
    cadence.wait()  # 10 ms later: waits the 40 ms left
    cadence.drained(30)
    clock.now += 0.03
    cadence.wait()  # 30 ms after that one started: 20 ms more
    assert clock.slept == [0.04, 0.02]


def test_a_drain_after_a_quiet_spell_starts_at_once():
    clock = Clock()
    cadence = cadence_of(clock)
    cadence.wait()
    cadence.drained(50)
    clock.now += 0.05
    cadence.wait()
    cadence.drained(50)
    clock.now += 7
    cadence.wait()
    assert clock.slept == []


def test_one_client_paying_and_waiting_is_never_held_back():
    clock = Clock()
    cadence = cadence_of(clock)
    for _ in range(5):  # each drain finds the one payment just made
        cadence.wait()
        cadence.drained(1)
        clock.now += 0.005
    cadence.wait()
    cadence.drained(0)  # a duplicate ring finds nothing
    clock.now += 0.005
    cadence.wait()
    assert clock.slept == []


def test_no_interval_never_waits():
    clock = Clock()
    cadence = cadence_of(clock, 0)
    for _ in range(3):
        cadence.wait()
        cadence.drained(100)
    assert clock.slept == []
