"""vLLM as an upstream: its OpenAI-style `/v1/completions`, token ids in and out.

The prompt goes as token ids and `return_token_ids` brings back the ids it sampled; every
sampling setting is sent explicitly, so that the model's `generation_config.json` defaults
(which vLLM otherwise applies) change nothing. Grammars go through vLLM's structured
outputs (`grammar`, or a structural tag for a lazy one). vLLM says how much of the prompt
its prefix cache held only in the stream's last event (`--enable-prompt-tokens-details`
must be on), so that count is read ahead of the last tokens. The server's
`max_num_seqs` is not published; an upstream's concurrency defaults to vLLM's own default
(256) unless the pool's `concurrency=` says otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
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
    post_json,
)

DEFAULT_CONCURRENCY = 256  # vLLM's default max_num_seqs on most hardware
_ENDED = {"stop": "eos", "length": "limit"}  # finish_reason → UpstreamEnded.reason
_BANNED = -100.0  # the strongest bias vLLM accepts: never sampled in practice


def completion_body(segment: Segment) -> dict[str, Any]:
    sampling = segment.sampling
    body: dict[str, Any] = {
        "prompt": list(segment.tokens),
        "max_tokens": segment.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "return_token_ids": True,
        "skip_special_tokens": False,
        "temperature": max(sampling.temperature, 0.0),
        "top_k": sampling.top_k or 0,
        "top_p": 1.0 if sampling.top_p is None else sampling.top_p,
        "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "ignore_eos": segment.end_of_generation_banned,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if segment.banned_tokens:
        body["logit_bias"] = {str(token): _BANNED for token in segment.banned_tokens}
    grammar = segment.grammar
    if grammar is not None:
        body["structured_outputs"] = (
            {"structural_tag": lazy_grammar_tag(grammar)} if grammar.lazy_triggers
            else {"grammar": grammar.gbnf}
        )
    return body


async def stream_completion(
    session: aiohttp.ClientSession, base_url: str, segment: Segment
) -> AsyncGenerator[UpstreamEvent, None]:
    """The upstream's events for one segment; raises `UpstreamFailed`."""
    events = post_events(session, f"{base_url}/v1/completions", completion_body(segment))
    with failures_as_upstream_failed():
        async with contextlib.aclosing(events):
            async for data in events:
                choice = data["choices"][0] if data.get("choices") else None
                if choice is None:
                    continue  # a usage-only event with no end before it: skip
                tokens = tuple(choice.get("token_ids") or ())
                finish = choice.get("finish_reason")
                if finish is None:
                    if tokens:
                        yield UpstreamTokens(tokens)
                    continue
                # The last event: its usage follows. Read it first, so that the count
                # arrives before the last tokens (which may end the generation).
                yield UpstreamReused(await _cached_tokens(events))
                if tokens:
                    yield UpstreamTokens(tokens)
                if finish == "abort":
                    raise UpstreamFailed("the upstream aborted the request")
                yield UpstreamEnded(_ENDED.get(finish, str(finish)))
                return
            raise UpstreamFailed("the upstream closed the stream before it ended")


async def _cached_tokens(events: AsyncIterator[Any]) -> int:
    async for data in events:
        usage = data.get("usage")
        if usage is not None and not data.get("choices"):
            details = usage.get("prompt_tokens_details") or {}
            return int(details.get("cached_tokens") or 0)
    return 0


async def read_facts(session: aiohttp.ClientSession, base_url: str) -> UpstreamFacts:
    """Its window and model, from `/v1/models` (the first model it serves)."""
    models = await get_json(session, f"{base_url}/v1/models")
    with failures_as_upstream_failed():
        model = models["data"][0]
        return UpstreamFacts(
            slot_context=int(model["max_model_len"]),
            slots=DEFAULT_CONCURRENCY,
            model_path=str(model.get("root", "")),
        )


async def tokenize(session: aiohttp.ClientSession, base_url: str, text: str) -> list[int]:
    answer = await post_json(session, f"{base_url}/tokenize",
                             {"prompt": text, "add_special_tokens": False})
    with failures_as_upstream_failed():
        return [int(token) for token in answer["tokens"]]


async def is_healthy(session: aiohttp.ClientSession, base_url: str) -> bool:
    return await answers_ok(session, f"{base_url}/health")
