"""Replicas in front of one pool share what they routed where, through the real Redis
(engine/remote/shared_routes.py), and route as one when a load balancer spreads an
agent's turns over them."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import pytest

from antiphon.engine.base import Priority
from antiphon.engine.remote.pool import Upstream, UpstreamPool
from antiphon.engine.remote.router import BLOCK_TOKENS, Router, block_hashes
from antiphon.engine.remote.shared_routes import (
    CLIENT_NAME,
    CONNECTIONS,
    MOST_MARKS,
    READ_TIMEOUT,
    SharedRoutes,
    marks,
    pool_key,
)
from tests.services import redis_url

URLS = ["http://u0", "http://u1", "http://u2"]


def replica(shared: SharedRoutes | None) -> UpstreamPool:
    """One antiphon replica's pool of the same three upstreams, with its own router."""
    upstreams = [Upstream(url, 4, healthy=True) for url in URLS]
    return UpstreamPool("m", upstreams, Router(len(upstreams)), 8, shared)


def conversation(seed: int, blocks: int) -> list[int]:
    """A prompt of whole blocks of tokens that no other seed shares."""
    return [seed * 100_000 + token for token in range(blocks * BLOCK_TOKENS)]


async def route(pool: UpstreamPool, prompt: list[int]) -> int:
    """Where the prompt goes; the request then ends at once (sequential traffic)."""
    lease = await pool.acquire(block_hashes(prompt), Priority.INTERACTIVE)
    pool.release(lease)
    return lease.index


async def turns_upstreams(first: UpstreamPool, second: UpstreamPool) -> tuple[int, int]:
    """Conversation 1's first turn through one replica, another conversation through the
    second replica, then conversation 1's next turn (its prompt grown) through the second:
    where conversation 1's two turns went. Requests a moment apart, as turns are (the
    writes to Redis happen in the background)."""
    turn_one = conversation(1, 8)
    went_first = await route(first, turn_one)
    await asyncio.sleep(0.05)
    await route(second, conversation(2, 8))
    await asyncio.sleep(0.05)
    went_second = await route(second, turn_one + conversation(3, 2))
    return went_first, went_second


def shared(prefix: str) -> SharedRoutes:
    return SharedRoutes(redis_url(), prefix)


def test_an_agents_next_turn_on_another_replica_goes_where_its_cache_is() -> None:
    prefix = f"test:routes:{secrets.token_hex(4)}:"

    async def scenario() -> tuple[tuple[int, int], tuple[int, int], int]:
        alone = await turns_upstreams(replica(None), replica(None))
        a, b = shared(prefix), shared(prefix)
        second_replica = replica(b)
        together = await turns_upstreams(replica(a), second_replica)
        await a.close()
        await b.close()
        guided = sum(u.routed_by_other_replicas for u in second_replica.upstreams)
        return alone, together, guided

    alone, together, guided = asyncio.run(scenario())
    # Without sharing, the second replica never saw the conversation: it spreads it anew.
    assert alone[0] != alone[1]
    assert together[0] == together[1]
    assert guided == 1  # the second turn, and not the other conversation


def test_the_longest_prefix_names_the_upstream_and_other_pools_are_apart() -> None:
    url = redis_url()
    prefix = f"test:routes:{secrets.token_hex(4)}:"

    async def scenario() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        routes, other = SharedRoutes(url, prefix), SharedRoutes(url, prefix + "other:")
        system = conversation(7, 8)
        routes.record(block_hashes(system), "http://u0")
        await asyncio.sleep(0.05)
        routes.record(block_hashes(system + conversation(8, 8)), "http://u1")
        await asyncio.sleep(0.05)
        longer = await routes.matched_blocks(block_hashes(system + conversation(8, 12)))
        shorter = await routes.matched_blocks(block_hashes(system + conversation(9, 4)))
        apart = await other.matched_blocks(block_hashes(system))
        await routes.close()
        await other.close()
        return longer, shorter, apart

    longer, shorter, apart = asyncio.run(scenario())
    # The shared system prompt's marked blocks name whoever was sent them last; the one that
    # got the longer prompt holds all sixteen of its blocks.
    assert longer == {"http://u1": 16}
    assert shorter == {"http://u1": 8}
    assert apart == {}


def test_marks_are_few_and_a_longer_prompts_are_among_a_shorter_ones() -> None:
    assert list(marks(3)) == [] and list(marks(8)) == [3, 7]
    for shorter, longer in [(10, 300), (100, 1024), (257, 700)]:
        assert len(marks(longer)) <= MOST_MARKS
        assert set(marks(longer)) & set(range(shorter)) <= set(marks(shorter))


def test_pool_keys_depend_on_the_model_and_the_set_of_upstreams_not_their_order() -> None:
    assert pool_key("m", ["http://a", "http://b"]) == pool_key("m", ["http://b", "http://a"])
    assert pool_key("m", ["http://a"]) != pool_key("m", ["http://a", "http://b"])
    assert pool_key("m", ["http://a"]) != pool_key("n", ["http://a"])


def test_an_unreachable_redis_routes_on_local_memory_without_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis host that swallows packets (no answer, not even a refusal): the first request
    waits READ_TIMEOUT for it, the ones after do not ask it again for a while."""
    async def scenario() -> tuple[list[int], float]:
        routes = SharedRoutes("redis://10.255.255.1:6379/0", "test:routes:down:")
        pool = replica(routes)
        started = time.perf_counter()
        went = [await route(pool, conversation(4, 8)) for _ in range(20)]
        elapsed = time.perf_counter() - started
        await routes.close()
        return went, elapsed

    with caplog.at_level(logging.WARNING, logger="antiphon.engine.remote.shared_routes"):
        went, elapsed = asyncio.run(scenario())
    assert went == [went[0]] * 20  # this replica's own memory still keeps them together
    assert elapsed < 20 * READ_TIMEOUT / 2  # not a timeout per request
    warnings = [r for r in caplog.records if "routing memory in Redis" in r.getMessage()]
    assert len(warnings) == 1  # once, not per request


def test_a_burst_of_requests_shares_a_few_connections() -> None:
    """More requests at once than redis-py's default pool would open connections for (100):
    they wait their turn for one of CONNECTIONS."""
    import redis

    url = redis_url()
    prefix = f"test:routes:{secrets.token_hex(4)}:"

    def ours() -> int:
        """Connections by that name now (other tests' may still be closing: count the rise)."""
        listed = redis.Redis.from_url(url).client_list()
        return sum(client["name"] == CLIENT_NAME for client in listed)

    async def scenario() -> tuple[list[dict[str, int]], int]:
        routes = SharedRoutes(url, prefix)
        hashes = block_hashes(conversation(5, 8))
        routes.record(hashes, "http://u2")
        await asyncio.sleep(0.05)
        found = await asyncio.gather(*(routes.matched_blocks(hashes) for _ in range(120)))
        during = ours()
        await routes.close()
        return found, during

    before = ours()
    found, during = asyncio.run(scenario())
    assert during - before <= CONNECTIONS
    assert {"http://u2": 8} in found  # answered, not refused for want of connections
