"""The Redis limiter against a real Redis at 127.0.0.1:6379 (skipped, saying why, without one;
failed in CI).

It passes the same `BEHAVIOUR` cases as the in-memory limiter, on real time; each test uses
its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from antiphon.errors import RateLimited
from antiphon.services.rate_limits import (
    Kind,
    Limits,
    LimitScope,
    RedisRateLimiter,
    RedisUnavailable,
)
from tests.services import unavailable
from tests.unit.test_rate_limit_buckets import BEHAVIOUR, Case

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted after the test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        unavailable(f"Redis not reachable at 127.0.0.1:6379: {exc}")
    prefix = f"antiphon:test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        leftover = list(client.scan_iter(match=f"{prefix}*"))
        if leftover:
            client.delete(*leftover)
        client.close()


class RedisHarness:
    def __init__(self, limiter: RedisRateLimiter) -> None:
        self.limiter = limiter

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def wall_now(self) -> float:
        return time.time()  # the server runs on this machine, so its clock is this one


def run_with(prefix: str, body: Callable[[RedisRateLimiter], Awaitable[None]]) -> None:
    async def scenario() -> None:
        limiter = await RedisRateLimiter.connect(REDIS_URL, prefix=prefix)
        try:
            await body(limiter)
        finally:
            await limiter.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("case", BEHAVIOUR, ids=lambda case: case.__name__)
def test_redis(case: Case, prefix: str) -> None:
    run_with(prefix, lambda limiter: case(RedisHarness(limiter)))


ORG = LimitScope("org", "organization", Limits(requests=5, input_tokens=600))


def test_two_replicas_share_one_limit(prefix: str) -> None:
    async def scenario() -> None:
        first = await RedisRateLimiter.connect(REDIS_URL, prefix=prefix)
        second = await RedisRateLimiter.connect(REDIS_URL, prefix=prefix)
        try:
            for limiter in (first, second, first, second, first):
                await limiter.admit([ORG], 1)
            with pytest.raises(RateLimited):
                await second.admit([ORG], 1)
            snap = await first.snapshot([ORG])
            assert snap.input_tokens is not None and snap.input_tokens.remaining == 595
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


def test_buckets_are_hashes_that_expire_once_full(prefix: str) -> None:
    async def body(limiter: RedisRateLimiter) -> None:
        await limiter.admit([ORG], 300)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            key = limiter.key(ORG, Kind.INPUT_TOKENS)
            stored = client.hgetall(key)
            assert set(stored) == {b"level", b"updated_ms"}
            assert int(stored[b"level"]) == 300 * 60_000  # units of 1/60000 token
            # 300 of 600 tokens refill in 30 s; the key lives that long plus the idle margin.
            assert 39_000 < client.pttl(key) <= 40_000
            assert 10_000 < client.pttl(limiter.key(ORG, Kind.REQUESTS)) <= 22_000
            assert not client.exists(limiter.key(ORG, Kind.OUTPUT_TOKENS))  # unlimited
        finally:
            client.close()

    run_with(prefix, body)


def test_refusals_and_snapshots_write_nothing(prefix: str) -> None:
    tight = LimitScope("workspace:w", "workspace w", Limits(input_tokens=10))
    client = redis.Redis.from_url(REDIS_URL)

    def stored() -> dict[Any, Any]:
        return {key: client.hgetall(key) for key in client.scan_iter(match=f"{prefix}*")}

    async def body(limiter: RedisRateLimiter) -> None:
        await limiter.snapshot([ORG, tight])
        assert stored() == {}
        await limiter.admit([ORG, tight], 8)
        before = stored()
        assert len(before) == 3
        await asyncio.sleep(0.01)  # a write would now change updated_ms
        with pytest.raises(RateLimited, match="workspace w of 10 input tokens"):
            await limiter.admit([ORG, tight], 5)
        await limiter.snapshot([ORG, tight])
        assert stored() == before

    try:
        run_with(prefix, body)
    finally:
        client.close()


def test_connect_fails_clearly_without_redis() -> None:
    with pytest.raises(RedisUnavailable, match="not reachable at redis://127.0.0.1:1/0"):
        asyncio.run(RedisRateLimiter.connect("redis://:secret@127.0.0.1:1/0"))
