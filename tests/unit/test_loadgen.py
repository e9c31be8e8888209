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


def test_top_k_and_top_p_are_sent_only_when_given():
    """Left out, each server samples with its own defaults; given, both get the same."""
    plain = loadgen.build_body(loadgen.parse_args(["--model", "m"]), "hi")
    assert "top_k" not in plain and "top_p" not in plain
    args = loadgen.parse_args(["--model", "m", "--top-k", "40", "--top-p", "0.95"])
    body = loadgen.build_body(args, "hi")
    assert (body["top_k"], body["top_p"]) == (40, 0.95)


# --- usage and cache fields ----------------------------------------------------------

def test_apply_event_llama_server_style_cache_in_message_start():
    # llama-server: the prompt split only in message_start, output_tokens only at the end.
    res = RequestResult(index=0)
    loadgen.apply_event(res, "message_start", {"message": {"usage": {
        "cache_read_input_tokens": 90, "input_tokens": 10, "output_tokens": 0}}}, 0.1)
    loadgen.apply_event(res, "message_delta", {"usage": {"output_tokens": 7}}, 0.2)
    assert (res.input_tokens, res.cache_read_input_tokens, res.output_tokens) == (10, 90, 7)
    assert res.cache_creation_input_tokens is None  # never reported: not 0
    assert res.prompt_tokens == 100


def test_apply_event_message_delta_usage_wins_and_absent_fields_stay_none():
    res = RequestResult(index=0)
    loadgen.apply_event(res, "message_start", {"message": {"usage": {"input_tokens": 5}}}, 0.1)
    loadgen.apply_event(res, "message_delta", {"usage": {
        "input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 2,
        "cache_creation_input_tokens": 0, "timings": {"ignored": 1}}}, 0.2)
    assert (res.input_tokens, res.output_tokens) == (3, 2)
    assert (res.cache_read_input_tokens, res.cache_creation_input_tokens) == (2, 0)
    bare = RequestResult(index=1)
    loadgen.apply_event(bare, "message_start", {"message": {}}, 0.1)
    assert bare.cache_read_input_tokens is None and bare.input_tokens == 0


def test_apply_event_collects_answer_text():
    res = RequestResult(index=0)
    for t, (event, data) in enumerate(loadgen.parse_sse(STREAM)):
        loadgen.apply_event(res, event, data, float(t))
    assert res.text == "Hello"


def test_summarize_cache_share_and_turns():
    results = [
        RequestResult(index=0, ok=True, ttft_s=1.0, latency_s=2, input_tokens=100,
                      cache_read_input_tokens=0, turn=1),
        RequestResult(index=1, ok=True, ttft_s=0.2, latency_s=1, input_tokens=20,
                      cache_read_input_tokens=80, turn=2),
        RequestResult(index=2, ok=True, ttft_s=0.4, latency_s=1, input_tokens=50, turn=2),
    ]
    s = loadgen.summarize(results, wall_seconds=1.0)
    assert s.prompt_tokens == 250 and s.cache_read_input_tokens == 80
    assert s.cache_creation_input_tokens is None
    assert s.cache_read_share == pytest.approx(80 / 200)  # only requests that reported it
    assert s.ttft_p50_ms_by_turn == {1: pytest.approx(1000.0), 2: pytest.approx(300.0)}
    assert s.cache_read_share_by_turn == {1: 0.0, 2: pytest.approx(0.8)}


def test_summarize_chat_has_no_cache_or_turn_fields():
    s = loadgen.summarize([RequestResult(index=0, ok=True, input_tokens=3)], wall_seconds=1.0)
    assert s.cache_read_share is None and s.ttft_p50_ms_by_turn is None
    assert s.cache_read_share_by_turn is None and s.rss_peak_mib is None


# --- headers, args -------------------------------------------------------------------

def test_request_headers_send_both_key_forms():
    h = loadgen.request_headers("k")
    assert h["x-api-key"] == "k" and h["authorization"] == "Bearer k"
    assert "authorization" not in loadgen.request_headers("")


def test_cli_agentic_defaults():
    args = loadgen.parse_args(["--model", "m", "--workload", "agentic", "--concurrency", "4"])
    assert args.turns == 6 and args.requests == 24 and args.temperature == 0.0
    assert loadgen.parse_args(["--model", "m"]).temperature == 0.7  # chat default unchanged


def test_build_body_with_system_and_history():
    args = loadgen.parse_args(["--model", "m"])
    history = [{"role": "user", "content": "a"}]
    body = loadgen.build_body(args, history, system="sys")
    assert body["system"] == "sys" and body["messages"] is history
    assert "system" not in loadgen.build_body(args, "hi")


# --- /proc memory -------------------------------------------------------------------

def test_parse_proc_status():
    text = "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t4\n"
    assert loadgen.parse_proc_status(text) == {"VmHWM": 204800, "VmRSS": 102400}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_rss_sampler_on_own_process():
    import os

    async def go():
        sampler = loadgen.RssSampler(os.getpid(), interval_s=0.01)
        sampler.start()
        await asyncio.sleep(0.05)
        await sampler.stop()
        return sampler

    sampler = asyncio.run(go())
    s = loadgen.summarize([], wall_seconds=1.0)
    sampler.fill(s)
    assert 0 < s.rss_start_mib <= s.rss_peak_mib <= s.rss_hwm_mib


def test_rss_sampler_missing_process_reports_nothing():
    sampler = loadgen.RssSampler(2**22 + 12345)  # above the kernel's pid_max ceiling
    sampler.sample()
    assert sampler.peak_kib is None


# --- agentic workload ---------------------------------------------------------------

agentic = loadgen.agentic_workload


def test_system_prompt_is_long_and_fixed():
    assert 6500 <= len(agentic.SYSTEM_PROMPT) <= 7500  # ~1,500 SmolLM2 tokens (1,491 measured)
    assert agentic.SYSTEM_PROMPT == "\n\n".join(agentic.SYSTEM_PROMPT.split("\n\n"))


def test_first_messages_differ_per_conversation():
    firsts = [agentic.user_message(k, 1) for k in range(8)]
    assert len(set(firsts)) == 8


def test_turn_messages_resend_history_exactly():
    assert agentic.turn_messages(0, []) == [{"role": "user", "content": agentic.first_message(0)}]
    msgs = agentic.turn_messages(3, ["answer one", ""])
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == agentic.first_message(3)
    assert msgs[1]["content"] == "answer one"
    assert msgs[2]["content"] == agentic.follow_up(3, 2)
    assert msgs[3]["content"] == agentic.EMPTY_ANSWER  # empty answers are not valid history
    assert msgs[4]["content"] == agentic.follow_up(3, 3)


def test_run_conversations_feeds_answers_back_and_stops_on_failure():
    sent = []

    async def send(conversation, turn, messages):
        sent.append((conversation, turn, messages))
        ok = not (conversation == 1 and turn == 2)
        return RequestResult(index=0, ok=ok, turn=turn, text=f"c{conversation}t{turn}")

    results = asyncio.run(agentic.run_conversations(send, conversations=2, turns=3))
    assert len(results) == 3 + 2  # conversation 1 stops after its failed turn 2
    c0_turn3 = next(m for c, t, m in sent if (c, t) == (0, 3))
    assert [m["content"] for m in c0_turn3 if m["role"] == "assistant"] == ["c0t1", "c0t2"]


def test_agentic_request_against_mock_server():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx.Response(200, content="\n".join(STREAM).encode(),
                              headers={"content-type": "text/event-stream"})

    args = loadgen.parse_args(["--model", "m", "--workload", "agentic", "--concurrency", "2",
                               "--turns", "2"])

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler),
                                     base_url="http://test") as client:
            return await loadgen.run_agentic(client, args)

    results = asyncio.run(go())
    assert len(results) == 4 and all(r.ok for r in results)
    assert sorted(r.turn for r in results) == [1, 1, 2, 2]
    assert all(b["system"][0]["text"] == agentic.SYSTEM_PROMPT and b["temperature"] == 0.0 for b in seen)
    # Breakpoints where Claude Code puts them: the system prompt and the last message.
    assert all("cache_control" in b["system"][0] for b in seen)
    assert all("cache_control" in b["messages"][-1]["content"][0] for b in seen)
    turn2 = [b for b in seen if len(b["messages"]) == 3]
    assert len(turn2) == 2 and all(b["messages"][1]["content"] == "Hello" for b in turn2)


def test_several_urls_are_replicas_taken_in_turn():
    args = loadgen.parse_args(["--model", "m", "--url", "http://a:1/,http://b:2"])
    urls = [loadgen.replica_url(args, "/v1/messages") for _ in range(4)]
    assert sorted(urls[:2]) == ["http://a:1/v1/messages", "http://b:2/v1/messages"]
    assert urls[2:] == urls[:2]
    single = loadgen.parse_args(["--model", "m", "--url", "http://a:1"])
    assert loadgen.replica_url(single, "/v1/messages") == "/v1/messages"
