"""Usage recording off the request path: records are queued in memory and written in batches.

A request's record is queued when its response ends (or fails, with what it spent); a
background task writes every `FLUSH_SECONDS`, so a response never waits for the disk. A
write that fails is retried with the next batch; records are keyed by request id, so a
retry never counts one twice. What is queued is written on shutdown; a crash loses at most
the last interval's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from antiphon.store.tables import UsageRecord
from antiphon.store.usage import UsageStore

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
MAX_PENDING = 100_000  # beyond this (the database is down for long) the oldest are dropped


@dataclass(frozen=True)
class TokenUsage:
    uncached_input: int
    cache_creation_5m: int
    cache_creation_1h: int
    cache_read: int
    output: int

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.uncached_input + other.uncached_input,
            self.cache_creation_5m + other.cache_creation_5m,
            self.cache_creation_1h + other.cache_creation_1h,
            self.cache_read + other.cache_read,
            self.output + other.output,
        )

    @property
    def spent(self) -> bool:
        return any((self.uncached_input, self.cache_creation_5m, self.cache_creation_1h,
                    self.cache_read, self.output))


def usage_record(
    request_id: str, model: str, api_key_id: str | None, workspace_id: str | None,
    service_tier: str, usage: TokenUsage, at: datetime,
) -> UsageRecord:
    return UsageRecord(
        request_id=request_id, recorded_at=at, minute=int(at.timestamp() // 60), model=model,
        api_key_id=api_key_id, workspace_id=workspace_id, service_tier=service_tier,
        uncached_input_tokens=usage.uncached_input,
        cache_creation_5m_tokens=usage.cache_creation_5m,
        cache_creation_1h_tokens=usage.cache_creation_1h,
        cache_read_tokens=usage.cache_read, output_tokens=usage.output,
    )


class UsageRecorder:
    def __init__(self, store: UsageStore, on_record: Callable[[UsageRecord], None] | None = None) -> None:
        self._store = store
        self._on_record = on_record
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None
        self.written_total = 0  # for /metrics
        self.failed_writes_total = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, record: UsageRecord) -> None:
        """Queue one record (event loop only; never blocks)."""
        if record.recorded_at.tzinfo is None:
            record.recorded_at = record.recorded_at.replace(tzinfo=UTC)
        self._pending.append(record)
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
            log.error("usage records are not being written; dropped the oldest")
        if self._on_record is not None:
            self._on_record(record)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self._store.add_many(batch)
            self.written_total += len(batch)
        except asyncio.CancelledError:  # shutting down: close() writes them
            self._pending[:0] = batch
            raise
        except Exception:
            self.failed_writes_total += 1
            log.exception("writing %d usage records failed; retrying with the next batch", len(batch))
            self._pending[:0] = batch

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
