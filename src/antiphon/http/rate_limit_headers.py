"""Rate-limit response headers from a snapshot: `anthropic-ratelimit-*`, or OpenAI's
`x-ratelimit-*` for callers of its dialect (the hosted API sends those on
`/v1/chat/completions`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from antiphon.services.rate_limits.buckets import BucketState, RateLimitSnapshot


def format_reset(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, whole seconds. Rounded up: at the time shown the bucket is
    full, never a fraction of a second short of it."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_wait(moment: datetime, now: datetime) -> str:
    """OpenAI's reset: the wait until the bucket is full, as `1s` or `6m0s` (rounded up)."""
    seconds = max(0, math.ceil((moment - now).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _bucket_headers(name: str, state: BucketState) -> list[tuple[bytes, bytes]]:
    prefix = f"anthropic-ratelimit-{name}"
    return [
        (f"{prefix}-limit".encode(), str(state.limit).encode()),
        (f"{prefix}-remaining".encode(), str(state.remaining).encode()),
        (f"{prefix}-reset".encode(), format_reset(state.reset_at).encode()),
    ]


def rate_limit_headers(snapshot: RateLimitSnapshot) -> list[tuple[bytes, bytes]]:
    """Limit, remaining and reset for each limited kind; unlimited kinds send nothing."""
    kinds = (
        ("requests", snapshot.requests),
        ("input-tokens", snapshot.input_tokens),
        ("output-tokens", snapshot.output_tokens),
        ("tokens", snapshot.tokens),
    )
    return [
        header
        for name, state in kinds
        if state is not None
        for header in _bucket_headers(name, state)
    ]


def openai_rate_limit_headers(
    snapshot: RateLimitSnapshot, now: datetime | None = None
) -> list[tuple[bytes, bytes]]:
    """`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; `tokens` is the tighter of
    the token buckets (the snapshot's `tokens`), or the only one limited."""
    moment = now or datetime.now(UTC)
    tokens = snapshot.tokens or snapshot.input_tokens or snapshot.output_tokens
    headers: list[tuple[bytes, bytes]] = []
    for name, state in (("requests", snapshot.requests), ("tokens", tokens)):
        if state is not None:
            headers += [
                (f"x-ratelimit-limit-{name}".encode(), str(state.limit).encode()),
                (f"x-ratelimit-remaining-{name}".encode(), str(state.remaining).encode()),
                (f"x-ratelimit-reset-{name}".encode(), format_wait(state.reset_at, moment).encode()),
            ]
    return headers
