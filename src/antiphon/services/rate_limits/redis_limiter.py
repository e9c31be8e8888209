"""Token buckets in Redis, shared by every replica that points at the same server.

One Lua script refills, checks and charges all the buckets of a call in one step, so two
replicas can never both take the last token. It reads the time from Redis itself (`TIME`):
replicas with skewed clocks then still agree on how much each bucket has refilled. Levels are
integers in 1/60000 token (`UNITS_PER_TOKEN`), so a limit of L per minute refills exactly L
units per millisecond and no refill is ever lost to rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from antiphon.errors import Overloaded
from antiphon.services.rate_limits.buckets import (
    IDLE_MARGIN_SECONDS,
    UNITS_PER_TOKEN,
    BucketLevel,
    BucketOp,
    Kind,
    LimitScope,
    RateLimitSnapshot,
    admission_ops,
    build_snapshot,
    check_never_fits,
    output_ops,
    refusal,
    snapshot_ops,
)

log = logging.getLogger(__name__)

# KEYS: one hash {level, updated_ms} per bucket.
# ARGV: mode, idle margin (ms), then per bucket: limit per minute, need (units, -1: none),
#       charge (units).
# mode "check": charge only if no bucket is short; "charge": always; "peek": never write.
# Returns {charged (1/0), server now (ms), level of each bucket (units; after the charge if
# one was taken)}. A missing key is a full bucket: that is how idle buckets expire.
_BUCKETS_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local mode = ARGV[1]
local margin = tonumber(ARGV[2])
local units = 60000
local levels = {}
local short = false
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i * 3])
  local need = tonumber(ARGV[i * 3 + 1])
  local full = limit * units
  local level = full
  local stored = redis.call('HMGET', key, 'level', 'updated_ms')
  if stored[1] then
    local elapsed = math.max(0, now - tonumber(stored[2]))
    level = math.min(full, tonumber(stored[1]) + elapsed * limit)
  end
  levels[i] = level
  if need >= 0 and level < need then short = true end
end
if mode == 'peek' or (mode == 'check' and short) then
  return {0, now, unpack(levels)}
end
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i * 3])
  local level = levels[i] - tonumber(ARGV[i * 3 + 2])
  levels[i] = level
  redis.call('HSET', key, 'level', level, 'updated_ms', now)
  redis.call('PEXPIRE', key, math.ceil((limit * units - level) / limit) + margin)
end
return {1, now, unpack(levels)}
"""


class RedisUnavailable(ConnectionError):
    """Redis could not be reached when the limiter was set up."""


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class RedisRateLimiter:
    """`RateLimiter` over Redis (redis.asyncio); create it with `connect`."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_BUCKETS_LUA)

    @classmethod
    async def connect(cls, url: str, prefix: str = "antiphon:rl:") -> RedisRateLimiter:
        """Connect and ping, so that a wrong URL fails at start-up rather than per request."""
        client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise RedisUnavailable(
                f"Redis for rate limits is not reachable at {_without_password(url)}: {exc}"
            ) from exc
        return cls(client, prefix)

    async def admit(self, scopes: Sequence[LimitScope], input_tokens: int) -> RateLimitSnapshot:
        check_never_fits(scopes, input_tokens)
        ops = admission_ops(scopes, input_tokens)
        charged, levels, now_ms = await self._run("check", ops)
        if not charged:
            error = refusal(levels)
            if error is None:  # the script and `refusal` compare the same integers
                raise RuntimeError("rate-limit script refused a call no bucket is short for")
            raise error
        return build_snapshot(levels, now_ms / 1000)

    async def charge_output(self, scopes: Sequence[LimitScope], tokens: int) -> None:
        await self._run("charge", output_ops(scopes, tokens))

    async def snapshot(self, scopes: Sequence[LimitScope]) -> RateLimitSnapshot:
        _, levels, now_ms = await self._run("peek", snapshot_ops(scopes))
        return build_snapshot(levels, now_ms / 1000)

    async def close(self) -> None:
        await self._client.aclose()

    def key(self, scope: LimitScope, kind: Kind) -> str:
        """The Redis key of one bucket (public so that tests and operators can find it)."""
        return f"{self._prefix}{scope.key}:{kind.value}"

    async def _run(
        self, mode: str, ops: Sequence[BucketOp]
    ) -> tuple[bool, list[BucketLevel], int]:
        if not ops:  # nothing is limited: no round trip (the time is then never used)
            return True, [], 0
        args: list[Any] = [mode, round(IDLE_MARGIN_SECONDS * 1000)]
        for op in ops:
            need = -1 if op.need is None else round(op.need * UNITS_PER_TOKEN)
            args += [op.limit, need, op.charge * UNITS_PER_TOKEN]
        keys = [self.key(op.scope, op.kind) for op in ops]
        try:
            charged, now_ms, *units = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            # Without its buckets the server cannot tell who may go: refuse for now (529,
            # which clients retry) rather than let everyone through or fail with a 500.
            log.error("rate-limit buckets in Redis unavailable: %s", exc)
            raise Overloaded(
                "rate limits cannot be checked right now (their store is unavailable)", 2.0
            ) from exc
        levels = [BucketLevel(op, int(u) / UNITS_PER_TOKEN) for op, u in zip(ops, units)]
        return bool(charged), levels, int(now_ms)
