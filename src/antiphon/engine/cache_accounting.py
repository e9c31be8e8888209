"""Prompt caching's usage numbers, as the hosted API reports them.

With breakpoints at b1 < b2 < … < bn prompt tokens: the longest pinned prefix that ends at or
before bn is read from the cache; the tokens from there to each later breakpoint are written
(cache creation, at that breakpoint's TTL); the rest is plain input. Without breakpoints
nothing is read or written, whatever the prefix cache reused: that reuse is free speed.
"""

from __future__ import annotations

from collections.abc import Iterable

from antiphon.engine.base import CacheBreakpoint, PromptCacheUsage


def cache_usage(
    breakpoints: tuple[CacheBreakpoint, ...], pinned_ends: Iterable[int], reused: int
) -> PromptCacheUsage:
    if not breakpoints:
        return PromptCacheUsage(reused_tokens=reused)
    last = max(breakpoint.tokens for breakpoint in breakpoints)
    read = max((end for end in pinned_ends if end <= last), default=0)
    created: list[int] = []
    covered = read
    for breakpoint in breakpoints:
        written = max(0, breakpoint.tokens - covered)
        created.append(written)
        covered = max(covered, breakpoint.tokens)
    return PromptCacheUsage(reused_tokens=reused, read_tokens=read, created_tokens=tuple(created))
