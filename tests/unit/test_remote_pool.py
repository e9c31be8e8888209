"""Admission, priority, overload and ejection in a pool of upstreams (engine/remote/pool.py)."""

from __future__ import annotations

import asyncio

import pytest

from antiphon.engine.base import Priority
from antiphon.engine.remote.pool import Upstream, UpstreamPool
from antiphon.engine.remote.router import Router
from antiphon.errors import Overloaded


def pool(limits: list[int], max_queue: int = 4) -> UpstreamPool:
    upstreams = [Upstream(f"http://u{i}", limit, healthy=True) for i, limit in enumerate(limits)]
    return UpstreamPool("m", upstreams, Router(len(upstreams)), max_queue)


def held(upstreams: UpstreamPool) -> list[int]:
    return [upstream.running for upstream in upstreams.upstreams]


def test_places_are_granted_up_to_each_limit_then_requests_wait() -> None:
    async def scenario() -> None:
        upstreams = pool([1, 2])
        leases = [await upstreams.acquire([], Priority.INTERACTIVE) for _ in range(3)]
        assert held(upstreams) == [1, 2]
        later = asyncio.create_task(upstreams.acquire([], Priority.INTERACTIVE))
        await asyncio.sleep(0)
        assert not later.done() and upstreams.waiting == 1
        upstreams.release(leases[0])
        assert (await later).index == leases[0].index
        assert upstreams.waiting == 0

    asyncio.run(scenario())


def test_interactive_requests_go_before_waiting_batch_ones() -> None:
    async def scenario() -> None:
        upstreams = pool([1])
        first = await upstreams.acquire([], Priority.INTERACTIVE)
        batch = asyncio.create_task(upstreams.acquire([], Priority.BATCH))
        await asyncio.sleep(0)
        interactive = asyncio.create_task(upstreams.acquire([], Priority.INTERACTIVE))
        await asyncio.sleep(0)
        upstreams.release(first)
        await asyncio.sleep(0)
        assert interactive.done() and not batch.done()
        upstreams.release(interactive.result())
        await batch

    asyncio.run(scenario())


def test_a_full_queue_is_refused_at_once() -> None:
    async def scenario() -> None:
        upstreams = pool([1], max_queue=1)
        await upstreams.acquire([], Priority.INTERACTIVE)
        upstreams.check_capacity(1)  # one may still wait
        waiting = asyncio.create_task(upstreams.acquire([], Priority.INTERACTIVE))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            upstreams.check_capacity(2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert upstreams.waiting == 0

    asyncio.run(scenario())


def test_ejection_moves_waiters_and_refuses_when_none_is_left() -> None:
    async def scenario() -> None:
        upstreams = pool([1, 1])
        first = await upstreams.acquire([], Priority.INTERACTIVE)
        second = await upstreams.acquire([], Priority.INTERACTIVE)
        # A request that failed on the first upstream may only go to the other one.
        retry = asyncio.create_task(
            upstreams.acquire([], Priority.INTERACTIVE, frozenset({first.index}))
        )
        await asyncio.sleep(0)
        upstreams.eject(first.index, "connection refused")
        upstreams.release(first)
        await asyncio.sleep(0)
        assert not retry.done()  # the first upstream is out; the second is still busy
        upstreams.eject(second.index, "connection refused")
        with pytest.raises(Overloaded):
            await retry
        with pytest.raises(Overloaded):
            upstreams.check_capacity(0)
        stats = [upstream.stats() for upstream in upstreams.upstreams]
        assert [s.ejections_total for s in stats] == [1, 1]
        upstreams.mark_healthy(first.index, True)
        upstreams.check_capacity(0)

    asyncio.run(scenario())


def test_a_cancelled_waiter_gives_back_a_place_granted_as_it_left() -> None:
    async def scenario() -> None:
        upstreams = pool([1])
        first = await upstreams.acquire([], Priority.INTERACTIVE)
        waiter = asyncio.create_task(upstreams.acquire([], Priority.INTERACTIVE))
        await asyncio.sleep(0)
        upstreams.release(first)  # granted to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert held(upstreams) == [0]

    asyncio.run(scenario())
