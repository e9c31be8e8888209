"""llama.cpp's `llama-server` as an upstream: its `/completion` endpoint, token ids in and out.

antiphon renders and tokenizes the prompt itself and sends the ids; the upstream continues
them and streams the ids it sampled (`return_tokens`), which antiphon detokenizes with the
same vocabulary. Every sampler llama-server would add on its own (min-p, penalties, DRY, XTC)
is switched off, so that a request samples as it does on the embedded engine. The first
streamed object (`return_progress`) says how much of the prompt the upstream's cache held.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from antiphon.engine.base import SamplingParams
from antiphon.engine.remote.segment import (
    Segment,
    UpstreamEnded,
    UpstreamEvent,
    UpstreamFacts,
    UpstreamFailed,
    UpstreamReused,
    UpstreamTokens,
)
from antiphon.engine.remote.upstream_http import (
    answers_ok,
    failures_as_upstream_failed,
    get_json,
    post_events,
    post_json,
)

# common_grammar_trigger_type: a regex found anywhere in the output (our lazy grammars'
# triggers are words, escaped, exactly as the embedded engine passes them to llama.cpp).
_TRIGGER_PATTERN = 2


def completion_body(segment: Segment) -> dict[str, Any]:
    sampling = segment.sampling
    body: dict[str, Any] = {
        "prompt": list(segment.tokens),
        "n_predict": segment.max_tokens,
        "stream": True,
        "cache_prompt": True,
        "return_tokens": True,
        "return_progress": True,
        "temperature": max(sampling.temperature, 0.0),
        "top_k": _top_k(sampling),
        "top_p": 1.0 if sampling.top_p is None else sampling.top_p,
        "samplers": ["top_k", "top_p", "temperature"],
        "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": 1.0, "presence_penalty": 0.0,
        "frequency_penalty": 0.0, "dry_multiplier": 0.0, "xtc_probability": 0.0,
        "seed": -1 if sampling.seed is None else sampling.seed & 0xFFFFFFFF,
        "ignore_eos": segment.end_of_generation_banned,
    }
    if segment.banned_tokens:
        body["logit_bias"] = [[token, False] for token in segment.banned_tokens]
    grammar = segment.grammar
    if grammar is not None:
        body["grammar"] = grammar.gbnf
        if grammar.lazy_triggers:
            body["grammar_lazy"] = True
            body["grammar_triggers"] = [
                {"type": _TRIGGER_PATTERN, "value": re.escape(word)}
                for word in grammar.lazy_triggers
            ]
    return body


def _top_k(sampling: SamplingParams) -> int:
    """At temperature 0 the answer is the argmax however many candidates the chain keeps, so
    keep one: with none (0) llama-server's chain ends in a softmax over the whole vocabulary
    for every token (~0.3 ms a token for SmolLM2's 49,152, 5% of its ITL on one core)."""
    if sampling.temperature <= 0:
        return 1
    return sampling.top_k or 0


async def stream_completion(
    session: aiohttp.ClientSession, base_url: str, segment: Segment
) -> AsyncGenerator[UpstreamEvent, None]:
    """The upstream's events for one segment. Raises `UpstreamFailed` when the upstream
    cannot be reached, answers with an error, or the stream breaks."""
    events = post_events(session, f"{base_url}/completion", completion_body(segment))
    with failures_as_upstream_failed():
        async with contextlib.aclosing(events):
            reported = False
            async for data in events:
                progress = data.get("prompt_progress")
                if progress is not None:
                    if not reported:
                        reported = True
                        yield UpstreamReused(int(progress.get("cache", 0)))
                    continue
                if not reported:  # an upstream too old to report progress
                    reported = True
                    yield UpstreamReused(int(data.get("timings", {}).get("cache_n", 0)))
                tokens = data.get("tokens")
                if tokens:
                    yield UpstreamTokens(tuple(tokens))
                if data.get("stop"):
                    yield UpstreamEnded(str(data.get("stop_type", "none")))
                    return
            raise UpstreamFailed("the upstream closed the stream before it ended")


async def read_facts(session: aiohttp.ClientSession, base_url: str) -> UpstreamFacts:
    """Its window per slot, slot count and model file, from `/props`."""
    props = await get_json(session, f"{base_url}/props")
    with failures_as_upstream_failed():
        return UpstreamFacts(
            slot_context=int(props["default_generation_settings"]["n_ctx"]),
            slots=int(props.get("total_slots", 1)),
            model_path=str(props.get("model_path", "")),
        )


async def tokenize(session: aiohttp.ClientSession, base_url: str, text: str) -> list[int]:
    answer = await post_json(session, f"{base_url}/tokenize",
                             {"content": text, "add_special": False, "parse_special": False})
    with failures_as_upstream_failed():
        return [int(token) for token in answer["tokens"]]


async def is_healthy(session: aiohttp.ClientSession, base_url: str) -> bool:
    """llama-server answers 200 on /health once its model is loaded (503 while loading)."""
    return await answers_ok(session, f"{base_url}/health")
