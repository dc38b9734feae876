"""The synthetic population and its payments: seeded, shaped as documented."""

from collections import Counter

from wallets.loadrun.population import MARKET_SHARE, population_plan
from wallets.loadrun.scenarios import SCENARIOS, plan, timeline


def test_the_same_seed_gives_the_same_population_and_payments():
    first = population_plan(seed=42, people=300, merchants=30)
    second = population_plan(seed=42, people=300, merchants=30)
    assert first == second
    segments = timeline(SCENARIOS["payday"], 2_000, 500)
    assert list(plan(first, segments, 42)) == list(plan(second, segments, 42))


def test_another_seed_gives_another_population():
    assert population_plan(seed=1, people=300, merchants=30) != population_plan(
        seed=2, people=300, merchants=30
    )
    population = population_plan(seed=1, people=300, merchants=30)
    segments = timeline(SCENARIOS["steady"], 500, None)
    assert list(plan(population, segments, 1)) != list(plan(population, segments, 2))


def test_people_follow_market_share_and_kyc_classes():
    population = population_plan(seed=7, people=20_000, merchants=10)
    by_operator = Counter(p.operator for p in population.people)
    total = sum(MARKET_SHARE.values())
    for code, share in MARKET_SHARE.items():
        assert abs(by_operator[code] / 20_000 - share / total) < 0.015, code
    by_class = Counter(p.wallet_class for p in population.people)
    assert set(by_class) == {1, 2, 3, 4}
    assert by_class[1] < by_class[4]  # in-person KYC is rare, phone-only common
    caps = {2: 50_000_000, 3: 2_000_000, 4: 1_000_000}
    for person in population.people:
        assert 0 < person.opening_load <= caps.get(person.wallet_class, 2_000_000)


def test_merchant_popularity_is_heavy_tailed():
    population = population_plan(seed=3, people=2_000, merchants=1_000)
    segments = timeline(SCENARIOS["steady"], 50_000, None)
    payees = Counter(t.payee for t in plan(population, segments, 3) if t.kind == "merchant")
    top_tenth = sum(n for _, n in payees.most_common(100))
    assert top_tenth / sum(payees.values()) > 0.3  # 10% of shops take well over 10%
    assert population.summary()["top_10pct_merchants_share"] > 0.3


def test_payments_are_realistic():
    population = population_plan(seed=5, people=500, merchants=50)
    planned = list(plan(population, timeline(SCENARIOS["steady"], 20_000, None), 5))
    kinds = Counter(t.kind for t in planned)
    assert 0.65 < kinds["merchant"] / len(planned) < 0.75
    assert all(t.payer != t.payee for t in planned if t.kind == "p2p")
    amounts = sorted(t.amount for t in planned if t.kind == "merchant")
    median = amounts[len(amounts) // 2]
    assert 3_000 < median < 7_000  # about 45 yuan
    assert all(isinstance(t.amount, int) and t.amount > 0 for t in planned)
