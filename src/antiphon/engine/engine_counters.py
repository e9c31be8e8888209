"""What the engine thread counts, and the `EngineStats` made of it when someone asks.

The engine thread alone writes; `stats()` runs on the event loop. Each field is an int or a
float replaced whole, so a reader may see one step's counts half updated, never a torn one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from antiphon.engine.base import EngineStats
from antiphon.engine.latency import LatencyHistogram
from antiphon.engine.prefix_nodes import TierCounts
from antiphon.engine.prefix_store import PrefixStore


class KvGauges(NamedTuple):
    """KV state the engine thread publishes after each step."""

    cells_used: int = 0
    cache_cells: int = 0
    cache_nodes: int = 0
    evicted_cells: int = 0
    ram: TierCounts = TierCounts()  # the cache's own: its ints are replaced whole


@dataclass
class EngineCounters:
    completed: int = 0
    aborted: int = 0
    repetition_stops: int = 0
    prompt_tokens: int = 0  # prefilled, not found in the cache
    cached_prompt_tokens: int = 0
    disk_restored_tokens: int = 0
    output_tokens: int = 0
    steps: int = 0
    decode_seconds: float = 0.0
    kv: KvGauges = KvGauges()
    time_to_first_token: LatencyHistogram = field(default_factory=LatencyHistogram)
    inter_token_latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def observe_token(self, submitted_at: float, last_token_at: float | None) -> float:
        """Record a sequence's new token; returns its time, the sequence's next `last`."""
        now = time.perf_counter()
        if last_token_at is None:
            self.time_to_first_token.observe(now - submitted_at)
        else:
            self.inter_token_latency.observe(now - last_token_at)
        return now

    def stats(self, running: int, waiting: int, in_flight: int, kv_cells: int,
              store: PrefixStore | None) -> EngineStats:
        stats = EngineStats(
            running=running,
            waiting=waiting,
            in_flight=in_flight,
            completed_total=self.completed,
            aborted_total=self.aborted,
            repetition_stops_total=self.repetition_stops,
            prompt_tokens_total=self.prompt_tokens,
            output_tokens_total=self.output_tokens,
            steps_total=self.steps,
            decode_seconds_total=self.decode_seconds,
            cached_prompt_tokens_total=self.cached_prompt_tokens,
            kv_cells_total=kv_cells,
            kv_cells_used=self.kv.cells_used,
            prefix_cache_cells=self.kv.cache_cells,
            prefix_cache_nodes=self.kv.cache_nodes,
            prefix_cache_evicted_cells_total=self.kv.evicted_cells,
            time_to_first_token=self.time_to_first_token.snapshot(),
            inter_token_latency=self.inter_token_latency.snapshot(),
            prefix_ram_nodes=self.kv.ram.spilled_nodes,
            prefix_ram_cells=self.kv.ram.spilled_cells,
            prefix_ram_bytes=self.kv.ram.spilled_bytes,
            prefix_ram_spilled_tokens_total=self.kv.ram.spilled_total,
            prefix_ram_loaded_tokens_total=self.kv.ram.loaded_total,
            prefix_ram_dropped_tokens_total=self.kv.ram.dropped_total,
        )
        if store is None:
            return stats
        return replace(
            stats,
            prefix_disk_entries=store.entries,
            prefix_disk_bytes=store.bytes_used,
            prefix_disk_hits_total=store.hits,
            prefix_disk_writes_total=store.writes,
            prefix_disk_rejected_total=store.rejected,
            prefix_disk_restored_tokens_total=self.disk_restored_tokens,
        )
