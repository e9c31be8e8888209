"""A pool of upstream engine servers behind one served model: admission, routing, ejection.

A request waits (interactive before batch, then in arrival order) until some upstream it
has not failed on has a free place under its concurrency limit; the router then picks one
of those. A request that finds every place taken and `max_queue` requests already waiting
is refused at once with `Overloaded` (529), as is one that arrives while no upstream is
reachable. An upstream that fails a call is ejected: it takes no new requests until its
health check passes again, and what the router remembered of its cache is forgotten.
With `shared` (replicas sharing Redis), what the other replicas routed where is read before a
request waits, and where it went is written when it leaves the queue.

Event loop only: no locks, every change happens between awaits.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from antiphon.engine.base import Priority, UpstreamStats
from antiphon.engine.latency import LatencyHistogram
from antiphon.engine.remote.router import Candidate, Router
from antiphon.engine.remote.shared_routes import SharedRoutes
from antiphon.errors import Overloaded

log = logging.getLogger(__name__)


@dataclass
class Upstream:
    url: str
    limit: int  # requests it runs at once
    healthy: bool = False  # until its first health check passes
    running: int = 0
    requests: int = 0
    errors: int = 0
    ejections: int = 0
    routed_prefix_tokens: int = 0
    routed_by_other_replicas: int = 0
    first_token: LatencyHistogram = field(default_factory=LatencyHistogram)

    def stats(self) -> UpstreamStats:
        return UpstreamStats(
            self.url, self.healthy, self.running, self.limit, self.requests, self.errors,
            self.ejections, self.routed_prefix_tokens, self.routed_by_other_replicas,
            self.first_token.snapshot(),
        )


@dataclass(frozen=True)
class Lease:
    """A place on one upstream, held from dispatch until `release`."""

    index: int
    url: str


@dataclass(order=True)
class _Waiter:
    priority: int
    arrival: int
    hashes: Sequence[int] = field(compare=False)
    excluded: frozenset[int] = field(compare=False)
    elsewhere: Mapping[int, int] = field(compare=False)  # other replicas' matches, by index
    granted: asyncio.Future[Lease] = field(compare=False)


class UpstreamPool:
    def __init__(self, model_id: str, upstreams: list[Upstream], router: Router,
                 max_queue: int, shared: SharedRoutes | None = None) -> None:
        self.model_id = model_id
        self.upstreams = upstreams
        self._router = router
        self.shared = shared  # affinity routing's memory, shared with other replicas
        self._max_queue = max_queue
        self._waiting: list[_Waiter] = []
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return sum(upstream.running for upstream in self.upstreams)

    def check_capacity(self, in_flight: int) -> None:
        """Refuse a new request now, with `in_flight` accepted and unfinished, rather than
        queue it without bound (529)."""
        if not any(upstream.healthy for upstream in self.upstreams):
            raise Overloaded(
                f"{self.model_id}: none of its {len(self.upstreams)} upstream engines is "
                "reachable; retry shortly", retry_after_seconds=5.0,
            )
        places = sum(upstream.limit for upstream in self.upstreams if upstream.healthy)
        if in_flight >= places + self._max_queue:
            raise Overloaded(
                f"{self.model_id} is busy: every upstream engine is full and "
                f"{self._max_queue} requests are waiting; retry shortly",
                retry_after_seconds=1.0,
            )

    async def acquire(self, hashes: Sequence[int], priority: Priority,
                      excluded: frozenset[int] = frozenset()) -> Lease:
        """Wait for a place on an upstream not in `excluded`. Raises `Overloaded` when no
        upstream outside `excluded` is healthy any more."""
        self._check_reachable(excluded)
        elsewhere = await self._routed_elsewhere(hashes)
        waiter = _Waiter(int(priority), next(self._arrivals), hashes, excluded, elsewhere,
                         asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        self._waiting.sort()
        self._dispatch()
        try:
            return await waiter.granted
        except asyncio.CancelledError:  # the client went away while it waited
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif _granted(waiter.granted):  # granted just before the cancel arrived
                self.release(waiter.granted.result())
            raise

    async def _routed_elsewhere(self, hashes: Sequence[int]) -> Mapping[int, int]:
        if self.shared is None:
            return {}
        by_url = await self.shared.matched_blocks(hashes)
        return {index: by_url[upstream.url] for index, upstream in enumerate(self.upstreams)
                if upstream.url in by_url}

    def release(self, lease: Lease) -> None:
        self.upstreams[lease.index].running -= 1
        self._dispatch()

    def eject(self, index: int, reason: str) -> None:
        """The upstream failed a call: no new requests until its health check passes."""
        self.upstreams[index].errors += 1
        self._take_out(index, reason)

    def mark_healthy(self, index: int, healthy: bool) -> None:
        """A health check's verdict."""
        upstream = self.upstreams[index]
        if healthy and not upstream.healthy:
            upstream.healthy = True
            self._router.forget(index)  # it may have restarted with an empty cache
            log.info("%s: upstream %s is healthy", self.model_id, upstream.url)
            self._dispatch()
        elif not healthy:
            self._take_out(index, "health check failed")  # not a failed request

    def _take_out(self, index: int, reason: str) -> None:
        upstream = self.upstreams[index]
        if upstream.healthy:
            upstream.healthy = False
            upstream.ejections += 1
            self._router.forget(index)
            log.warning("%s: upstream %s ejected: %s", self.model_id, upstream.url, reason)
        self._fail_unreachable()

    def _check_reachable(self, excluded: frozenset[int]) -> None:
        if not any(u.healthy for i, u in enumerate(self.upstreams) if i not in excluded):
            tried = f" (failed on {len(excluded)})" if excluded else ""
            raise Overloaded(
                f"{self.model_id}: no upstream engine can take this request{tried}; "
                "retry shortly", retry_after_seconds=5.0,
            )

    def _fail_unreachable(self) -> None:
        """Waiters left with no healthy upstream would wait forever: refuse them now."""
        for waiter in list(self._waiting):
            try:
                self._check_reachable(waiter.excluded)
            except Overloaded as error:
                self._waiting.remove(waiter)
                if not waiter.granted.done():
                    waiter.granted.set_exception(error)

    def _dispatch(self) -> None:
        """Give free places to waiters, in priority order."""
        for waiter in list(self._waiting):
            if waiter.granted.done():
                self._waiting.remove(waiter)
                continue
            candidates = [
                Candidate(index, upstream.running)
                for index, upstream in enumerate(self.upstreams)
                if upstream.healthy and upstream.running < upstream.limit
                and index not in waiter.excluded
            ]
            if not candidates:
                continue
            choice = self._router.choose(
                candidates, waiter.hashes, self.running, waiter.elsewhere
            )
            upstream = self.upstreams[choice.index]
            if self.shared is not None:
                self.shared.record(waiter.hashes, upstream.url,
                                   waiter.elsewhere.get(choice.index, 0))
            upstream.running += 1
            upstream.requests += 1
            upstream.routed_prefix_tokens += choice.matched_tokens
            upstream.routed_by_other_replicas += choice.by_other_replicas
            self._waiting.remove(waiter)
            waiter.granted.set_result(Lease(choice.index, upstream.url))


def _granted(future: asyncio.Future[Lease]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
