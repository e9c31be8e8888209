"""Rate limits as token buckets: the types, the limiter protocol, and the pure arithmetic.

The hosted API limits requests, input tokens and output tokens per minute, separately for the
organization and for each workspace. Each limit is a bucket that holds at most L and refills
continuously at L/60 per second, so a client that stays under L per minute is never refused,
however its requests are spread within the minute. Everything here is pure: the in-memory and
the Redis limiters only differ in where levels are kept and how the update is made atomic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Protocol

from antiphon.errors import RateLimited

SECONDS_PER_WINDOW = 60.0
# Levels are exact multiples of 1/60000 token in Redis: a limit of L per minute then refills
# exactly L units per millisecond, so integer arithmetic in Lua never rounds a refill away.
UNITS_PER_TOKEN = 60_000
# Output tokens are charged after the response, so admission only asks that the output bucket
# is not empty or in debt: it must hold at least the smallest unit a level can have.
OUTPUT_MINIMUM = 1 / UNITS_PER_TOKEN
# A bucket is forgotten this long after it would be full again (a forgotten bucket is full).
IDLE_MARGIN_SECONDS = 10.0


@dataclass(frozen=True)
class Limits:
    """Per-minute limits of one scope; None means unlimited (no bucket at all)."""

    requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def __post_init__(self) -> None:
        # A bucket of 0 would never refill (every wait would divide by zero): use None for
        # unlimited, and keep "blocked" a decision made before the limiter is asked.
        for name in ("requests", "input_tokens", "output_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"rate limit {name} must be at least 1 per minute, not {value}")


@dataclass(frozen=True)
class LimitScope:
    """One set of buckets: the organization's, or one workspace's, with its current limits."""

    key: str  # stable id used in storage keys: "org" or "workspace:<id>"
    label: str  # for messages: "organization" or "workspace wrkspc_…"
    limits: Limits


@dataclass(frozen=True)
class BucketState:
    limit: int
    remaining: int  # whole tokens (or requests), never negative
    reset_at: datetime  # UTC wall-clock time at which the bucket is full again


@dataclass(frozen=True)
class RateLimitSnapshot:
    """For each kind, the most restrictive scope's bucket; None where nothing is limited."""

    requests: BucketState | None
    input_tokens: BucketState | None
    output_tokens: BucketState | None
    tokens: BucketState | None  # whichever of input_tokens/output_tokens has less remaining


class RateLimiter(Protocol):
    """Token buckets shared by every request of a scope. All calls are made from the asyncio
    event loop; each is atomic across all the scopes it is given. Scopes carry their current
    limits on every call: a bucket whose limit shrank is clamped, one that grew refills up."""

    async def admit(self, scopes: Sequence[LimitScope], input_tokens: int) -> RateLimitSnapshot:
        """Before generating: take one request and `input_tokens` from every scope's buckets
        and return the state after it. Refused (raises `RateLimited`, charges nothing anywhere)
        unless every bucket holds enough and no output bucket is empty or in debt."""
        ...

    async def charge_output(self, scopes: Sequence[LimitScope], tokens: int) -> None:
        """After generating: take `tokens` from every scope's output bucket. The level may go
        negative (debt), which refuses admissions until it has refilled. Never refuses."""
        ...

    async def snapshot(self, scopes: Sequence[LimitScope]) -> RateLimitSnapshot:
        """The current state, without charging (for responses sent without admission)."""
        ...

    async def close(self) -> None:
        """Release connections; the limiter is not used afterwards."""
        ...


class Kind(Enum):
    REQUESTS = "requests"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"

    def limit_of(self, limits: Limits) -> int | None:
        value: int | None = getattr(limits, self.value)
        return value

    def amount(self, count: int) -> str:
        """`count` in words for messages: "1 request", "50,000 input tokens"."""
        unit = self.value.replace("_", " ")
        return f"{count:,} {unit[:-1] if count == 1 else unit}"


@dataclass(frozen=True)
class BucketOp:
    """What one call does to one bucket: check that it holds `need` (None: no check), and if
    the whole call goes ahead, take `charge` from it."""

    scope: LimitScope
    kind: Kind
    limit: int
    need: float | None
    charge: int


@dataclass(frozen=True)
class BucketLevel:
    """A bucket's level at one instant (after refill; after the charge if one was taken)."""

    op: BucketOp
    level: float


def refill(level: float, elapsed_seconds: float, limit: int) -> float:
    """The level after `elapsed_seconds` of continuous refill, never above `limit` (which also
    clamps a bucket whose limit shrank since it was stored)."""
    return min(float(limit), level + max(0.0, elapsed_seconds) * limit / SECONDS_PER_WINDOW)


def seconds_until(level: float, target: float, limit: int) -> float:
    """How long until a bucket at `level` has refilled to `target`."""
    return max(0.0, (target - level) * SECONDS_PER_WINDOW / limit)


def seconds_to_full(level: float, limit: int) -> float:
    return seconds_until(level, float(limit), limit)


def is_short(bucket: BucketLevel) -> bool:
    return bucket.op.need is not None and bucket.level < bucket.op.need


def _ops(
    scopes: Sequence[LimitScope], needs_and_charges: dict[Kind, tuple[float | None, int]]
) -> list[BucketOp]:
    # A scope passed twice must not be charged twice: the last one (its newest limits) wins.
    unique = {scope.key: scope for scope in scopes}
    return [
        BucketOp(scope, kind, limit, need, charge)
        for scope in unique.values()
        for kind, (need, charge) in needs_and_charges.items()
        if (limit := kind.limit_of(scope.limits)) is not None
    ]


def admission_ops(scopes: Sequence[LimitScope], input_tokens: int) -> list[BucketOp]:
    return _ops(scopes, {
        Kind.REQUESTS: (1, 1),
        Kind.INPUT_TOKENS: (input_tokens, input_tokens),
        Kind.OUTPUT_TOKENS: (OUTPUT_MINIMUM, 0),
    })


def output_ops(scopes: Sequence[LimitScope], tokens: int) -> list[BucketOp]:
    return _ops(scopes, {Kind.OUTPUT_TOKENS: (None, tokens)})


def snapshot_ops(scopes: Sequence[LimitScope]) -> list[BucketOp]:
    return _ops(scopes, {kind: (None, 0) for kind in Kind})


def _retry_hint(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    return f"Please retry after {whole} second{'s' if whole != 1 else ''}."


def check_never_fits(scopes: Sequence[LimitScope], input_tokens: int) -> None:
    """Refuse a request larger than a whole input bucket: waiting would never let it in."""
    for scope in scopes:
        limit = scope.limits.input_tokens
        if limit is not None and input_tokens > limit:
            raise RateLimited(
                f"This request has {Kind.INPUT_TOKENS.amount(input_tokens)}, more than the rate "
                f"limit for your {scope.label} of {Kind.INPUT_TOKENS.amount(limit)} per minute "
                "allows, so it can never be "
                "admitted, however long it waits. Please reduce the prompt length, or ask an "
                "administrator to raise the limit.",
                retry_after_seconds=SECONDS_PER_WINDOW,
            )


def refusal(buckets: Sequence[BucketLevel]) -> RateLimited | None:
    """The error for a call some bucket is too short for, or None if every bucket passes. The
    wait is the longest until every short bucket passes; the message names that bucket."""
    short = [bucket for bucket in buckets if is_short(bucket)]
    if not short:
        return None
    waits = [(seconds_until(b.level, b.op.need or 0.0, b.op.limit), b) for b in short]
    wait, worst = max(waits, key=lambda pair: pair[0])
    op = worst.op
    return RateLimited(
        f"This request would exceed the rate limit for your {op.scope.label} of "
        f"{op.kind.amount(op.limit)} per minute. {_retry_hint(wait)}",
        retry_after_seconds=wait,
    )


def _state(bucket: BucketLevel, wall_now: float) -> BucketState:
    limit = bucket.op.limit
    reset = wall_now + seconds_to_full(bucket.level, limit)
    return BucketState(
        limit=limit,
        remaining=max(0, math.floor(bucket.level)),
        reset_at=datetime.fromtimestamp(reset, UTC),
    )


def _most_restrictive(states: Sequence[BucketState]) -> BucketState | None:
    # Ties go to the bucket that is full last: it is the one the client waits for.
    return min(states, key=lambda s: (s.remaining, -s.reset_at.timestamp()), default=None)


def build_snapshot(buckets: Sequence[BucketLevel], wall_now: float) -> RateLimitSnapshot:
    """The headers' view: per kind, the scope with the least remaining."""
    by_kind = {
        kind: _most_restrictive([_state(b, wall_now) for b in buckets if b.op.kind is kind])
        for kind in Kind
    }
    token_states = [
        state for state in (by_kind[Kind.INPUT_TOKENS], by_kind[Kind.OUTPUT_TOKENS]) if state
    ]
    return RateLimitSnapshot(
        requests=by_kind[Kind.REQUESTS],
        input_tokens=by_kind[Kind.INPUT_TOKENS],
        output_tokens=by_kind[Kind.OUTPUT_TOKENS],
        tokens=_most_restrictive(token_states),
    )
