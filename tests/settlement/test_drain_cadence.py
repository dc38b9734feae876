"""A worker process starts at most one drain per interval; a drain after a quiet spell
starts at once."""

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


def test_a_drain_too_soon_after_the_last_waits_out_the_interval():
    clock = Clock()
    cadence = DrainCadence(0.05, clock=clock, sleep=clock.sleep)
    cadence.wait()  # the first drain of the process
    clock.now += 0.01
    cadence.wait()  # 10 ms later: waits the 40 ms left
    clock.now += 0.03
    cadence.wait()  # 30 ms after that one started: 20 ms more
    assert clock.slept == [0.04, 0.02]


def test_a_drain_after_a_quiet_spell_starts_at_once():
    clock = Clock()
    cadence = DrainCadence(0.05, clock=clock, sleep=clock.sleep)
    cadence.wait()
    clock.now += 0.05
    cadence.wait()
    clock.now += 7
    cadence.wait()
    assert clock.slept == []


def test_no_interval_never_waits():
    clock = Clock()
    cadence = DrainCadence(0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        cadence.wait()
    assert clock.slept == []
