"""Token-bucket arithmetic, the in-memory limiter (on an injected clock), and the headers.

`BEHAVIOUR` holds the cases every `RateLimiter` must pass; test_redis_rate_limiter.py runs the
same list against Redis. Cases only sleep through `Harness.advance`, so they run instantly on
the fake clock here, and use small limits (60 or 600 per minute) so that the few milliseconds
real calls take cannot move a floored `remaining`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

import pytest

from antiphon.errors import RateLimited
from antiphon.http.rate_limit_headers import format_reset, rate_limit_headers
from antiphon.services.rate_limits import (
    BucketState,
    InMemoryRateLimiter,
    Kind,
    Limits,
    LimitScope,
    RateLimiter,
    RateLimitSnapshot,
)
from antiphon.services.rate_limits.buckets import (
    OUTPUT_MINIMUM,
    BucketLevel,
    BucketOp,
    build_snapshot,
    refill,
    refusal,
    seconds_to_full,
    seconds_until,
)

TIME_TOLERANCE = 0.25  # seconds: real calls (Redis) take a little time between instants


def org(**limits: int | None) -> LimitScope:
    return LimitScope("org", "organization", Limits(**limits))


def workspace(**limits: int | None) -> LimitScope:
    return LimitScope("workspace:wrkspc_test", "workspace wrkspc_test", Limits(**limits))


class Harness(Protocol):
    @property
    def limiter(self) -> RateLimiter: ...

    async def advance(self, seconds: float) -> None: ...

    def wall_now(self) -> float: ...


Case = Callable[[Harness], Coroutine[Any, Any, None]]
BEHAVIOUR: list[Case] = []


def behaviour(case: Case) -> Case:
    BEHAVIOUR.append(case)
    return case


def resets_in(state: BucketState | None, harness: Harness, seconds: float) -> bool:
    assert state is not None
    return abs(state.reset_at.timestamp() - (harness.wall_now() + seconds)) < TIME_TOLERANCE


@behaviour
async def new_bucket_starts_full(h: Harness) -> None:
    snap = await h.limiter.snapshot([org(requests=60, input_tokens=600, output_tokens=600)])
    assert snap.requests is not None and snap.tokens is not None
    assert (snap.requests.limit, snap.requests.remaining) == (60, 60)
    assert (snap.tokens.limit, snap.tokens.remaining) == (600, 600)
    assert resets_in(snap.requests, h, 0)


@behaviour
async def admit_takes_one_request_and_the_input_tokens(h: Harness) -> None:
    snap = await h.limiter.admit([org(requests=60, input_tokens=600, output_tokens=600)], 100)
    assert snap.requests is not None
    assert (snap.requests.limit, snap.requests.remaining) == (60, 59)
    assert snap.input_tokens is not None and snap.input_tokens.remaining == 500
    assert snap.output_tokens is not None and snap.output_tokens.remaining == 600
    assert snap.tokens == snap.input_tokens
    assert resets_in(snap.requests, h, 1.0)  # 60 per minute: one per second
    assert resets_in(snap.input_tokens, h, 10.0)


@behaviour
async def snapshot_reports_the_most_restrictive_scope_per_kind(h: Harness) -> None:
    scopes = [org(requests=5, input_tokens=600), workspace(requests=60, input_tokens=300)]
    snap = await h.limiter.admit(scopes, 250)
    assert snap.requests is not None and snap.input_tokens is not None
    assert (snap.requests.limit, snap.requests.remaining) == (5, 4)
    assert (snap.input_tokens.limit, snap.input_tokens.remaining) == (300, 50)
    assert snap.output_tokens is None and snap.tokens == snap.input_tokens


@behaviour
async def refusal_charges_nothing_in_any_scope(h: Harness) -> None:
    scopes = [org(requests=60, input_tokens=600), workspace(requests=60, input_tokens=100)]
    await h.limiter.admit(scopes, 80)
    with pytest.raises(RateLimited) as refused:
        await h.limiter.admit(scopes, 50)
    assert "your workspace wrkspc_test of 100 input tokens per minute" in refused.value.message
    assert "retry after 18 seconds" in refused.value.message
    assert refused.value.retry_after_seconds == pytest.approx(18.0, abs=TIME_TOLERANCE)
    snap = await h.limiter.snapshot(scopes[:1])
    assert snap.requests is not None and snap.requests.remaining == 59
    assert snap.input_tokens is not None and snap.input_tokens.remaining == 520


@behaviour
async def requests_run_out(h: Harness) -> None:
    scopes = [org(requests=3)]
    for _ in range(3):
        await h.limiter.admit(scopes, 0)
    with pytest.raises(RateLimited) as refused:
        await h.limiter.admit(scopes, 0)
    assert "your organization of 3 requests per minute" in refused.value.message
    assert refused.value.retry_after_seconds == pytest.approx(20.0, abs=TIME_TOLERANCE)


@behaviour
async def retry_after_is_the_longest_wait(h: Harness) -> None:
    scopes = [org(requests=1, input_tokens=60)]
    await h.limiter.admit(scopes, 60)
    with pytest.raises(RateLimited) as refused:
        await h.limiter.admit(scopes, 30)  # input needs 30 s, the request a whole minute
    assert refused.value.retry_after_seconds == pytest.approx(60.0, abs=TIME_TOLERANCE)
    assert "your organization of 1 request per minute" in refused.value.message


@behaviour
async def a_request_larger_than_the_bucket_never_passes(h: Harness) -> None:
    scopes = [org(input_tokens=1000), workspace(requests=60, input_tokens=10)]
    with pytest.raises(RateLimited) as refused:
        await h.limiter.admit(scopes, 11)
    assert refused.value.retry_after_seconds == 60
    assert "your workspace wrkspc_test of 10 input tokens per minute" in refused.value.message
    assert "never" in refused.value.message
    snap = await h.limiter.snapshot(scopes)
    assert snap.requests is not None and snap.requests.remaining == 60
    assert snap.input_tokens is not None and snap.input_tokens.remaining == 10


@behaviour
async def output_debt_blocks_admission_until_refilled(h: Harness) -> None:
    scopes = [org(requests=60, output_tokens=600)]  # output refills 10 per second
    await h.limiter.charge_output(scopes, 601)  # one token of debt, and no error
    snap = await h.limiter.snapshot(scopes)
    assert snap.output_tokens is not None and snap.output_tokens.remaining == 0
    with pytest.raises(RateLimited) as refused:
        await h.limiter.admit(scopes, 0)
    assert "your organization of 600 output tokens per minute" in refused.value.message
    assert refused.value.retry_after_seconds == pytest.approx(0.1, abs=0.05)
    await h.advance(0.15)
    snap = await h.limiter.admit(scopes, 0)
    assert snap.requests is not None and snap.requests.remaining == 59


@behaviour
async def charge_output_takes_from_every_scope(h: Harness) -> None:
    scopes = [org(output_tokens=600), workspace(output_tokens=300)]
    await h.limiter.charge_output(scopes, 100)
    snap = await h.limiter.snapshot(scopes)
    assert snap.output_tokens is not None
    assert (snap.output_tokens.limit, snap.output_tokens.remaining) == (300, 200)
    assert snap.tokens == snap.output_tokens and snap.requests is None
    assert resets_in(snap.output_tokens, h, 20.0)


@behaviour
async def tokens_is_the_lower_of_input_and_output(h: Harness) -> None:
    scopes = [org(input_tokens=600, output_tokens=600)]
    await h.limiter.admit(scopes, 100)
    await h.limiter.charge_output(scopes, 300)
    snap = await h.limiter.snapshot(scopes)
    assert snap.tokens == snap.output_tokens
    assert snap.tokens is not None and snap.tokens.remaining == 300


@behaviour
async def refill_is_continuous(h: Harness) -> None:
    scopes = [org(input_tokens=600)]  # 10 tokens per second
    await h.limiter.admit(scopes, 600)
    with pytest.raises(RateLimited):
        await h.limiter.admit(scopes, 1)
    await h.advance(0.25)
    snap = await h.limiter.snapshot(scopes)
    assert snap.input_tokens is not None and snap.input_tokens.remaining == 2
    await h.limiter.admit(scopes, 2)
    with pytest.raises(RateLimited):
        await h.limiter.admit(scopes, 2)


@behaviour
async def shrunk_limit_clamps_and_grown_limit_refills_up(h: Harness) -> None:
    await h.limiter.admit([org(input_tokens=600)], 100)
    snap = await h.limiter.admit([org(input_tokens=200)], 50)  # 500 clamped to 200, minus 50
    assert snap.input_tokens is not None
    assert (snap.input_tokens.limit, snap.input_tokens.remaining) == (200, 150)
    snap = await h.limiter.snapshot([org(input_tokens=600)])
    assert snap.input_tokens is not None
    assert (snap.input_tokens.limit, snap.input_tokens.remaining) == (600, 150)
    assert resets_in(snap.input_tokens, h, 45.0)


@behaviour
async def unlimited_kinds_have_no_bucket(h: Harness) -> None:
    snap = await h.limiter.admit([org(), workspace()], 10**9)
    assert snap == RateLimitSnapshot(None, None, None, None)
    await h.limiter.charge_output([org()], 10**9)
    snap = await h.limiter.admit([org(requests=10)], 10**9)
    assert snap.requests is not None and snap.requests.remaining == 9
    assert snap.input_tokens is None and snap.tokens is None


@behaviour
async def a_scope_given_twice_is_charged_once(h: Harness) -> None:
    snap = await h.limiter.admit([org(requests=60), org(requests=60)], 0)
    assert snap.requests is not None and snap.requests.remaining == 59


class FakeClock:
    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.wall = 1_790_000_000.0


class MemoryHarness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.limiter: InMemoryRateLimiter = InMemoryRateLimiter(
            clock=lambda: self.clock.monotonic, wall_clock=lambda: self.clock.wall
        )

    async def advance(self, seconds: float) -> None:
        self.clock.monotonic += seconds
        self.clock.wall += seconds

    def wall_now(self) -> float:
        return self.clock.wall


@pytest.mark.parametrize("case", BEHAVIOUR, ids=lambda case: case.__name__)
def test_in_memory(case: Case) -> None:
    asyncio.run(case(MemoryHarness()))


def test_refill_is_linear_and_capped_at_the_limit() -> None:
    assert refill(0.0, 1.0, 60) == 1.0
    assert refill(-30.0, 30.0, 60) == 0.0  # debt refills like any level
    assert refill(50.0, 3600.0, 60) == 60.0
    assert refill(500.0, 0.0, 200) == 200.0  # a shrunk limit clamps at once
    assert refill(10.0, -5.0, 60) == 10.0  # a clock that steps back adds nothing


def test_limits_are_positive_or_unlimited() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Limits(requests=0)
    assert Limits().requests is None


def test_waits() -> None:
    assert seconds_until(2.0, 5.0, 60) == 3.0
    assert seconds_until(7.0, 5.0, 60) == 0.0
    assert seconds_to_full(300.0, 600) == 30.0
    assert seconds_to_full(-600.0, 600) == 120.0


def _level(kind: Kind, limit: int, level: float, need: float | None = None) -> BucketLevel:
    return BucketLevel(BucketOp(org(), kind, limit, need, 0), level)


def test_refusal_only_when_a_bucket_is_short() -> None:
    assert refusal([_level(Kind.REQUESTS, 60, 1.0, need=1)]) is None
    assert refusal([_level(Kind.OUTPUT_TOKENS, 60, 0.0, need=None)]) is None
    empty_output = refusal([_level(Kind.OUTPUT_TOKENS, 60, 0.0, need=OUTPUT_MINIMUM)])
    assert empty_output is not None and 0 < empty_output.retry_after_seconds < 0.001
    assert "Please retry after 1 second." in empty_output.message


def test_snapshot_floors_and_clamps_remaining() -> None:
    snap = build_snapshot(
        [_level(Kind.INPUT_TOKENS, 60, 10.9), _level(Kind.OUTPUT_TOKENS, 60, -5.0)], 0.0
    )
    assert snap.input_tokens is not None and snap.input_tokens.remaining == 10
    assert snap.output_tokens is not None and snap.output_tokens.remaining == 0
    assert snap.output_tokens.reset_at == datetime.fromtimestamp(65.0, UTC)
    assert snap.tokens == snap.output_tokens and snap.requests is None


def test_unlimited_scopes_store_nothing_and_idle_buckets_are_forgotten() -> None:
    harness = MemoryHarness()

    async def scenario() -> None:
        await harness.limiter.admit([org(), workspace(output_tokens=None)], 5)
        assert harness.limiter.bucket_count == 0
        await harness.limiter.admit([org(input_tokens=60)], 60)
        assert harness.limiter.bucket_count == 1
        await harness.advance(60.0)  # full again, but kept for the idle margin
        await harness.limiter.snapshot([])
        assert harness.limiter.bucket_count == 1
        await harness.advance(60.0)
        await harness.limiter.snapshot([])
        assert harness.limiter.bucket_count == 0

    asyncio.run(scenario())


def test_reset_comes_from_the_wall_clock() -> None:
    harness = MemoryHarness()
    snap = asyncio.run(harness.limiter.admit([org(requests=60)], 0))
    assert snap.requests is not None
    assert snap.requests.reset_at == datetime.fromtimestamp(harness.clock.wall + 1.0, UTC)


def test_headers_name_each_limited_kind() -> None:
    reset = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
    state = BucketState(limit=50, remaining=49, reset_at=reset)
    headers = rate_limit_headers(RateLimitSnapshot(state, None, None, None))
    assert headers == [
        (b"anthropic-ratelimit-requests-limit", b"50"),
        (b"anthropic-ratelimit-requests-remaining", b"49"),
        (b"anthropic-ratelimit-requests-reset", b"2026-11-22T10:00:05Z"),
    ]
    tokens = BucketState(limit=1000, remaining=0, reset_at=reset)
    names = [name for name, _ in rate_limit_headers(RateLimitSnapshot(None, None, tokens, tokens))]
    assert names == [
        b"anthropic-ratelimit-output-tokens-limit",
        b"anthropic-ratelimit-output-tokens-remaining",
        b"anthropic-ratelimit-output-tokens-reset",
        b"anthropic-ratelimit-tokens-limit",
        b"anthropic-ratelimit-tokens-remaining",
        b"anthropic-ratelimit-tokens-reset",
    ]
    assert rate_limit_headers(RateLimitSnapshot(None, None, None, None)) == []


def test_reset_is_rounded_up_to_the_second_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_reset(datetime(2026, 11, 22, 11, 0, 5, 1, tzinfo=paris)) == "2026-11-22T10:00:06Z"
    assert format_reset(datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)) == "2026-11-22T10:00:05Z"
