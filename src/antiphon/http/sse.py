"""Server-sent events: `event: NAME\\ndata: JSON\\n\\n`, pings on silence, errors as events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from antiphon.http.errors import error_json

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# protocol.streaming.Ping on the wire, prebuilt because it is sent often.
PING = b'event: ping\ndata: {"type": "ping"}\n\n'
# For clients of streams without a ping event (legacy completions, OpenAI's chunks): an SSE
# comment, which every SSE parser skips.
COMMENT_PING = b": ping\n\n"


def encode_event(name: str | None, data: str) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


def encode_model(event: BaseModel) -> bytes:
    """An event whose `type` field names it, as every Messages stream event does."""
    return encode_event(getattr(event, "type"), event.model_dump_json())


async def with_pings(
    events: AsyncIterator[bytes], interval: float, ping: bytes = PING
) -> AsyncIterator[bytes]:
    """Pass `events` through, inserting `ping` whenever none came for `interval` seconds."""
    iterator = events.__aiter__()
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield ping
                continue
            finished, pending = pending, None
            try:
                yield finished.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def guard_errors(
    events: AsyncIterator[bytes], on_error: Callable[[BaseException], bytes]
) -> AsyncIterator[bytes]:
    """After the 200 has gone out, a failure can only be reported as a final event."""
    try:
        async for chunk in events:
            yield chunk
    except Exception as error:  # noqa: BLE001 - every failure must reach the client
        yield on_error(error)


def error_event(request_id: str | None) -> Callable[[BaseException], bytes]:
    return lambda error: encode_event("error", error_json(error, request_id))


def sse_response(
    body: AsyncIterator[bytes],
    ping_interval: float,
    cleanup: Callable[[], object] | None = None,
    ping: bytes = PING,
) -> StreamingResponse:
    """`cleanup` runs after the stream however it ended, even if it never started."""
    return StreamingResponse(
        with_pings(body, ping_interval, ping),
        media_type="text/event-stream; charset=utf-8",
        headers=SSE_HEADERS,
        background=BackgroundTask(cleanup) if cleanup is not None else None,
    )
