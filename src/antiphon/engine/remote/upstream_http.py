"""What every dialect does the same way over HTTP: make a streamed call and read its
server-sent events, turn an error answer into a message, read a JSON endpoint, and call a
health endpoint."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import aiohttp

from antiphon.engine.remote.segment import UpstreamFailed

QUICK = aiohttp.ClientTimeout(total=5.0)  # an upstream's facts, a tokenization
HEALTH = aiohttp.ClientTimeout(total=2.0)


@contextlib.contextmanager
def failures_as_upstream_failed() -> Iterator[None]:
    """Network faults and answers that are not the JSON an upstream documents become
    `UpstreamFailed` (retryable: the fault is the upstream's, not the request's)."""
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as error:
        raise UpstreamFailed(f"{type(error).__name__}: {error}".rstrip(": ")) from error
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        raise UpstreamFailed(f"the upstream sent a malformed answer: {error!r}") from error


async def sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[Any]:
    """Each `data:` event's JSON, until `[DONE]` or the end of the stream."""
    async for line in response.content:  # one line at a time
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return
        yield json.loads(payload)


def raise_on_error_event(data: dict[str, Any]) -> None:
    """An `{"error": …}` event inside a 200 stream (vLLM and SGLang refuse that way once
    the stream has begun: a grammar they cannot compile, a prompt too long) fails the call;
    a 4xx one is the request's fault, not the upstream's, so it is not retried elsewhere."""
    error = data.get("error")
    if error is not None:
        message = error.get("message", error) if isinstance(error, dict) else error
        code = error.get("code", 500) if isinstance(error, dict) else 500
        raise UpstreamFailed(str(message), retryable=not 400 <= int(code) < 500)


async def error_text(response: aiohttp.ClientResponse) -> str:
    """`HTTP 400: message`, with the message wherever the upstream put it."""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        body = None
    detail = body.get("error", body.get("message")) if isinstance(body, dict) else None
    if isinstance(detail, dict):
        detail = detail.get("message")
    return f"HTTP {response.status}" + (f": {detail}" if detail else "")


async def post_events(session: aiohttp.ClientSession, url: str,
                      body: dict[str, Any]) -> AsyncGenerator[Any, None]:
    """A streamed call's events, as JSON. An error answer or an error event raises
    `UpstreamFailed`. Callers close it with `contextlib.aclosing`, so that leaving early
    closes the connection at once (the upstream then stops generating)."""
    async with session.post(url, json=body) as response:
        if response.status != 200:
            raise UpstreamFailed(await error_text(response), retryable=response.status >= 500)
        async for data in sse_data(response):
            raise_on_error_event(data)
            yield data


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    """A JSON endpoint's answer; raises `UpstreamFailed` naming the URL."""
    return await _json_call(session, "GET", url, None)


async def post_json(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    return await _json_call(session, "POST", url, body)


async def _json_call(session: aiohttp.ClientSession, method: str, url: str,
                     body: dict[str, Any] | None) -> Any:
    try:
        async with session.request(method, url, json=body, timeout=QUICK) as response:
            if response.status != 200:
                raise UpstreamFailed(f"{url}: {await error_text(response)}")
            return await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as error:
        raise UpstreamFailed(f"{url}: {type(error).__name__}: {error}") from error


async def answers_ok(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether a health endpoint answers 200 (engines answer 503 while loading)."""
    try:
        async with session.get(url, timeout=HEALTH) as response:
            return response.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False
