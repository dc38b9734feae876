"""Figures from a run's timings: percentiles and per-interval series. Pure Python."""

import math
from collections import Counter
from collections.abc import Iterable, Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, by linear interpolation (numpy's
    default); 0.0 for no values."""
    if not ordered:
        return 0.0
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(values_ms: Iterable[float]) -> dict:
    ordered = sorted(values_ms)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 50), 2),
        "p95": round(percentile(ordered, 95), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


def per_interval(
    offsets: Iterable[float], *, interval: float = 1.0, end: float | None = None
) -> list[int]:
    """Counts of events per interval from time 0 (offsets in seconds, negatives ignored)."""
    counts = Counter(int(offset // interval) for offset in offsets if offset >= 0)
    buckets = max(counts, default=-1) + 1
    if end is not None:
        buckets = max(buckets, math.ceil(end / interval))
    return [counts.get(bucket, 0) for bucket in range(buckets)]


def sustained_rate(counts: Sequence[int], interval: float = 1.0) -> float:
    """Events/s between the first and the last non-empty interval (ramp and tail cut)."""
    busy = [i for i, count in enumerate(counts) if count]
    if not busy:
        return 0.0
    span = busy[-1] - busy[0] + 1
    return sum(counts[busy[0] : busy[-1] + 1]) / (span * interval)


def histogram(values: Sequence[float], bins: int = 40) -> list[tuple[float, int]]:
    """(lower edge, count) over equal-width bins between min and max."""
    if not values:
        return []
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = Counter(min(int((v - low) / width), bins - 1) for v in values)
    return [(low + i * width, counts.get(i, 0)) for i in range(bins)]


def rate_between(times: Sequence[float]) -> float | None:
    """Events/s from the first event to the last (None for fewer than two)."""
    if len(times) < 2:
        return None
    span = max(times) - min(times)
    return round((len(times) - 1) / span, 1) if span > 0 else None


def nice_interval(seconds: float) -> float:
    """The smallest of 0.1, 0.2, 0.5, 1, 2, 5, 10, ... seconds at least `seconds`."""
    for scale in (0.1, 1, 10, 100, 1000):
        for step in (1, 2, 5):
            if step * scale >= seconds:
                return round(step * scale, 1)
    return 10_000.0
