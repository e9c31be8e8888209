"""Latency histograms kept by the engine thread (time to first token, time between tokens).

Plain counters with fixed buckets, so the engine needs no metrics library: the HTTP layer
reads snapshots and writes them out in Prometheus format. Written by the engine thread only;
a snapshot read from another thread may be one observation behind, which metrics tolerate.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

# Seconds. TTFT on a CPU ranges from milliseconds (cached, short) to tens of seconds (long
# prompts behind a queue); inter-token latency sits in the millisecond range.
BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


@dataclass(frozen=True)
class HistogramSnapshot:
    buckets: tuple[float, ...]  # upper bounds; the last, implicit bucket is +Inf
    counts: tuple[int, ...]  # observations per bucket (not cumulative), len(buckets) + 1
    total_seconds: float
    count: int


class LatencyHistogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self._buckets = buckets
        self._counts = [0] * (len(buckets) + 1)
        self._total = 0.0
        self._count = 0

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(self._buckets, seconds)] += 1
        self._total += seconds
        self._count += 1

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(self._buckets, tuple(self._counts), self._total, self._count)
