"""The engine page's numbers, from the counters `/metrics` exposes (each engine's
`EngineStats`): levels as read, rates from two readings of the counters, percentiles from
the latency histograms' buckets (interpolated inside a bucket, as Prometheus'
`histogram_quantile` does).

"Recent" means between the reading taken now and one taken about `WINDOW_SECONDS` earlier
(readings are taken whenever someone looks at the page, and shared by every viewer);
"since start" means over the engine's whole life. Pure: readings come in with the time they
were taken, so all of this is tested without a server.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from antiphon.engine.base import EngineStats, UpstreamStats
from antiphon.engine.latency import HistogramSnapshot

WINDOW_SECONDS = 10.0  # how far back "recent" looks
KEEP_SECONDS = 30.0  # an older reading (nobody looked for a while) is no baseline
MIN_SPAN_SECONDS = 0.5  # readings closer together than this are not kept (many viewers)


@dataclass(frozen=True)
class Reading:
    """Every served model's counters at one moment (`at`: monotonic seconds)."""

    at: float
    stats: Mapping[str, EngineStats]


class Readings:
    """Recent readings, oldest first; event loop thread only."""

    def __init__(self, window: float = WINDOW_SECONDS, keep: float = KEEP_SECONDS) -> None:
        self._window = window
        self._keep = keep
        self._history: deque[Reading] = deque()

    def add(self, reading: Reading) -> Reading | None:
        """Keep `reading`; return the baseline to compare it with: the newest reading at least
        `window` old, else the oldest one (a shorter span) — None when there is none yet."""
        history = self._history
        while history and history[0].at < reading.at - self._keep:
            history.popleft()
        while len(history) >= 2 and history[1].at <= reading.at - self._window:
            history.popleft()  # the next one is old enough to serve as the baseline
        baseline = history[0] if history and reading.at - history[0].at >= MIN_SPAN_SECONDS else None
        if not history or reading.at - history[-1].at >= MIN_SPAN_SECONDS:
            history.append(reading)
        return baseline


def quantile(histogram: HistogramSnapshot, q: float) -> float | None:
    """The `q` quantile of the observations, None without any; `inf` when it lies in the
    open-ended top bucket (all that is known is that it exceeds the last bound)."""
    total = sum(histogram.counts)
    if total == 0:
        return None
    rank, below = q * total, 0
    for index, count in enumerate(histogram.counts):
        if count and below + count >= rank:
            if index == len(histogram.buckets):
                return math.inf
            lower = histogram.buckets[index - 1] if index else 0.0
            upper = histogram.buckets[index]
            return lower + (upper - lower) * (rank - below) / count
        below += count
    return math.inf  # unreachable: the counts add up to `total`


def since(now: HistogramSnapshot, then: HistogramSnapshot) -> HistogramSnapshot:
    """The observations made between two snapshots of one histogram."""
    if now.buckets != then.buckets or now.count < then.count:
        return now  # not the same histogram (cannot happen while a process lives)
    counts = tuple(new - old for new, old in zip(now.counts, then.counts, strict=True))
    return HistogramSnapshot(now.buckets, counts, now.total_seconds - then.total_seconds,
                             now.count - then.count)


@dataclass(frozen=True)
class Percentiles:
    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, histogram: HistogramSnapshot) -> Percentiles:
        return cls(quantile(histogram, 0.5), quantile(histogram, 0.95))


@dataclass(frozen=True)
class ModelNumbers:
    """What the page shows for one model. None: not known (no baseline yet, nothing observed
    in the window, or a counter this kind of engine does not keep)."""

    model: str
    running: int
    waiting: int
    kv_cells_used: int
    kv_cells_total: int
    kv_use: float | None  # share of the KV cells in use; None where the engine keeps none here
    hit_ratio_recent: float | None
    hit_ratio_total: float | None
    output_tokens_total: int
    output_tokens_per_second: float | None
    window_seconds: float | None  # the span "recent" covers
    ttft_recent: Percentiles
    ttft_total: Percentiles
    itl_recent: Percentiles
    itl_total: Percentiles
    upstreams: tuple[UpstreamStats, ...]


def _hit_ratio(cached: int, prefilled: int) -> float | None:
    seen = cached + prefilled
    return cached / seen if seen > 0 else None


def model_numbers(model: str, now: EngineStats, then: EngineStats | None, span: float | None) -> ModelNumbers:
    """One model's numbers from its counters now and at the baseline `span` seconds ago."""
    recent = then is not None and span is not None and span > 0
    window_ttft = since(now.time_to_first_token, then.time_to_first_token) if then else None
    window_itl = since(now.inter_token_latency, then.inter_token_latency) if then else None
    rate = None
    hit_recent = None
    if recent and then is not None and span is not None:
        rate = max(0, now.output_tokens_total - then.output_tokens_total) / span
        hit_recent = _hit_ratio(now.cached_prompt_tokens_total - then.cached_prompt_tokens_total,
                                now.prompt_tokens_total - then.prompt_tokens_total)
    none = Percentiles(None, None)
    return ModelNumbers(
        model=model, running=now.running, waiting=now.waiting,
        kv_cells_used=now.kv_cells_used, kv_cells_total=now.kv_cells_total,
        kv_use=now.kv_cells_used / now.kv_cells_total if now.kv_cells_total > 0 else None,
        hit_ratio_recent=hit_recent,
        hit_ratio_total=_hit_ratio(now.cached_prompt_tokens_total, now.prompt_tokens_total),
        output_tokens_total=now.output_tokens_total, output_tokens_per_second=rate,
        window_seconds=span if recent else None,
        ttft_recent=Percentiles.of(window_ttft) if window_ttft else none,
        ttft_total=Percentiles.of(now.time_to_first_token),
        itl_recent=Percentiles.of(window_itl) if window_itl else none,
        itl_total=Percentiles.of(now.inter_token_latency),
        upstreams=now.upstreams,
    )


def numbers(now: Reading, baseline: Reading | None) -> list[ModelNumbers]:
    """Every model's numbers, in the order the models are served."""
    span = now.at - baseline.at if baseline else None
    return [model_numbers(model, stats, baseline.stats.get(model) if baseline else None, span)
            for model, stats in now.stats.items()]
