"""The SSE byte format and event order of streamed messages, raw."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.conftest import Server
from tests.e2e.sse_reader import named_events

BODY = {"model": "smollm2-135m-instruct", "max_tokens": 30, "stream": True, "temperature": 0,
        "messages": [{"role": "user", "content": "Describe the moon in a sentence."}]}


@contextlib.contextmanager
def stream(server: Server, body: dict) -> Iterator[httpx.Response]:
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{server.base_url}/v1/messages", json=body,
                           headers=server.headers()) as response:
            yield response


def test_event_sequence_and_headers(server: Server) -> None:
    with stream(server, BODY) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        events = [(n, p) for n, p in named_events(response) if n != "ping"]
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[1] == "content_block_start"
    assert set(names[2:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["usage"]["input_tokens"] > 0 and start["usage"]["output_tokens"] == 0
    assert events[1][1] == {"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}}
    deltas = [payload["delta"] for name, payload in events if name == "content_block_delta"]
    assert all(d["type"] == "text_delta" and d["text"] for d in deltas)
    final = events[-2][1]
    assert final["delta"]["stop_reason"] in ("end_turn", "max_tokens")
    assert final["usage"]["output_tokens"] > 0
    assert final["usage"]["input_tokens"] == start["usage"]["input_tokens"]
    text = "".join(d["text"] for d in deltas)
    unstreamed = httpx.post(f"{server.base_url}/v1/messages", json={**BODY, "stream": False},
                            headers=server.headers(), timeout=60).json()
    assert unstreamed["content"][0]["text"] == text
    assert unstreamed["usage"]["output_tokens"] == final["usage"]["output_tokens"]


def test_stream_with_stop_sequence_reports_it(server: Server) -> None:
    full = httpx.post(f"{server.base_url}/v1/messages", json={**BODY, "stream": False},
                      headers=server.headers(), timeout=60).json()["content"][0]["text"]
    stop = full.split()[3]
    with stream(server, {**BODY, "stop_sequences": [stop]}) as response:
        events = list(named_events(response))
    text = "".join(p["delta"]["text"] for n, p in events if n == "content_block_delta")
    delta = next(p for n, p in events if n == "message_delta")
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": stop}
    assert text == full[: full.index(stop)]


def test_streamed_errors_before_the_start_are_plain_http_errors(server: Server) -> None:
    with stream(server, {**BODY, "model": "nope"}) as response:
        response.read()
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_queued_stream_is_kept_alive_with_pings(tight_server: Server) -> None:
    tight_server.wait_idle()
    long = {**BODY, "max_tokens": 200, "temperature": 1.0, "seed": 3,
            "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}
    with stream(tight_server, long) as running, stream(tight_server, {**BODY, "max_tokens": 5}) as queued:
        assert running.status_code == 200 and queued.status_code == 200
        names = [name for name, _ in named_events(queued)]
        for _ in named_events(running):
            pass
    first_content = names.index("content_block_start") if "content_block_start" in names else names.index("message_delta")
    assert names[0] == "message_start"
    assert "ping" in names[1:first_content], names


def test_overload_beyond_the_queue_is_529(tight_server: Server) -> None:
    tight_server.wait_idle()
    long = {**BODY, "max_tokens": 300, "temperature": 1.0, "seed": 5,
            "messages": [{"role": "user", "content": "Write a very long essay about rivers."}]}
    with stream(tight_server, long) as first, stream(tight_server, long) as second:
        assert first.status_code == 200 and second.status_code == 200
        third = httpx.post(f"{tight_server.base_url}/v1/messages", json={**BODY, "stream": False},
                           headers=tight_server.headers(), timeout=60)
        assert third.status_code == 529
        assert third.json()["error"]["type"] == "overloaded_error"
        assert int(third.headers["retry-after"]) >= 1
        sdk = anthropic.Anthropic(base_url=tight_server.base_url, api_key=tight_server.api_key, max_retries=0)
        with pytest.raises(anthropic.OverloadedError):
            sdk.messages.create(model="smollm2-135m-instruct", max_tokens=5,
                                messages=[{"role": "user", "content": "Hi"}])


def test_a_client_that_disconnects_aborts_its_sequence(tight_server: Server) -> None:
    before = tight_server.wait_idle()
    long = {**BODY, "max_tokens": 400, "temperature": 1.0, "seed": 9,
            "messages": [{"role": "user", "content": "Write a very long essay about mountains."}]}
    with stream(tight_server, long) as response:
        for name, _ in named_events(response):
            if name == "content_block_delta":
                break  # leave mid-answer: closing the response drops the connection
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = tight_server.engine_stats()
        if stats["aborted_total"] > before["aborted_total"] and stats["running"] == 0:
            break
        time.sleep(0.1)
    assert stats["aborted_total"] == before["aborted_total"] + 1
    assert stats["running"] == 0 and stats["in_flight"] == 0
    # The freed slot serves the next request.
    after = httpx.post(f"{tight_server.base_url}/v1/messages", json={**BODY, "stream": False},
                       headers=tight_server.headers(), timeout=60)
    assert after.status_code == 200


def test_a_non_streaming_client_that_disconnects_aborts_too(tight_server: Server) -> None:
    before = tight_server.wait_idle()["aborted_total"]
    long = {**BODY, "stream": False, "max_tokens": 400, "temperature": 1.0, "seed": 11,
            "messages": [{"role": "user", "content": "Write a very long essay about forests."}]}
    try:
        httpx.post(f"{tight_server.base_url}/v1/messages", json=long, headers=tight_server.headers(), timeout=0.5)
    except httpx.ReadTimeout:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and tight_server.engine_stats()["aborted_total"] == before:
        time.sleep(0.1)
    assert tight_server.engine_stats()["aborted_total"] == before + 1
