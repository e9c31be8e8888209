"""SGLang as an upstream: its native `/generate` endpoint, token ids in and out.

Every sampling setting is sent explicitly, and only settings SGLang knows (it refuses an
unknown one with a 400). Grammars go as `ebnf` (xgrammar reads llama.cpp's GBNF), a lazy
one as a structural tag. Each streamed event carries `meta_info.cached_tokens` (what the
radix cache held) and the output ids: all of them so far by default, or only the new ones
when the server runs with `--incremental-streaming-output`; both are read correctly. A
request's seed is honoured only by a server started with `--enable-deterministic-inference`
(SGLang ignores `sampling_seed` otherwise).

Written from SGLang 0.5.23's source (`io_struct.py`, `sampling_params.py`,
`tokenizer_manager.py`, `http_server.py`); no SGLang build runs on this project's CI
machine, so its tests replay the documented events.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from antiphon.engine.remote.segment import (
    Segment,
    UpstreamEnded,
    UpstreamEvent,
    UpstreamFacts,
    UpstreamFailed,
    UpstreamReused,
    UpstreamTokens,
)
from antiphon.engine.remote.structural_tag import lazy_grammar_tag
from antiphon.engine.remote.upstream_http import (
    answers_ok,
    failures_as_upstream_failed,
    get_json,
    post_events,
)

_ENDED = {"stop": "eos", "length": "limit"}  # finish_reason.type → UpstreamEnded.reason
_BANNED = -1e9  # added to the logits after the grammar's mask: never sampled


def generate_body(segment: Segment) -> dict[str, Any]:
    sampling = segment.sampling
    params: dict[str, Any] = {
        "max_new_tokens": segment.max_tokens,
        "temperature": max(sampling.temperature, 0.0),
        "top_k": sampling.top_k or -1,  # -1: every token (0 is refused)
        "top_p": 1.0 if sampling.top_p is None else sampling.top_p,
        "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "ignore_eos": segment.end_of_generation_banned,
        "skip_special_tokens": False,
        "no_stop_trim": True,
    }
    if sampling.seed is not None:
        params["sampling_seed"] = sampling.seed
    if segment.banned_tokens:
        params["logit_bias"] = {str(token): _BANNED for token in segment.banned_tokens}
    grammar = segment.grammar
    if grammar is not None:
        if grammar.lazy_triggers:
            params["structural_tag"] = lazy_grammar_tag(grammar)
        else:
            params["ebnf"] = grammar.gbnf
    return {"input_ids": list(segment.tokens), "sampling_params": params, "stream": True}


async def stream_generate(
    session: aiohttp.ClientSession, base_url: str, segment: Segment
) -> AsyncGenerator[UpstreamEvent, None]:
    """The upstream's events for one segment; raises `UpstreamFailed`."""
    events = post_events(session, f"{base_url}/generate", generate_body(segment))
    with failures_as_upstream_failed():
        async with contextlib.aclosing(events):
            seen = 0  # output ids passed on so far
            reported = False
            async for data in events:
                meta = data["meta_info"]
                if not reported:
                    reported = True
                    yield UpstreamReused(int(meta.get("cached_tokens") or 0))
                ids = data.get("output_ids") or []
                # All ids so far (the default), or only the new ones (incremental output).
                new = ids[seen:] if len(ids) == int(meta["completion_tokens"]) else ids
                seen += len(new)
                if new:
                    yield UpstreamTokens(tuple(int(token) for token in new))
                finish = meta.get("finish_reason")
                if finish is not None:
                    kind = finish.get("type") if isinstance(finish, dict) else str(finish)
                    if kind == "abort":
                        code = int(finish.get("status_code") or 500)
                        raise UpstreamFailed(str(finish.get("message", "aborted")),
                                             retryable=not 400 <= code < 500)
                    yield UpstreamEnded(_ENDED.get(str(kind), str(kind)))
                    return
            raise UpstreamFailed("the upstream closed the stream before it ended")


async def read_facts(session: aiohttp.ClientSession, base_url: str) -> UpstreamFacts:
    """Its window (`/v1/models`), running-request limit (`/server_info`) and model."""
    models = await get_json(session, f"{base_url}/v1/models")
    try:
        info = await get_json(session, f"{base_url}/server_info")
    except UpstreamFailed:  # SGLang before /server_info: the name it has deprecated since
        info = await get_json(session, f"{base_url}/get_server_info")
    with failures_as_upstream_failed():
        model = models["data"][0]
        states = info.get("internal_states") or [{}]
        slots = states[0].get("effective_max_running_requests_per_dp") \
            or info.get("max_running_requests") or 1
        return UpstreamFacts(
            slot_context=int(model["max_model_len"]),
            slots=int(slots),
            model_path=str(info.get("model_path", "")),
        )


async def is_healthy(session: aiohttp.ClientSession, base_url: str) -> bool:
    """SGLang's /health runs a one-token generation: 200 once it answers, else 503."""
    return await answers_ok(session, f"{base_url}/health")
