from wallets.loadrun import stats


def test_percentiles_interpolate_like_numpy():
    values = list(range(1, 101))
    assert stats.percentile(values, 50) == 50.5
    assert stats.percentile(values, 99) == 99.01
    assert stats.percentile(values, 100) == 100
    assert stats.percentile([7], 99) == 7
    assert stats.percentile([], 50) == 0.0


def test_latency_summary():
    summary = stats.latency_summary([5, 1, 3, 2, 4])
    assert summary == {"count": 5, "p50": 3, "p95": 4.8, "p99": 4.96, "max": 5, "mean": 3}
    assert stats.latency_summary([])["p99"] is None


def test_per_interval_counts_and_rates():
    counts = stats.per_interval([0.1, 0.2, 1.5, 3.9, -1], interval=1.0)
    assert counts == [2, 1, 0, 1]
    assert stats.per_interval([0.1], interval=0.5, end=2) == [1, 0, 0, 0]
    assert stats.sustained_rate([0, 4, 0, 2, 0]) == 2.0
    assert stats.rate_between([1.0, 2.0, 3.0]) == 1.0
    assert stats.rate_between([1.0]) is None


def test_nice_intervals_and_histogram():
    assert [stats.nice_interval(s) for s in (0.01, 0.15, 0.7, 3, 40)] == [0.1, 0.2, 1, 5, 50]
    bins = stats.histogram([0, 1, 2, 3], bins=2)
    assert bins == [(0, 2), (1.5, 2)]
