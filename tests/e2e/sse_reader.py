"""A strict reader of server-sent events for tests: it checks the byte format as it parses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx


def read_events(response: httpx.Response) -> Iterator[tuple[str | None, str]]:
    """(event name, raw data) per event; asserts each event is `event:`? + one `data:` line."""
    buffer = ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            raw, buffer = buffer.split("\n\n", 1)
            if raw.startswith(":"):
                yield None, raw  # an SSE comment
                continue
            lines = raw.split("\n")
            name = None
            if lines[0].startswith("event: "):
                name = lines.pop(0).removeprefix("event: ")
            assert len(lines) == 1 and lines[0].startswith("data: "), raw
            yield name, lines[0].removeprefix("data: ")
    assert buffer == "", f"stream ended mid-event: {buffer!r}"


def named_events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    for name, data in read_events(response):
        assert name is not None
        payload = json.loads(data)
        assert payload["type"] == name
        yield name, payload
