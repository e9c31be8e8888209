"""The `anthropic-ratelimit-*` response headers, from a rate-limit snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from antiphon.services.rate_limits.buckets import BucketState, RateLimitSnapshot


def format_reset(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, whole seconds. Rounded up: at the time shown the bucket is
    full, never a fraction of a second short of it."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


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
