"""Load-run scenarios: small declarative definitions of what is offered, and when. Pure.

A scenario is a sequence of phases; each takes a share of the run's transfers, offers
them at a multiple of the base rate, and says what they are (payments or loads from the
operators' vaults, how many go to merchants, whether a few shops draw a rush). A new
scenario (a red-envelope lottery, an offline-payment day) is one more entry in SCENARIOS.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass

from wallets.loadrun.population import PaymentStream, Planned, Population


@dataclass(frozen=True)
class Phase:
    name: str
    share: float  # of the run's transfers
    rate_factor: float = 1.0  # times the base rate
    kind: str = "pay"  # "pay" or "load"
    merchant_share: float = 0.7
    hot_merchants: int | None = None
    hot_share: float = 0.0
    qr_share: float = 0.0  # of merchant payments, made by scanning a dynamic QR request
    refund_share: float = 0.0  # of QR payments, refunded later (all or half)


@dataclass(frozen=True)
class VoucherTerms:
    """A consumption-voucher programme run around the payments (wallets/loadrun/vouchers.py):
    set up, funded and drawn before them, its window (`days`) compressed into the run,
    and swept after them as if the window had closed."""

    voucher_yuan: int = 200
    winners_share: float = 0.5  # the programme's count, as a share of the people
    applicants_share: float = 0.8  # of the people, who apply
    repeat_share: float = 0.05  # of the applicants, who apply twice (refused)
    mccs: tuple[str, ...] = ("5411", "5499", "5812", "5912", "5942")
    regions: tuple[str, ...] = ("440303",)  # Luohu, Shenzhen
    days: int = 7


@dataclass(frozen=True)
class OfflineTerms:
    """A day of dual-offline payments run after the online ones (wallets/loadrun/offline.py):
    a share of the people get a hardware wallet and load it, every merchant a counter
    terminal; for `hours` (simulated, not waited for) cards pay terminals and each other with
    no network and sync every few hours, some only a day or more late, in whatever order
    that makes; a seeded share of the cards cheat (cloned, forked or tampered to spend past
    their reserve). At the end everyone but the cheaters syncs what is left."""

    device_share: float = 0.5  # of the people, who get a card
    load_yuan: tuple[int, int] = (100, 500)  # each card's load, at most its class's cap
    payments_per_card: float = 6.0  # on average, over the day
    merchant_share: float = 0.8  # of offline payments, to a merchant's terminal
    amount_yuan: tuple[int, int] = (5, 120)
    hours: float = 24.0
    sync_every_hours: tuple[float, float] = (2.0, 10.0)
    late_share: float = 0.2  # of the devices, whose first sync comes a day or two late
    cheater_share: float = 0.03  # of the cards


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    phases: tuple[Phase, ...]
    vouchers: VoucherTerms | None = None
    offline: OfflineTerms | None = None


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario(
            "steady",
            "a constant rate of everyday payments, 70% to merchants",
            (Phase("steady", 1.0),),
        ),
        Scenario(
            "spike",
            "a Double-11 style surge: the base rate, five times it, then the base rate again",
            (
                Phase("before", 0.25),
                Phase("surge", 0.5, rate_factor=5.0, merchant_share=0.9),
                Phase("after", 0.25),
            ),
        ),
        Scenario(
            "payday",
            "wages loaded from the operators' vaults, then a rush of merchant payments "
            "concentrated on a few popular merchants",
            (
                Phase("payday loads", 0.2, rate_factor=1.0, kind="load"),
                Phase(
                    "merchant rush",
                    0.8,
                    rate_factor=3.0,
                    merchant_share=0.95,
                    hot_merchants=5,
                    hot_share=0.8,
                ),
            ),
        ),
        Scenario(
            "retail",
            "merchant acquiring: 80% of payments to merchants, most by scanning the "
            "merchant's dynamic QR request, and 5% of those refunded later, all or half",
            (Phase("retail", 1.0, merchant_share=0.8, qr_share=0.75, refund_share=0.05),),
        ),
        Scenario(
            "shenzhen-2020",
            "the Luohu red envelopes of October 2020: applicants, a seeded lottery granting "
            "200 CNY vouchers, a week of QR payments at merchants compressed into the run "
            "(vouchers first where the category and region allow them), then the unspent "
            "value returned to the programme and the government",
            (Phase("red-envelope week", 1.0, merchant_share=0.9, qr_share=1.0),),
            vouchers=VoucherTerms(),
        ),
        Scenario(
            "suzhou-2020",
            "the Suzhou pilot of December 2020, with dual-offline payments: the day's online "
            "payments, then half the people with hardware wallets and every merchant with a "
            "counter terminal paying offline for a day, syncing every few hours or a day or "
            "two late and out of order, with a seeded share of cheating cards caught at sync",
            (Phase("online day", 1.0, merchant_share=0.8),),
            offline=OfflineTerms(),
        ),
    ]
}


@dataclass(frozen=True)
class Segment:
    """A phase laid on the run's timeline: transfers [first, first + count)."""

    phase: Phase
    first: int
    count: int
    rate: float | None  # offered transfers/s; None: as fast as the driver goes
    start: float  # seconds from the start (0 when unpaced)
    seconds: float


def timeline(scenario: Scenario, transfers: int, rate: float | None) -> list[Segment]:
    """Split `transfers` over the phases (by share, the remainder to the last) and time them."""
    total_share = sum(phase.share for phase in scenario.phases)
    segments, first, start = [], 0, 0.0
    for number, phase in enumerate(scenario.phases):
        last = number == len(scenario.phases) - 1
        count = transfers - first if last else round(transfers * phase.share / total_share)
        phase_rate = rate * phase.rate_factor if rate else None
        seconds = count / phase_rate if phase_rate else 0.0
        segments.append(Segment(phase, first, count, phase_rate, start, seconds))
        first += count
        start += seconds
    return segments


def transfers_for(scenario: Scenario, *, rate: float, seconds: float) -> int:
    """How many transfers make a paced run last `seconds` at base `rate`."""
    total_share = sum(phase.share for phase in scenario.phases)
    per_transfer = sum(
        phase.share / total_share / (rate * phase.rate_factor) for phase in scenario.phases
    )
    return max(1, round(seconds / per_transfer))


def offered_by(segments: list[Segment], elapsed: float) -> int:
    """How many transfers a paced run should have offered `elapsed` seconds in."""
    offered = 0
    for segment in segments:
        if segment.rate is None:
            return sum(s.count for s in segments)
        if elapsed >= segment.start + segment.seconds:
            offered += segment.count
        else:
            offered += int(max(0.0, elapsed - segment.start) * segment.rate)
            break
    return offered


def offered_rate_at(segments: list[Segment], elapsed: float) -> float | None:
    for segment in segments:
        if segment.rate is None:
            return None
        if elapsed < segment.start + segment.seconds:
            return segment.rate
    return 0.0


def plan(population: Population, segments: list[Segment], seed: int) -> Iterator[Planned]:
    """The run's transfers in order: the same population, segments and seed, the same run."""
    stream = PaymentStream(population, random.Random(f"payments:{seed}"))
    for number, segment in enumerate(segments):
        phase = segment.phase
        for index in range(segment.first, segment.first + segment.count):
            yield stream.draw(
                index,
                number,
                kind="load" if phase.kind == "load" else "pay",
                merchant_share=phase.merchant_share,
                hot_merchants=phase.hot_merchants,
                hot_share=phase.hot_share,
                qr_share=phase.qr_share,
                refund_share=phase.refund_share,
            )
