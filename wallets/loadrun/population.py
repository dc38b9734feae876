"""A seeded, synthetic e-CNY population and the payments it makes. Pure Python.

People are spread over the operators by market share and over the wallet classes by the
strength of their KYC; merchants' popularity follows a Pareto distribution (a few shops
take most payments); amounts are log-normal around everyday prices. The same seed gives
the same population and the same stream of payments.
"""

import bisect
import itertools
import random
from collections import Counter
from dataclasses import dataclass

# Rough shares of e-CNY wallets by operator: the big four lead, the online banks follow.
MARKET_SHARE = {
    "ICBC": 20,
    "CCB": 18,
    "ABC": 15,
    "BOC": 14,
    "PSBC": 10,
    "BOCOM": 8,
    "WEBANK": 8,
    "MYBANK": 7,
}
# People by KYC strength; class 1 (in person) is rare, anonymous class 4 common.
KYC_MIX = [("IN_PERSON", 5), ("REMOTE_ID_BANK", 35), ("REMOTE_ID", 25), ("PHONE_ONLY", 35)]
KYC_CLASS = {"IN_PERSON": 1, "REMOTE_ID_BANK": 2, "REMOTE_ID": 3, "PHONE_ONLY": 4}
# Default balance caps in fen by class (None: no cap); the runner passes the live table.
DEFAULT_CAPS = {1: None, 2: 50_000_000, 3: 2_000_000, 4: 1_000_000}
MERCHANT_TRADES = ["noodles", "grocery", "pharmacy", "bakery", "tea", "fruit", "hotpot", "books"]
PARETO_ALPHA = 1.2


@dataclass(frozen=True)
class Person:
    index: int
    operator: str
    kyc: str
    wallet_class: int
    opening_load: int  # fen


@dataclass(frozen=True)
class Merchant:
    index: int
    operator: str
    trade: str
    weight: float  # relative popularity


@dataclass(frozen=True)
class Population:
    seed: int
    people: tuple[Person, ...]
    merchants: tuple[Merchant, ...]

    def summary(self) -> dict:
        weights = sorted((m.weight for m in self.merchants), reverse=True)
        top = max(1, len(weights) // 10)
        return {
            "seed": self.seed,
            "people": len(self.people),
            "merchants": len(self.merchants),
            "people_by_class": dict(sorted(Counter(p.wallet_class for p in self.people).items())),
            "people_by_operator": dict(Counter(p.operator for p in self.people).most_common()),
            "merchants_by_operator": dict(
                Counter(m.operator for m in self.merchants).most_common()
            ),
            "top_10pct_merchants_share": round(sum(weights[:top]) / sum(weights), 3)
            if weights
            else 0.0,
            "opening_loads_fen": sum(p.opening_load for p in self.people),
        }


def population_plan(
    *, seed: int, people: int, merchants: int, caps: dict[int, int | None] | None = None
) -> Population:
    """Who is in the economy: deterministic for a seed."""
    caps = DEFAULT_CAPS if caps is None else caps
    rng = random.Random(f"population:{seed}")
    codes, shares = zip(*MARKET_SHARE.items(), strict=True)
    methods, mix = zip(*KYC_MIX, strict=True)
    persons = []
    for index in range(people):
        operator = rng.choices(codes, weights=shares)[0]
        kyc = rng.choices(methods, weights=mix)[0]
        klass = KYC_CLASS[kyc]
        cap = caps.get(klass)
        ceiling = min(cap, 2_000_000) if cap is not None else 2_000_000
        load = rng.randint(ceiling // 4, ceiling * 9 // 10)
        persons.append(Person(index, operator, kyc, klass, load))
    shops = [
        Merchant(
            index,
            rng.choices(codes, weights=shares)[0],
            rng.choice(MERCHANT_TRADES),
            rng.paretovariate(PARETO_ALPHA),
        )
        for index in range(merchants)
    ]
    return Population(seed=seed, people=tuple(persons), merchants=tuple(shops))


# A refund gives back a QR payment made at least this many transfers earlier (so it has
# usually settled), all of it or half.
REFUND_LAG = 1_000


@dataclass(frozen=True)
class Planned:
    """One transfer a run will offer: a payment (payee a merchant or a person), a load, a
    merchant payment by scanning the merchant's QR request ("qr"), or a merchant's refund
    of an earlier QR payment ("refund": `payer` is the merchant, `payee` the index of the
    payment refunded)."""

    index: int
    phase: int
    kind: str  # "merchant", "p2p", "load", "qr" or "refund"
    payer: int  # person index (for a load: the person loaded; for a refund: the merchant)
    payee: int  # merchant or person index (-1 for a load; the refunded index for a refund)
    amount: int  # fen


class PaymentStream:
    """The planned transfers of one phase, drawn from a seeded generator.

    `merchant_share` of payments go to merchants (the rest person to person); when
    `hot_merchants` is set, `hot_share` of merchant payments go to that many most popular
    shops (a payday rush on a few chains). `qr_share` of merchant payments are made by
    scanning a dynamic QR request, and `refund_share` of QR payments are later refunded.
    """

    def __init__(self, population: Population, rng: random.Random) -> None:
        self.population = population
        self.rng = rng
        by_weight = sorted(population.merchants, key=lambda m: -m.weight)
        self.by_popularity = [m.index for m in by_weight]
        self.cumulative = list(itertools.accumulate(m.weight for m in population.merchants))
        self.to_refund: list[Planned] = []  # QR payments drawn for a refund, oldest first

    def merchant(self, hot_merchants: int | None, hot_share: float) -> int:
        if hot_merchants and self.rng.random() < hot_share:
            return self.by_popularity[
                self.rng.randrange(min(hot_merchants, len(self.by_popularity)))
            ]
        point = self.rng.random() * self.cumulative[-1]
        return min(bisect.bisect_right(self.cumulative, point), len(self.cumulative) - 1)

    def amount(self, median_yuan: float, sigma: float = 0.9) -> int:
        return max(1, round(self.rng.lognormvariate(0, sigma) * median_yuan * 100))

    def draw(
        self,
        index: int,
        phase: int,
        *,
        kind: str,
        merchant_share: float,
        hot_merchants: int | None,
        hot_share: float,
        qr_share: float = 0.0,
        refund_share: float = 0.0,
    ) -> Planned:
        if self.to_refund and self.to_refund[0].index <= index - REFUND_LAG:
            paid = self.to_refund.pop(0)
            amount = paid.amount if self.rng.random() < 0.5 else max(1, paid.amount // 2)
            return Planned(index, phase, "refund", paid.payee, paid.index, amount)
        people = len(self.population.people)
        payer = self.rng.randrange(people)
        if kind == "load":
            return Planned(index, phase, "load", payer, -1, self.rng.randint(50, 2_000) * 100)
        if self.rng.random() < merchant_share or people < 2:
            payee = self.merchant(hot_merchants, hot_share)
            if qr_share and self.rng.random() < qr_share:
                paid = Planned(index, phase, "qr", payer, payee, self.amount(45))
                if self.rng.random() < refund_share:
                    self.to_refund.append(paid)
                return paid
            # Mostly everyday purchases; a few big tickets that small classes' limits refuse.
            if self.rng.random() < 0.03:
                return Planned(
                    index, phase, "merchant", payer, payee, self.rng.randint(1_500, 30_000) * 100
                )
            return Planned(index, phase, "merchant", payer, payee, self.amount(45))
        payee = self.rng.randrange(people - 1)
        payee += payee >= payer  # never oneself
        return Planned(index, phase, "p2p", payer, payee, self.amount(200))
