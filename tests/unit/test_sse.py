import asyncio
import json
from collections.abc import AsyncIterator

from antiphon.errors import Overloaded
from antiphon.http.sse import PING, encode_model, error_event, guard_errors, with_pings
from antiphon.protocol.streaming import ContentBlockDelta, Ping, TextDelta


async def _collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


def test_event_bytes_have_the_event_name_equal_to_the_json_type() -> None:
    raw = encode_model(ContentBlockDelta(index=0, delta=TextDelta(text="hé\n")))
    head, data, end = raw.decode().split("\n", 2)
    assert head == "event: content_block_delta"
    assert json.loads(data.removeprefix("data: ")) == {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hé\n"}
    }
    assert end == "\n"


def test_the_ping_constant_is_the_ping_model() -> None:
    assert PING == encode_model(Ping()).replace(b'{"type":"ping"}', b'{"type": "ping"}')


def test_pings_fill_silence_and_stop_when_events_flow() -> None:
    async def slow() -> AsyncIterator[bytes]:
        await asyncio.sleep(0.35)
        yield b"a"
        yield b"b"

    chunks = asyncio.run(_collect(with_pings(slow(), interval=0.1)))
    assert chunks[-2:] == [b"a", b"b"]
    assert chunks[:-2] and all(chunk == PING for chunk in chunks[:-2])


def test_a_failure_after_the_start_becomes_an_error_event() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"first"
        raise Overloaded("the server is shutting down")

    chunks = asyncio.run(_collect(guard_errors(failing(), error_event("req_1"))))
    assert chunks[0] == b"first"
    head, data = chunks[1].decode().strip().split("\n")
    assert head == "event: error"
    assert json.loads(data.removeprefix("data: ")) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "the server is shutting down"},
        "request_id": "req_1",
    }


def test_a_bug_after_the_start_is_an_api_error_without_details() -> None:
    async def buggy() -> AsyncIterator[bytes]:
        raise KeyError("secret internals")
        yield b""  # pragma: no cover

    (chunk,) = asyncio.run(_collect(guard_errors(buggy(), error_event(None))))
    body = json.loads(chunk.decode().split("data: ")[1])
    assert body["error"] == {"type": "api_error", "message": "Internal server error"}


def test_closing_the_stream_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await asyncio.sleep(0.01)
                yield b"x"
        finally:
            closed.set()

    async def scenario() -> bool:
        stream = with_pings(endless(), interval=1)
        await stream.__anext__()
        await stream.aclose()
        return closed.is_set()

    assert asyncio.run(scenario())
