"""What loadgen measures per request and how a run is summarized (percentiles, cache
shares, per-turn TTFT). Pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class RequestResult:
    index: int
    ok: bool = False
    status: Optional[int] = None
    error: Optional[str] = None
    ttft_s: Optional[float] = None  # None if no non-empty text delta ever arrived
    latency_s: Optional[float] = None
    input_tokens: int = 0  # uncached prompt tokens, as the Messages API counts them
    output_tokens: int = 0
    # None when the server never reported the field (not the same as reporting 0).
    cache_read_input_tokens: Optional[int] = None
    cache_creation_input_tokens: Optional[int] = None
    turn: Optional[int] = None  # agentic workload: 1-based turn within its conversation
    text: str = ""  # the answer's text, resent as history by the agentic workload
    # Seconds between consecutive text deltas (one token each on both servers): ITL.
    delta_gaps_s: list[float] = field(default_factory=list)
    last_delta_s: Optional[float] = None

    @property
    def prompt_tokens(self) -> int:
        """Whole prompt: the API splits it into uncached, cache-read and cache-written."""
        return (self.input_tokens + (self.cache_read_input_tokens or 0)
                + (self.cache_creation_input_tokens or 0))

    @property
    def decode_tps(self) -> Optional[float]:
        # The first token is paid for by TTFT (prefill), so decode speed counts
        # the remaining tokens over the time after it.
        if self.ttft_s is None or self.latency_s is None or self.output_tokens < 2:
            return None
        span = self.latency_s - self.ttft_s
        return (self.output_tokens - 1) / span if span > 0 else None


@dataclass
class Summary:
    ok: int
    failed: int
    wall_s: float
    input_tokens: int
    output_tokens: int
    agg_output_tps: float
    mean_decode_tps: Optional[float]
    ttft_p50_ms: Optional[float]
    ttft_p95_ms: Optional[float]
    e2e_p50_ms: Optional[float]
    e2e_p95_ms: Optional[float]
    itl_p50_ms: Optional[float]
    itl_p95_ms: Optional[float]
    errors: list[str]
    skipped: int = 0  # agentic: turns never sent because an earlier turn failed
    prompt_tokens: int = 0
    # Totals over requests that reported the field; None when none did.
    cache_read_input_tokens: Optional[int] = None
    cache_creation_input_tokens: Optional[int] = None
    cache_read_share: Optional[float] = None  # cache-read / prompt tokens, same requests
    # Agentic workload only: keyed by turn number (strings once written as JSON).
    ttft_p50_ms_by_turn: Optional[dict[int, Optional[float]]] = None
    cache_read_share_by_turn: Optional[dict[int, Optional[float]]] = None
    # --server-pid only: peak VmRSS sampled during the measured run, the RSS when it
    # started, and the kernel's VmHWM (lifetime peak, so it includes model loading).
    rss_start_mib: Optional[float] = None
    rss_peak_mib: Optional[float] = None
    rss_hwm_mib: Optional[float] = None


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0..100), linear interpolation like numpy's default."""
    if not values:
        raise ValueError("percentile of empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ms_pct(values: list[float], q: float) -> Optional[float]:
    return percentile(values, q) * 1000 if values else None  # None: nothing to measure


def _sum_reported(values: Iterable[Optional[int]]) -> Optional[int]:
    reported = [v for v in values if v is not None]
    return sum(reported) if reported else None


def cache_read_share(results: Sequence[RequestResult]) -> Optional[float]:
    """Fraction of prompt tokens read from cache, over requests that reported cache reads."""
    reported = [r for r in results if r.cache_read_input_tokens is not None]
    prompt = sum(r.prompt_tokens for r in reported)
    return sum(r.cache_read_input_tokens or 0 for r in reported) / prompt if prompt else None


def by_turn(results: Sequence[RequestResult]) -> dict[int, list[RequestResult]]:
    turns: dict[int, list[RequestResult]] = {}
    for r in results:
        if r.turn is not None:
            turns.setdefault(r.turn, []).append(r)
    return dict(sorted(turns.items()))


def ttft_p50_by_turn(results: Sequence[RequestResult]) -> Optional[dict[int, Optional[float]]]:
    turns = by_turn(results)
    if not turns:
        return None
    return {t: _ms_pct([r.ttft_s for r in rs if r.ttft_s is not None], 50)
            for t, rs in turns.items()}


def summarize(results: Sequence[RequestResult], wall_seconds: float) -> Summary:
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    out_tokens = sum(r.output_tokens for r in good)
    ttfts = [r.ttft_s for r in good if r.ttft_s is not None]
    e2es = [r.latency_s for r in good if r.latency_s is not None]
    decode = [d for r in good if (d := r.decode_tps) is not None]
    gaps = [gap for r in good for gap in r.delta_gaps_s]
    turns = by_turn(good)
    return Summary(
        ok=len(good),
        failed=len(bad),
        wall_s=wall_seconds,
        input_tokens=sum(r.input_tokens for r in good),
        output_tokens=out_tokens,
        agg_output_tps=out_tokens / wall_seconds if wall_seconds > 0 else 0.0,
        mean_decode_tps=sum(decode) / len(decode) if decode else None,
        ttft_p50_ms=_ms_pct(ttfts, 50),
        ttft_p95_ms=_ms_pct(ttfts, 95),
        e2e_p50_ms=_ms_pct(e2es, 50),
        e2e_p95_ms=_ms_pct(e2es, 95),
        itl_p50_ms=_ms_pct(gaps, 50),
        itl_p95_ms=_ms_pct(gaps, 95),
        errors=[f"#{r.index} status={r.status}: {r.error}" for r in bad],
        prompt_tokens=sum(r.prompt_tokens for r in good),
        cache_read_input_tokens=_sum_reported(r.cache_read_input_tokens for r in good),
        cache_creation_input_tokens=_sum_reported(r.cache_creation_input_tokens for r in good),
        cache_read_share=cache_read_share(good),
        ttft_p50_ms_by_turn=ttft_p50_by_turn(good),
        cache_read_share_by_turn={t: cache_read_share(rs) for t, rs in turns.items()} or None,
    )
