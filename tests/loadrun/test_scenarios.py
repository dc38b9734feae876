"""Scenario shapes: how transfers are split over phases and paced."""

import pytest

from wallets.loadrun.population import REFUND_LAG, population_plan
from wallets.loadrun.scenarios import (
    SCENARIOS,
    offered_by,
    offered_rate_at,
    plan,
    timeline,
    transfers_for,
)


def test_steady_is_one_constant_rate():
    (segment,) = timeline(SCENARIOS["steady"], 10_000, 1_000)
    assert (segment.count, segment.rate, segment.seconds) == (10_000, 1_000, 10)
    assert offered_by([segment], 2.5) == 2_500
    assert offered_by([segment], 60) == 10_000


def test_spike_surges_to_five_times_the_base_rate_and_back():
    before, surge, after = timeline(SCENARIOS["spike"], 12_000, 1_000)
    assert [s.count for s in (before, surge, after)] == [3_000, 6_000, 3_000]
    assert (before.rate, surge.rate, after.rate) == (1_000, 5_000, 1_000)
    assert (surge.start, after.start) == (3.0, pytest.approx(4.2))
    segments = [before, surge, after]
    assert offered_rate_at(segments, 1) == 1_000
    assert offered_rate_at(segments, 3.5) == 5_000
    assert offered_rate_at(segments, 5) == 1_000
    assert offered_by(segments, 3.0 + 0.6) == 3_000 + 3_000


def test_payday_loads_first_then_a_rush_on_a_few_merchants():
    segments = timeline(SCENARIOS["payday"], 5_000, 500)
    population = population_plan(seed=1, people=400, merchants=100)
    planned = list(plan(population, segments, 1))
    loads = [t for t in planned if t.phase == 0]
    rush = [t for t in planned if t.phase == 1]
    assert len(loads) == 1_000 and all(t.kind == "load" for t in loads)
    assert all(t.kind != "load" for t in rush)
    top5 = {m.index for m in sorted(population.merchants, key=lambda m: -m.weight)[:5]}
    to_merchants = [t for t in rush if t.kind == "merchant"]
    assert sum(t.payee in top5 for t in to_merchants) / len(to_merchants) > 0.75


def test_retail_pays_merchants_by_qr_and_refunds_some_earlier_qr_payments():
    segments = timeline(SCENARIOS["retail"], 20_000, None)
    population = population_plan(seed=2, people=400, merchants=40)
    planned = list(plan(population, segments, 2))
    by_index = {t.index: t for t in planned}
    qr = [t for t in planned if t.kind == "qr"]
    refunds = [t for t in planned if t.kind == "refund"]
    to_merchants = qr + [t for t in planned if t.kind == "merchant"]
    assert 0.7 < len(qr) / len(to_merchants) < 0.8
    assert 0.03 < len(refunds) / len(qr) < 0.07
    for refund in refunds:
        paid = by_index[refund.payee]
        # Of an earlier QR payment, by the merchant paid, all of it or half.
        assert paid.kind == "qr" and paid.index <= refund.index - REFUND_LAG
        assert refund.payer == paid.payee
        assert refund.amount in (paid.amount, max(1, paid.amount // 2))
    assert len({r.payee for r in refunds}) == len(refunds)  # each payment refunded once


def test_unpaced_runs_offer_everything_at_once():
    segments = timeline(SCENARIOS["spike"], 1_001, None)
    assert sum(s.count for s in segments) == 1_001
    assert offered_by(segments, 0) == 1_001


def test_a_duration_sets_the_number_of_transfers():
    assert transfers_for(SCENARIOS["steady"], rate=1_000, seconds=600) == 600_000
    segments = timeline(
        SCENARIOS["spike"], transfers_for(SCENARIOS["spike"], rate=100, seconds=60), 100
    )
    assert sum(s.seconds for s in segments) == pytest.approx(60, rel=0.01)
