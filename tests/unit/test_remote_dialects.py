"""The vLLM and SGLang dialects against an in-process HTTP server that answers with the
events those engines send (vLLM 0.32's `/v1/completions` as run in tests/e2e; SGLang
0.5.23's `/generate` as its `tokenizer_manager.py` and `http_server.py` write them): the
requests they build, and the events they make of each answer, errors included; and the
sampling settings of llama-server's request body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from antiphon.engine.base import Grammar, SamplingParams
from antiphon.engine.remote import llama_server, sglang, vllm
from antiphon.engine.remote.segment import (
    Segment,
    UpstreamEnded,
    UpstreamEvent,
    UpstreamFacts,
    UpstreamFailed,
    UpstreamReused,
    UpstreamTokens,
)

SAMPLING = SamplingParams(temperature=0.7, top_k=None, top_p=None, seed=7)
TOOL_GRAMMAR = Grammar('root ::= "<tool_call>" [a-z]+ "</tool_call>"\n', ("<tool_call>",))
# Every sampling parameter SGLang's /generate knows (sampling_params.py): it refuses others.
SGLANG_SAMPLING_FIELDS = {
    "max_new_tokens", "stop", "stop_token_ids", "stop_regex", "temperature", "top_p", "top_k",
    "min_p", "frequency_penalty", "presence_penalty", "repetition_penalty", "min_new_tokens",
    "n", "json_schema", "regex", "ebnf", "structural_tag", "ignore_eos", "skip_special_tokens",
    "spaces_between_special_tokens", "no_stop_trim", "custom_params", "stream_interval",
    "logit_bias", "sampling_seed",
}


def sse(*events: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


Call = Callable[[aiohttp.ClientSession, str], Awaitable[Any]]


def serve(routes: dict[str, tuple[int, bytes]], call: Call) -> tuple[Any, list[dict[str, Any]]]:
    """Run `call` against a server answering each path with (status, body); returns what
    it returned (or raised) and the JSON bodies the server received."""
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        if request.can_read_body:
            received.append(await request.json())
        status, payload = routes[request.path]
        return web.Response(status=status, body=payload, content_type="text/event-stream"
                            if payload.startswith(b"data:") else "application/json")

    async def scenario() -> Any:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                return await call(session, f"http://127.0.0.1:{port}")
        except UpstreamFailed as failure:
            return failure
        finally:
            await runner.cleanup()

    return asyncio.run(scenario()), received


def collect(stream: Callable[[aiohttp.ClientSession, str, Segment],
                             AsyncGenerator[UpstreamEvent, None]], segment: Segment) -> Call:
    async def call(session: aiohttp.ClientSession, url: str) -> list[UpstreamEvent]:
        return [event async for event in stream(session, url, segment)]
    return call


# ----- vLLM ----------------------------------------------------------------------------

def vllm_chunk(token_ids: list[int], finish: str | None = None) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "model": "smol", "choices": [
        {"index": 0, "text": "x", "finish_reason": finish, "stop_reason": None,
         "token_ids": token_ids}]}


VLLM_USAGE = {"id": "cmpl-1", "object": "text_completion", "model": "smol", "choices": [],
              "usage": {"prompt_tokens": 300, "completion_tokens": 3, "total_tokens": 303,
                        "prompt_tokens_details": {"cached_tokens": 256}}}


def test_vllm_streams_ids_and_tells_the_cache_count_before_the_last_tokens() -> None:
    answer = sse(vllm_chunk([5]), vllm_chunk([6]), vllm_chunk([2], "stop"), VLLM_USAGE)
    segment = Segment((1, 2, 3), 40, SAMPLING, banned_tokens=(0, 2), end_of_generation_banned=True)
    events, [sent] = serve({"/v1/completions": (200, answer)},
                           collect(vllm.stream_completion, segment))
    assert events == [UpstreamTokens((5,)), UpstreamTokens((6,)), UpstreamReused(256),
                      UpstreamTokens((2,)), UpstreamEnded("eos")]
    assert sent["prompt"] == [1, 2, 3] and sent["max_tokens"] == 40 and sent["stream"]
    assert sent["return_token_ids"] and sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.7 and sent["top_k"] == 0 and sent["top_p"] == 1.0
    assert sent["seed"] == 7 and sent["ignore_eos"] is True
    assert sent["logit_bias"] == {"0": -100.0, "2": -100.0}
    assert sent["min_p"] == 0.0 and sent["repetition_penalty"] == 1.0  # not the model's defaults
    assert "structured_outputs" not in sent


def test_vllm_takes_a_grammar_and_a_lazy_one_as_a_structural_tag() -> None:
    answer = sse(vllm_chunk([7], "length"), VLLM_USAGE)
    strict = Grammar('root ::= "a"\n')
    events, [sent] = serve({"/v1/completions": (200, answer)},
                           collect(vllm.stream_completion, Segment((1,), 1, SAMPLING, strict)))
    assert sent["structured_outputs"] == {"grammar": strict.gbnf}
    assert events[-1] == UpstreamEnded("limit")
    _, [sent] = serve({"/v1/completions": (200, answer)},
                      collect(vllm.stream_completion, Segment((1,), 1, SAMPLING, TOOL_GRAMMAR)))
    tag = json.loads(sent["structured_outputs"]["structural_tag"])
    free, committed = tag["format"]["elements"]
    assert free == {"type": "any_text", "excludes": ["<tool_call>"]}
    assert committed["elements"] == [free, {"type": "grammar", "grammar": TOOL_GRAMMAR.gbnf}]


@pytest.mark.parametrize(("status", "answer", "retryable"), [
    (200, sse({"error": {"message": "Invalid grammar specification", "code": 400}}), False),
    (400, b'{"error": {"message": "max_tokens is too large", "code": 400}}', False),
    (500, b'{"error": {"message": "Internal server error", "code": 500}}', True),
    (200, sse(vllm_chunk([5])), True),  # the stream ended without a finish
])
def test_vllm_failures(status: int, answer: bytes, retryable: bool) -> None:
    failure, _ = serve({"/v1/completions": (status, answer)},
                       collect(vllm.stream_completion, Segment((1,), 4, SAMPLING)))
    assert isinstance(failure, UpstreamFailed) and failure.retryable is retryable


def test_vllm_facts_come_from_its_models_list() -> None:
    models = {"object": "list", "data": [{"id": "smol", "object": "model", "max_model_len": 2048,
                                          "root": "/models/smollm2-hf", "owned_by": "vllm"}]}
    facts, _ = serve({"/v1/models": (200, json.dumps(models).encode())}, vllm.read_facts)
    assert facts == UpstreamFacts(2048, vllm.DEFAULT_CONCURRENCY, "/models/smollm2-hf")


# ----- SGLang --------------------------------------------------------------------------

def sglang_chunk(output_ids: list[int], completion_tokens: int,
                 finish: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"text": "x", "output_ids": output_ids, "meta_info": {
        "id": "r1", "finish_reason": finish, "prompt_tokens": 300, "cached_tokens": 192,
        "completion_tokens": completion_tokens}}


EOS_MATCHED = {"type": "stop", "matched": 2}


@pytest.mark.parametrize("chunks", [
    # Default: every id so far in each event (two events coalesced into the second).
    [sglang_chunk([5], 1), sglang_chunk([5, 6, 7], 3), sglang_chunk([5, 6, 7, 2], 4, EOS_MATCHED)],
    # --incremental-streaming-output: only the new ids.
    [sglang_chunk([5], 1), sglang_chunk([6, 7], 3), sglang_chunk([2], 4, EOS_MATCHED)],
])
def test_sglang_reads_cumulative_and_incremental_output_ids(chunks: list[dict[str, Any]]) -> None:
    segment = Segment((1, 2, 3), 40, SAMPLING, Grammar('root ::= "a"\n'))
    events, [sent] = serve({"/generate": (200, sse(*chunks))}, collect(sglang.stream_generate, segment))
    assert events == [UpstreamReused(192), UpstreamTokens((5,)), UpstreamTokens((6, 7)),
                      UpstreamTokens((2,)), UpstreamEnded("eos")]
    params = sent["sampling_params"]
    assert sent["input_ids"] == [1, 2, 3] and sent["stream"] is True
    assert set(params) <= SGLANG_SAMPLING_FIELDS
    assert params["max_new_tokens"] == 40 and params["top_k"] == -1 and params["top_p"] == 1.0
    assert params["sampling_seed"] == 7 and params["ebnf"] == 'root ::= "a"\n'


def test_sglang_sends_a_lazy_grammar_as_a_structural_tag_and_bans_tokens() -> None:
    answer = sse(sglang_chunk([9], 1, {"type": "length", "length": 1}))
    segment = Segment((1,), 1, SAMPLING, TOOL_GRAMMAR, banned_tokens=(0,))
    events, [sent] = serve({"/generate": (200, answer)}, collect(sglang.stream_generate, segment))
    params = sent["sampling_params"]
    assert "ebnf" not in params and json.loads(params["structural_tag"])["type"] == "structural_tag"
    assert params["logit_bias"] == {"0": sglang._BANNED}
    assert events[-1] == UpstreamEnded("limit")


@pytest.mark.parametrize(("status", "answer", "retryable"), [
    # A grammar the scheduler cannot compile: an abort inside the 200 stream.
    (200, sse(sglang_chunk([], 0, {"type": "abort", "status_code": 400,
                                   "message": "Failed to compile ebnf grammar"})), False),
    (200, sse({"error": {"message": "The input (5000 tokens) is longer than the model's "
                                    "context length (4096 tokens).", "code": 400}}), False),
    (400, b'{"error": "unknown field sampling_params.typo"}', False),
    (503, b'{"object": "error", "message": "overloaded", "code": 503}', True),
])
def test_sglang_failures(status: int, answer: bytes, retryable: bool) -> None:
    failure, _ = serve({"/generate": (status, answer)},
                       collect(sglang.stream_generate, Segment((1,), 4, SAMPLING)))
    assert isinstance(failure, UpstreamFailed) and failure.retryable is retryable


def test_sglang_facts_come_from_its_models_list_and_server_info() -> None:
    models = {"object": "list", "data": [{"id": "qwen", "max_model_len": 32768}]}
    info = {"model_path": "Qwen/Qwen2.5-7B-Instruct", "max_running_requests": None,
            "internal_states": [{"effective_max_running_requests_per_dp": 48}]}
    facts, _ = serve({"/v1/models": (200, json.dumps(models).encode()),
                      "/server_info": (200, json.dumps(info).encode())}, sglang.read_facts)
    assert facts == UpstreamFacts(32768, 48, "Qwen/Qwen2.5-7B-Instruct")
    older = {"model_path": "m", "max_running_requests": 16}  # before /server_info existed
    facts, _ = serve({"/v1/models": (200, json.dumps(models).encode()),
                      "/server_info": (404, b'{"detail": "Not Found"}'),
                      "/get_server_info": (200, json.dumps(older).encode())}, sglang.read_facts)
    assert facts == UpstreamFacts(32768, 16, "m")


@pytest.mark.parametrize(("temperature", "top_k", "sent_top_k"), [
    (0.0, None, 1),  # greedy: one candidate is the argmax, and skips a whole-vocabulary softmax
    (0.0, 40, 1),
    (0.7, None, 0),  # sampling from the whole distribution, as the API means it
    (0.7, 40, 40),
])
def test_llama_server_keeps_one_candidate_only_when_greedy(
    temperature: float, top_k: int | None, sent_top_k: int
) -> None:
    sampling = SamplingParams(temperature=temperature, top_k=top_k, top_p=None, seed=None)
    body = llama_server.completion_body(Segment((1, 2), 8, sampling))
    assert body["top_k"] == sent_top_k and body["temperature"] == temperature
    assert body["samplers"] == ["top_k", "top_p", "temperature"] and body["top_p"] == 1.0
