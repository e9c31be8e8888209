"""The engine page's numbers: percentiles from histogram buckets, the baseline reading a
rate is measured against, and what one model's counters turn into (and read as)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from antiphon.engine.base import EngineStats
from antiphon.engine.latency import HistogramSnapshot, LatencyHistogram
from antiphon.http.console.engine import duration_text, model_texts, share_text
from antiphon.http.console.engine_stats import (
    Reading,
    Readings,
    model_numbers,
    numbers,
    quantile,
    since,
)

BOUNDS = (1.0, 2.0, 4.0)


def histogram(*counts: int) -> HistogramSnapshot:
    return HistogramSnapshot(BOUNDS, counts, 0.0, sum(counts))


def stats(**changes: object) -> EngineStats:
    empty = LatencyHistogram().snapshot()
    base = EngineStats(
        running=0, waiting=0, in_flight=0, completed_total=0, aborted_total=0,
        repetition_stops_total=0, prompt_tokens_total=0, cached_prompt_tokens_total=0,
        output_tokens_total=0, steps_total=0, decode_seconds_total=0.0, kv_cells_total=1000,
        kv_cells_used=0, prefix_cache_cells=0, prefix_cache_nodes=0,
        prefix_cache_evicted_cells_total=0, time_to_first_token=empty, inter_token_latency=empty,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    assert quantile(histogram(0, 10, 0, 0), 0.5) == pytest.approx(1.5)
    assert quantile(histogram(0, 10, 0, 0), 0.95) == pytest.approx(1.95)
    assert quantile(histogram(10, 0, 0, 0), 0.5) == pytest.approx(0.5)  # the first bucket starts at 0
    assert quantile(histogram(5, 0, 5, 0), 0.5) == pytest.approx(1.0)  # the lower half ends in bucket 1
    assert quantile(histogram(5, 0, 5, 0), 0.95) == pytest.approx(2 + 2 * 4.5 / 5)


def test_quantile_without_observations_or_past_the_last_bound() -> None:
    assert quantile(histogram(0, 0, 0, 0), 0.5) is None
    assert quantile(histogram(1, 0, 0, 9), 0.5) == math.inf
    assert quantile(histogram(19, 0, 0, 1), 0.5) == pytest.approx(1 * 10 / 19)


def test_the_latency_histogram_and_its_quantile_agree() -> None:
    observed = LatencyHistogram()
    for milliseconds in range(1, 101):  # 1 ms … 100 ms, evenly
        observed.observe(milliseconds / 1000)
    p50 = quantile(observed.snapshot(), 0.5)
    assert p50 is not None and 0.025 < p50 <= 0.05  # inside the right bucket


def test_since_counts_only_the_observations_in_between() -> None:
    window = since(histogram(3, 5, 1, 0), histogram(1, 5, 0, 0))
    assert window.counts == (2, 0, 1, 0) and window.count == 3


def test_a_baseline_is_about_ten_seconds_old_once_there_is_one() -> None:
    readings = Readings(window=10, keep=30)
    first = Reading(0.0, {})
    assert readings.add(first) is None  # nothing to compare with yet
    assert readings.add(Reading(2.0, {})) is first  # a shorter span, until ten seconds have passed
    for at in (4.0, 6.0, 8.0, 10.0):
        assert readings.add(Reading(at, {})) is first
    baseline = readings.add(Reading(12.0, {}))
    assert baseline is not None and baseline.at == 2.0  # the newest one at least ten seconds old
    baseline = readings.add(Reading(15.0, {}))
    assert baseline is not None and baseline.at == 4.0


def test_readings_close_together_are_not_kept_and_old_ones_expire() -> None:
    readings = Readings(window=10, keep=30)
    readings.add(Reading(0.0, {}))
    assert readings.add(Reading(0.1, {})) is None  # too close to measure a rate over
    baseline = readings.add(Reading(1.0, {}))
    assert baseline is not None and baseline.at == 0.0
    assert readings.add(Reading(100.0, {})) is None  # nobody looked for a while: start again


def test_model_numbers_from_two_readings() -> None:
    then = stats(output_tokens_total=100, prompt_tokens_total=50, cached_prompt_tokens_total=50,
                 time_to_first_token=histogram(1, 0, 0, 0))
    now = stats(output_tokens_total=350, prompt_tokens_total=60, cached_prompt_tokens_total=80,
                running=2, waiting=1, kv_cells_used=250, time_to_first_token=histogram(1, 4, 0, 0))
    shown = model_numbers("m", now, then, 10.0)
    assert shown.output_tokens_per_second == pytest.approx(25.0)
    assert shown.hit_ratio_recent == pytest.approx(30 / 40)
    assert shown.hit_ratio_total == pytest.approx(80 / 140)
    assert shown.kv_use == pytest.approx(0.25)
    assert shown.ttft_recent.p50 == pytest.approx(1.5)  # only the four observed in the window
    assert shown.ttft_total.p50 == pytest.approx(1 + 1.5 / 4)
    assert shown.itl_recent.p50 is None and shown.window_seconds == 10.0


def test_without_a_baseline_or_a_kv_pool_the_numbers_say_unknown() -> None:
    shown = numbers(Reading(5.0, {"remote": stats(kv_cells_total=0)}), None)[0]
    assert shown.model == "remote" and shown.kv_use is None
    assert shown.output_tokens_per_second is None and shown.window_seconds is None
    assert shown.hit_ratio_recent is None and shown.hit_ratio_total is None
    texts = model_texts(shown, None)
    assert texts["rate"] == "—" and texts["kv"].startswith("not kept")
    assert texts["state"] == "serving" and model_texts(shown, "boom")["state"] == "failed: boom"


def test_texts_read_as_people_read_them() -> None:
    assert duration_text(None) == "—"
    assert duration_text(0.0042) == "4.2 ms"
    assert duration_text(0.25) == "250 ms"
    assert duration_text(2.5) == "2.50 s"
    assert duration_text(math.inf) == "over 60 s"
    assert share_text(0.1234) == "12.3%" and share_text(None) == "—"
    shown = model_numbers("m", stats(kv_cells_used=1536, kv_cells_total=4096), None, None)
    assert model_texts(shown, None)["kv"] == "1,536 of 4,096 cells (38%)"
