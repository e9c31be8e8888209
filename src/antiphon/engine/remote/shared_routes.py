"""The router's prefix memory shared by replicas, through Redis.

Each replica of antiphon in front of one pool remembers which upstream it sent which prompt
prefix (router.SentPrefixes). A load balancer that sends an agent's next turn to another
replica would lose that: the other replica has never seen the conversation, and picks an
upstream whose cache does not hold it. With `--redis-url`, every routed prompt's block
hashes are also written to Redis, each naming the upstream (by URL) that was sent the prefix
ending there, and a replica reads them before it routes: the longest prefix any replica
sent to an upstream counts as if it had sent it itself.

Only marked blocks are written and read (`marks`: every 4th, coarser for long prompts, at
most 64 a prompt), and only those Redis does not already give to that upstream: a 12,800-token
prompt's 200 blocks as keys took 0.67 ms to read and 2.6 ms of the event loop to write
(this VM, local Redis), its 50 marks 0.26 and 0.75 ms, and a conversation's next turn
writes only its new marks. A match is then known to within a stride; this replica's own
memory still knows it to the block.

Best effort, by design: a read that fails or is slow (READ_TIMEOUT) routes with this
replica's own memory, a failed write is dropped, and neither ever fails a request; after a
failure Redis is left alone for RETRY_AFTER seconds, so that a Redis that is down (or a
host that swallows packets) costs requests nothing meanwhile. Keys expire an hour after
they were written (a mark in constant use is written again by the first request that finds
it gone); an upstream that was ejected may still be named by them, which costs one cache
miss, as after any upstream restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

READ_TIMEOUT = 0.05  # seconds; a slower Redis routes on local memory instead of delaying
TTL_SECONDS = 3600  # a mark is forgotten an hour after it was written
WARN_EVERY = 60.0  # seconds between two warnings about an unreachable Redis
RETRY_AFTER = 5.0  # seconds without Redis after it failed
CONNECTIONS = 16  # to Redis, per pool: a read or write takes well under a millisecond
CLIENT_NAME = "antiphon-routes"  # how these connections show in Redis's CLIENT LIST
GRAIN = 4  # the finest stride of marked blocks (256 tokens)
MOST_MARKS = 64  # marked blocks of one prompt at most: a prompt's reads and writes


def marks(blocks: int) -> range:
    """The indices of a prompt's marked blocks: every stride-th, the stride a power of two
    from GRAIN up, so that a longer prompt's marks (a coarser stride) are among a shorter
    one's and a reader finds what a writer of another length marked."""
    stride = GRAIN
    while blocks // stride > MOST_MARKS:
        stride *= 2
    return range(stride - 1, blocks, stride)


def pool_key(model_id: str, urls: Sequence[str]) -> str:
    """Replicas serving the same model from the same upstreams share keys; another pool on
    the same Redis (another model, or the same one on other machines) does not."""
    digest = hashlib.sha256("\n".join(sorted(urls)).encode()).hexdigest()[:16]
    return f"antiphon:routes:{model_id}:{digest}:"


class SharedRoutes:
    """One pool's view of the prefixes every replica routed. Event loop only."""

    def __init__(self, redis_url: str, key_prefix: str) -> None:
        self._url = redis_url
        self._prefix = key_prefix
        self._client: aioredis.Redis | None = None  # made on first use, on the serving loop
        self._writes: set[asyncio.Task[None]] = set()
        self._warned_at = float("-inf")
        self._down_until = float("-inf")  # after a failure: not asked again until then

    async def matched_blocks(self, hashes: Sequence[int]) -> dict[str, int]:
        """For each upstream URL some replica sent a prefix of this prompt to, how many
        leading blocks that prefix has (the longest one, where several were)."""
        marked = marks(len(hashes))
        if not marked or self._down:
            return {}
        try:
            values = await asyncio.wait_for(
                self._redis.mget([self._key(hashes[index]) for index in marked]), READ_TIMEOUT
            )
        except (RedisError, OSError, TimeoutError) as error:
            self._failed(f"read: {str(error) or type(error).__name__}")
            return {}
        matched: dict[str, int] = {}
        for index, value in zip(marked, values):
            if value is not None:
                matched[value.decode() if isinstance(value, bytes) else value] = index + 1
        return matched

    def record(self, hashes: Sequence[int], url: str, known: int = 0) -> None:
        """Say that `url` was sent the prompt with these block hashes, whose first `known`
        blocks Redis gave to it already; written in the background, off the request's way."""
        fresh = [hashes[index] for index in marks(len(hashes)) if index >= known]
        if not fresh or self._down:
            return
        task = asyncio.get_running_loop().create_task(self._write(fresh, url))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def close(self) -> None:
        if self._writes:
            await asyncio.wait(self._writes, timeout=1.0)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    @property
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            # A few connections that requests wait their turn for: a burst of requests
            # must not open a connection each (redis-py's default pool refuses past 100).
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url, max_connections=CONNECTIONS, timeout=1.0,
                socket_connect_timeout=1, socket_timeout=1, client_name=CLIENT_NAME,
            )
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    def _key(self, block: int) -> str:
        return f"{self._prefix}{block & 0xFFFFFFFFFFFFFFFF:x}"

    async def _write(self, blocks: Sequence[int], url: str) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for block in blocks:
                    pipe.set(self._key(block), url, ex=TTL_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self._failed(f"write: {str(error) or type(error).__name__}")

    def _failed(self, what: str) -> None:
        now = time.monotonic()
        self._down_until = now + RETRY_AFTER
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("routing memory in Redis unavailable (%s); routing on this "
                        "replica's own memory", what)
