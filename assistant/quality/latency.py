"""Turn latency as counts per bucket, so medians and percentiles come from sums of daily rows.

Buckets grow by 5 % each, so a percentile read from them is within 2.5 % of the exact one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

_GROWTH = 1.05
_LOG_GROWTH = math.log(_GROWTH)


def bucket_of(latency_ms: float) -> int:
    """0 holds everything under 1 ms; bucket k >= 1 holds [1.05^(k-1), 1.05^k) ms."""
    if latency_ms < 1.0:
        return 0
    return int(math.log(latency_ms) / _LOG_GROWTH) + 1


def bucket_value(bucket: int) -> float:
    """The bucket's geometric middle, in ms."""
    if bucket <= 0:
        return 0.5
    return math.sqrt(_GROWTH ** (bucket - 1) * _GROWTH ** bucket)


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[int, int]:
    total: dict[int, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            total[int(bucket)] = total.get(int(bucket), 0) + count
    return total


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The latency below which ``fraction`` of the turns fall (nearest rank), or None without turns."""
    count = sum(histogram.values())
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(bucket_value(bucket), 1)
    return None  # unreachable: the ranks add up to count
