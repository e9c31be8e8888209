"""llama.cpp's `llama-server` as an upstream: its `/completion` endpoint, token ids in and out.

antiphon renders and tokenizes the prompt itself and sends the ids; the upstream continues
them and streams the ids it sampled (`return_tokens`), which antiphon detokenizes with the
same vocabulary. Every sampler llama-server would add on its own (min-p, penalties, DRY, XTC)
is switched off, so that a request samples as it does on the embedded engine. The first
streamed object (`return_progress`) says how much of the prompt the upstream's cache held.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from antiphon.engine.remote.segment import (
    Segment,
    UpstreamEnded,
    UpstreamEvent,
    UpstreamFacts,
    UpstreamFailed,
    UpstreamStarted,
    UpstreamTokens,
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
        "top_k": sampling.top_k or 0,
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


async def stream_completion(
    session: aiohttp.ClientSession, base_url: str, segment: Segment
) -> AsyncGenerator[UpstreamEvent, None]:
    """The upstream's events for one segment. Raises `UpstreamFailed` when the upstream
    cannot be reached, answers with an error, or the stream breaks."""
    try:
        async with session.post(f"{base_url}/completion", json=completion_body(segment)) as response:
            if response.status != 200:
                raise UpstreamFailed(await _error_text(response), retryable=response.status >= 500)
            started = False
            async for line in response.content:  # one SSE line at a time
                if not line.startswith(b"data:"):
                    continue
                data = json.loads(line[5:])
                if "error" in data:
                    raise UpstreamFailed(str(data["error"].get("message", data["error"])))
                progress = data.get("prompt_progress")
                if progress is not None:
                    if not started:
                        started = True
                        yield UpstreamStarted(int(progress.get("cache", 0)))
                    continue
                if not started:  # an upstream too old to report progress
                    started = True
                    yield UpstreamStarted(int(data.get("timings", {}).get("cache_n", 0)))
                tokens = data.get("tokens")
                if tokens:
                    yield UpstreamTokens(tuple(tokens))
                if data.get("stop"):
                    yield UpstreamEnded(str(data.get("stop_type", "none")))
                    return
            raise UpstreamFailed("the upstream closed the stream before it ended")
    except (TimeoutError, aiohttp.ClientError) as error:
        raise UpstreamFailed(f"{type(error).__name__}: {error}".rstrip(": ")) from error
    except (ValueError, TypeError, AttributeError) as error:  # not the JSON it documents
        raise UpstreamFailed(f"the upstream sent a malformed event: {error}") from error


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        detail = (await response.json(content_type=None)).get("error", {}).get("message")
    except (ValueError, AttributeError, aiohttp.ClientError):
        detail = None
    return f"HTTP {response.status}" + (f": {detail}" if detail else "")


async def read_facts(session: aiohttp.ClientSession, base_url: str) -> UpstreamFacts:
    """Its window per slot, slot count and model file, from `/props`."""
    try:
        async with session.get(f"{base_url}/props", timeout=_QUICK) as response:
            response.raise_for_status()
            props = await response.json(content_type=None)
        settings = props["default_generation_settings"]
        return UpstreamFacts(
            slot_context=int(settings["n_ctx"]),
            slots=int(props.get("total_slots", 1)),
            model_path=str(props.get("model_path", "")),
        )
    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as error:
        raise UpstreamFailed(f"{base_url}/props: {type(error).__name__}: {error}") from error


async def is_healthy(session: aiohttp.ClientSession, base_url: str) -> bool:
    """llama-server answers 200 on /health once its model is loaded (503 while loading)."""
    try:
        async with session.get(f"{base_url}/health", timeout=_HEALTH) as response:
            return response.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False


_QUICK = aiohttp.ClientTimeout(total=5.0)
_HEALTH = aiohttp.ClientTimeout(total=2.0)
