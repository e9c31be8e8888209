"""Token buckets in this process's memory: the limiter of a single replica.

Every call runs on the event loop and never awaits between reading and writing the buckets,
so each call is atomic without a lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from antiphon.services.rate_limits.buckets import (
    IDLE_MARGIN_SECONDS,
    SECONDS_PER_WINDOW,
    BucketLevel,
    BucketOp,
    Kind,
    LimitScope,
    RateLimitSnapshot,
    admission_ops,
    build_snapshot,
    check_never_fits,
    output_ops,
    refill,
    refusal,
    seconds_to_full,
    snapshot_ops,
)


@dataclass(slots=True)
class _Bucket:
    level: float
    updated_at: float  # clock seconds
    forget_at: float  # clock seconds: by then it is full again, so it may as well be absent


class InMemoryRateLimiter:
    """`RateLimiter` over a dict. `clock` measures refill (monotonic seconds); `wall_clock`
    (epoch seconds) only places `reset_at` in real time. Both are injectable for tests."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._buckets: dict[tuple[str, Kind], _Bucket] = {}
        self._next_sweep = clock() + SECONDS_PER_WINDOW

    async def admit(self, scopes: Sequence[LimitScope], input_tokens: int) -> RateLimitSnapshot:
        check_never_fits(scopes, input_tokens)
        return self._apply(admission_ops(scopes, input_tokens))

    async def charge_output(self, scopes: Sequence[LimitScope], tokens: int) -> None:
        self._apply(output_ops(scopes, tokens))

    async def snapshot(self, scopes: Sequence[LimitScope]) -> RateLimitSnapshot:
        return self._apply(snapshot_ops(scopes), store=False)

    async def close(self) -> None:
        self._buckets.clear()

    @property
    def bucket_count(self) -> int:
        """How many buckets are kept (idle full ones are forgotten)."""
        return len(self._buckets)

    def _apply(self, ops: Sequence[BucketOp], store: bool = True) -> RateLimitSnapshot:
        """Refill, check every bucket, and only if all pass charge them all."""
        now = self._clock()
        self._sweep(now)
        levels = [BucketLevel(op, self._level(op, now)) for op in ops]
        error = refusal(levels)
        if error is not None:
            raise error
        charged = [BucketLevel(b.op, b.level - b.op.charge) for b in levels]
        if store:
            for bucket in charged:
                self._store(bucket, now)
        return build_snapshot(charged, self._wall_clock())

    def _level(self, op: BucketOp, now: float) -> float:
        bucket = self._buckets.get((op.scope.key, op.kind))
        if bucket is None:
            return float(op.limit)  # a new (or forgotten) bucket starts full
        return refill(bucket.level, now - bucket.updated_at, op.limit)

    def _store(self, bucket: BucketLevel, now: float) -> None:
        forget_at = now + seconds_to_full(bucket.level, bucket.op.limit) + IDLE_MARGIN_SECONDS
        key = (bucket.op.scope.key, bucket.op.kind)
        self._buckets[key] = _Bucket(bucket.level, now, forget_at)

    def _sweep(self, now: float) -> None:
        # At most once a minute, so the cost stays proportional to the number of calls.
        if now < self._next_sweep:
            return
        self._next_sweep = now + SECONDS_PER_WINDOW
        idle = [key for key, bucket in self._buckets.items() if bucket.forget_at <= now]
        for key in idle:
            del self._buckets[key]
