"""`GET /metrics`: the engines' state in Prometheus text format, without authentication
(like `/health`; scrapers rarely carry API keys, and nothing here is client data).

Values are read from each engine's `stats()` at scrape time by a custom collector, so nothing
is counted twice and the engine thread never touches the metrics library.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from antiphon.engine.latency import HistogramSnapshot
from antiphon.services.batch_worker import BatchWorker
from antiphon.services.models import ModelRegistry
from antiphon.services.platform import Platform

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _histogram(name: str, documentation: str, upstream: bool = False) -> HistogramMetricFamily:
    labels = ["model", "upstream"] if upstream else ["model"]
    return HistogramMetricFamily(name, documentation, labels=labels)


def _add(family: HistogramMetricFamily, model: str, snapshot: HistogramSnapshot,
         *more_labels: str) -> None:
    bounds = [*(str(bound) for bound in snapshot.buckets), "+Inf"]
    cumulative = list(accumulate(snapshot.counts))
    family.add_metric([model, *more_labels], list(zip(bounds, cumulative)), snapshot.total_seconds)


# EngineStats field → (metric name, help). Gauges are levels now; counters only grow.
GAUGES = {
    "running": ("antiphon_sequences_running", "Sequences decoding now."),
    "waiting": ("antiphon_requests_waiting", "Requests queued for a free sequence."),
    "in_flight": ("antiphon_requests_in_flight", "Requests accepted and not yet finished."),
    "kv_cells_total": ("antiphon_kv_cells", "KV cache budget, in cells (tokens)."),
    "kv_cells_used": ("antiphon_kv_cells_used", "KV cells held by the prefix cache or running sequences."),
    "prefix_cache_cells": ("antiphon_prefix_cache_cells", "KV cells the prefix cache holds."),
    "prefix_cache_nodes": ("antiphon_prefix_cache_nodes", "Nodes of the prefix cache's tree."),
    "prefix_ram_nodes": ("antiphon_prefix_ram_nodes", "Prefix cache nodes kept in host memory."),
    "prefix_ram_cells": ("antiphon_prefix_ram_cells", "Tokens of prefixes kept in host memory."),
    "prefix_ram_bytes": ("antiphon_prefix_ram_bytes", "Bytes of prefixes kept in host memory."),
    "prefix_disk_entries": ("antiphon_prefix_disk_entries", "Prefixes kept on disk."),
    "prefix_disk_bytes": ("antiphon_prefix_disk_bytes", "Bytes of prefixes kept on disk."),
}
COUNTERS = {
    "prefix_ram_spilled_tokens_total": (
        "antiphon_prefix_ram_spilled_tokens", "Cached tokens moved out of the KV pool to host memory."
    ),
    "prefix_ram_loaded_tokens_total": (
        "antiphon_prefix_ram_loaded_tokens", "Cached tokens copied back from host memory, not prefilled."
    ),
    "prefix_ram_dropped_tokens_total": (
        "antiphon_prefix_ram_dropped_tokens", "Cached tokens dropped from host memory to stay in its bound."
    ),
    "prefix_disk_hits_total": (
        "antiphon_prefix_disk_hits", "Prefixes read back from disk whole."
    ),
    "prefix_disk_writes_total": ("antiphon_prefix_disk_writes", "Prefixes written to disk."),
    "prefix_disk_rejected_total": (
        "antiphon_prefix_disk_rejected", "Disk entries dropped as damaged, truncated or foreign."
    ),
    "prefix_disk_restored_tokens_total": (
        "antiphon_prefix_disk_restored_tokens", "Prompt tokens restored from disk, not prefilled."
    ),
    "prompt_tokens_total": ("antiphon_prompt_tokens", "Prompt tokens prefilled."),
    "cached_prompt_tokens_total": (
        "antiphon_cached_prompt_tokens", "Prompt tokens reused from the prefix cache."
    ),
    "output_tokens_total": ("antiphon_output_tokens", "Tokens generated."),
    "completed_total": ("antiphon_requests_completed", "Generations finished."),
    "aborted_total": ("antiphon_requests_aborted", "Generations aborted (client gone)."),
    "repetition_stops_total": (
        "antiphon_repetition_stops", "Answers ended because they fell into a loop."
    ),
    "steps_total": ("antiphon_decode_steps", "Decode steps run."),
    "decode_seconds_total": ("antiphon_decode_seconds", "Time spent inside decode calls."),
    "prefix_cache_evicted_cells_total": (
        "antiphon_prefix_cache_evicted_cells", "KV cells the prefix cache gave up for new work."
    ),
}


class EngineCollector(Collector):
    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            **{f: GaugeMetricFamily(n, h, labels=["model"]) for f, (n, h) in GAUGES.items()},
            **{f: CounterMetricFamily(n, h, labels=["model"]) for f, (n, h) in COUNTERS.items()},
        }
        first = _histogram("antiphon_time_to_first_token_seconds", "From queueing to the first token.")
        between = _histogram("antiphon_inter_token_latency_seconds", "Between consecutive tokens.")
        up = GaugeMetricFamily(
            "antiphon_engine_up", "1 while the engine serves, 0 once it has failed for good.",
            labels=["model"],
        )
        hit_ratio = GaugeMetricFamily(
            "antiphon_prefix_cache_hit_ratio",
            "Share of all prompt tokens found in the prefix cache.", labels=["model"],
        )
        for model in self._models:
            stats = model.engine.stats()
            up.add_metric([model.card.id], 0.0 if model.engine.failure else 1.0)
            for field, family in families.items():
                family.add_metric([model.card.id], float(getattr(stats, field)))
            seen = stats.cached_prompt_tokens_total + stats.prompt_tokens_total
            hit_ratio.add_metric([model.card.id], stats.cached_prompt_tokens_total / seen if seen else 0.0)
            _add(first, model.card.id, stats.time_to_first_token)
            _add(between, model.card.id, stats.inter_token_latency)
        yield from families.values()
        yield up
        yield hit_ratio
        yield first
        yield between


class PlatformCollector(Collector):
    """Refusals by the platform's limits and the usage writer's progress."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def collect(self) -> Iterator[Metric]:
        metering, recorder = self._platform.metering, self._platform.recorder
        refused = CounterMetricFamily(
            "antiphon_requests_refused", "Requests refused by a rate or spend limit.", labels=["reason"]
        )
        for reason in ("rate_limit", "spend_limit"):
            refused.add_metric([reason], float(metering.refusals[reason]))
        yield refused
        yield CounterMetricFamily(
            "antiphon_usage_records_written", "Usage records written to the store.",
            value=float(recorder.written_total),
        )
        yield CounterMetricFamily(
            "antiphon_usage_write_failures", "Batches of usage records whose write failed (retried).",
            value=float(recorder.failed_writes_total),
        )
        yield GaugeMetricFamily(
            "antiphon_usage_records_pending", "Usage records queued for the next write.",
            value=float(recorder.pending),
        )


# A remote model's upstreams (engine/remote/pool.py), labelled by model and upstream URL.
UPSTREAM_GAUGES = {
    "healthy": ("antiphon_upstream_healthy", "1 while the upstream takes requests, 0 while ejected."),
    "running": ("antiphon_upstream_running", "Requests the upstream runs now."),
    "limit": ("antiphon_upstream_limit", "Requests the upstream may run at once."),
}
UPSTREAM_COUNTERS = {
    "requests_total": ("antiphon_upstream_requests", "Requests sent to the upstream."),
    "errors_total": ("antiphon_upstream_errors", "Calls to the upstream that failed."),
    "ejections_total": ("antiphon_upstream_ejections", "Times the upstream was taken out of the pool."),
    "routed_prefix_tokens_total": (
        "antiphon_upstream_routed_prefix_tokens",
        "Prompt tokens sent to the upstream after the same prefix had gone there.",
    ),
    "routed_by_other_replicas_total": (
        "antiphon_upstream_routed_by_other_replicas",
        "Requests sent to the upstream for a longer prefix another replica had sent it "
        "(--redis-url).",
    ),
}


class UpstreamCollector(Collector):
    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    def collect(self) -> Iterator[Metric]:
        labels = ["model", "upstream"]
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            **{f: GaugeMetricFamily(n, h, labels=labels) for f, (n, h) in UPSTREAM_GAUGES.items()},
            **{f: CounterMetricFamily(n, h, labels=labels) for f, (n, h) in UPSTREAM_COUNTERS.items()},
        }
        first = _histogram("antiphon_upstream_time_to_first_token_seconds",
                           "From queueing to the first token, by the upstream that served it.",
                           upstream=True)
        for model in self._models:
            for upstream in model.engine.stats().upstreams:
                for field, family in families.items():
                    family.add_metric([model.card.id, upstream.url], float(getattr(upstream, field)))
                _add(first, model.card.id, upstream.time_to_first_token, upstream.url)
        yield from families.values()
        yield first


class BatchCollector(Collector):
    """This replica's batch worker: what it runs and what it answered."""

    def __init__(self, worker: BatchWorker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        worker = self._worker
        yield GaugeMetricFamily(
            "antiphon_batch_requests_running", "Message Batch requests this replica runs now.",
            value=float(worker.running))
        yield CounterMetricFamily(
            "antiphon_batch_requests_answered", "Message Batch requests answered by this replica.",
            value=float(worker.answered_total))
        yield CounterMetricFamily(
            "antiphon_batch_requests_requeued",
            "Batch requests this replica put back in the queue after their worker's lease lapsed.",
            value=float(worker.requeued_total))


def metrics_registry(models: ModelRegistry, platform: Platform, worker: BatchWorker) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(models))
    registry.register(UpstreamCollector(models))
    registry.register(PlatformCollector(platform))
    registry.register(BatchCollector(worker))
    return registry


async def metrics(request: Request) -> Response:
    # Engine stats are read on the event loop thread, as the Engine contract requires.
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE)
