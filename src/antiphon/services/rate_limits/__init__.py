"""Per-minute rate limits (requests, input tokens, output tokens) as token buckets.

`InMemoryRateLimiter` serves a single replica; `RedisRateLimiter` shares the buckets between
replicas. Both implement `RateLimiter`; `http/app.py` picks one from the config.
"""

from antiphon.services.rate_limits.buckets import (
    BucketState,
    Kind,
    Limits,
    LimitScope,
    RateLimiter,
    RateLimitSnapshot,
)
from antiphon.services.rate_limits.memory import InMemoryRateLimiter
from antiphon.services.rate_limits.redis_limiter import RedisRateLimiter, RedisUnavailable

__all__ = [
    "BucketState",
    "InMemoryRateLimiter",
    "Kind",
    "LimitScope",
    "Limits",
    "RateLimitSnapshot",
    "RateLimiter",
    "RedisRateLimiter",
    "RedisUnavailable",
]
