"""Tests for the pure parts of bench/loadgen.py (no real server needed)."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import httpx
import pytest

_PATH = Path(__file__).parents[2] / "bench" / "loadgen.py"
_spec = spec_from_file_location("loadgen", _PATH)
loadgen = module_from_spec(_spec)
sys.modules["loadgen"] = loadgen  # dataclasses resolve annotations via sys.modules
_spec.loader.exec_module(loadgen)

RequestResult = loadgen.RequestResult


# --- percentile ---------------------------------------------------------------

@pytest.mark.parametrize(
    "values,q,expected",
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 95, 3.85),
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([4, 1, 3, 2], 25, 1.75),  # unsorted input
        ([7.5], 50, 7.5),
        ([7.5], 95, 7.5),
        ([10, 20, 30, 40, 50], 90, 46.0),
    ],
)
def test_percentile_known_values(values, q, expected):
    assert loadgen.percentile(values, q) == pytest.approx(expected)


def test_percentile_empty_raises():
    with pytest.raises(ValueError):
        loadgen.percentile([], 50)


def test_percentile_out_of_range_raises():
    with pytest.raises(ValueError):
        loadgen.percentile([1.0], 101)


# --- summarize ----------------------------------------------------------------

def test_summarize_mixed_results():
    results = [
        RequestResult(index=0, ok=True, status=200, ttft_s=0.1, latency_s=1.1,
                      input_tokens=10, output_tokens=11),   # decode 10 tok / 1.0 s
        RequestResult(index=1, ok=True, status=200, ttft_s=0.3, latency_s=2.3,
                      input_tokens=20, output_tokens=41),   # decode 40 tok / 2.0 s
        RequestResult(index=2, ok=False, status=500, error="boom", output_tokens=99),
    ]
    s = loadgen.summarize(results, wall_seconds=2.0)
    assert (s.ok, s.failed) == (2, 1)
    assert s.output_tokens == 52  # the failed request's tokens are not counted
    assert s.input_tokens == 30
    assert s.agg_output_tps == pytest.approx(26.0)
    assert s.mean_decode_tps == pytest.approx(15.0)
    assert s.ttft_p50_ms == pytest.approx(200.0)
    assert s.ttft_p95_ms == pytest.approx(290.0)
    assert s.e2e_p50_ms == pytest.approx(1700.0)
    assert s.e2e_p95_ms == pytest.approx(2240.0)
    assert len(s.errors) == 1 and "boom" in s.errors[0] and "500" in s.errors[0]


def test_summarize_all_failed():
    s = loadgen.summarize([RequestResult(index=0, status=401, error="no")], wall_seconds=1.0)
    assert (s.ok, s.failed, s.output_tokens, s.agg_output_tps) == (0, 1, 0, 0.0)
    assert s.ttft_p50_ms is None and s.e2e_p95_ms is None and s.mean_decode_tps is None


def test_decode_tps_needs_two_tokens():
    assert RequestResult(index=0, ok=True, ttft_s=0.1, latency_s=0.2, output_tokens=1).decode_tps is None


# --- SSE parsing --------------------------------------------------------------

def _sse(*events):
    lines = []
    for name, data in events:
        lines += [f"event: {name}", f"data: {json.dumps(data)}", ""]
    return lines


STREAM = _sse(
    ("message_start", {"type": "message_start",
                       "message": {"usage": {"input_tokens": 12, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Hello"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 5}}),
    ("message_stop", {"type": "message_stop"}),
)


def test_parse_sse_yields_events_in_order():
    events = list(loadgen.parse_sse(STREAM))
    assert [e for e, _ in events] == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]
    assert events[4][1]["delta"]["text"] == "Hello"


def test_parse_sse_comments_crlf_multiline_and_no_trailing_blank():
    lines = [": keep-alive", "event: a\r", 'data: {"x":', "data: 1}", "", "",
             'data: {"type": "b"}']  # no event line, no final blank line
    assert list(loadgen.parse_sse(lines)) == [("a", {"x": 1}), ("b", {"type": "b"})]


def test_apply_event_records_metrics():
    res = RequestResult(index=0)
    done = False
    for t, (event, data) in enumerate(loadgen.parse_sse(STREAM)):
        done = loadgen.apply_event(res, event, data, elapsed=float(t))
    assert done and res.ok
    assert res.input_tokens == 12 and res.output_tokens == 5
    assert res.ttft_s == 4.0  # the empty text delta at t=3 does not count
    assert res.latency_s == 7.0


def test_apply_event_error_fails_request():
    res = RequestResult(index=0)
    done = loadgen.apply_event(
        res, "error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, 0.5)
    assert done and not res.ok and "busy" in res.error


# --- one request against a mock transport ---------------------------------------

def _run_one(handler):
    args = loadgen.parse_args(["--model", "m", "--api-key", "k"])

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                     base_url="http://test") as client:
            return await loadgen.one_request(client, args, ["hi"], 0)

    return asyncio.run(go())


def test_one_request_streams_and_sends_body():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, content="\n".join(STREAM).encode(),
                              headers={"content-type": "text/event-stream"})

    res = _run_one(handler)
    assert res.ok and res.status == 200 and res.output_tokens == 5
    body = seen["body"]
    assert body["stream"] is True and body["seed"] == 1234 and body["model"] == "m"
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_one_request_non_200_is_failure():
    def handler(request):
        return httpx.Response(429, json={"type": "error",
                                         "error": {"type": "rate_limit_error", "message": "slow down"}})

    res = _run_one(handler)
    assert not res.ok and res.status == 429 and res.error == "slow down"


def test_cli_defaults():
    args = loadgen.parse_args(["--model", "m", "--concurrency", "3"])
    assert args.requests == 12 and args.warmup == 1 and args.timeout == 600.0
