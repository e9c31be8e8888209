"""From a rendered prompt to a queued generation: the checks every endpoint shares.

Tokenizes off the event loop, enforces the context window (400 with both numbers), clamps or
rejects `max_tokens` beyond the model's output limit or the window (`--strict`), keeps a
thinking budget inside a clamped `max_tokens`, validates stop sequences, and queues the request on the
engine, so that every refusal (including 529 overloaded) happens before a response starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

from antiphon.engine.base import (
    CacheBreakpoint,
    GenerationRequest,
    Grammar,
    Priority,
    Prompt,
    PromptCacheUsage,
    ThinkingControl,
)
from antiphon.engine.stream import GenerationStream
from antiphon.errors import InvalidRequest
from antiphon.ids import request_id as new_request_id
from antiphon.services.metering import RequestMeter
from antiphon.services.models import ServedModel
from antiphon.services.usage import TokenUsage

# Stop matching precomputes every prefix of every stop sequence, so both are bounded.
MAX_STOP_SEQUENCES = 64
MAX_STOP_SEQUENCE_CHARS = 256


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int
    stop_sequences: tuple[str, ...] = ()
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens_field: str = "max_tokens"  # the request's name for it, for error messages
    grammar: Grammar | None = None
    thinking: ThinkingControl | None = None
    priority: Priority = Priority.INTERACTIVE


# Where the prompt's cache breakpoints fall, given its tokens (runs in a worker thread).
LocateBreakpoints = Callable[[tuple[int, ...]], tuple[CacheBreakpoint, ...]]


def prompt_usage(
    prompt_tokens: int, breakpoints: tuple[CacheBreakpoint, ...], cache: PromptCacheUsage
) -> tuple[int, int, int, int]:
    """Prompt caching's split of a prompt: (uncached, written 5m, written 1h, read)."""
    by_ttl = {"5m": 0, "1h": 0}
    for breakpoint, created in zip(breakpoints, cache.created_tokens):
        by_ttl[breakpoint.label] += created
    written = by_ttl["5m"] + by_ttl["1h"]
    return prompt_tokens - cache.read_tokens - written, by_ttl["5m"], by_ttl["1h"], cache.read_tokens


@dataclass
class Generation:
    """A request accepted and queued (max_new_tokens 0: only to prefill the cache)."""

    model: ServedModel
    prompt_tokens: int
    max_new_tokens: int
    stream: GenerationStream
    cache_breakpoints: tuple[CacheBreakpoint, ...] = ()
    meter: RequestMeter | None = None
    # What the request's earlier sampling iterations spent (a server-tool loop continues a
    # turn with a new generation; the request is metered once, for all of them).
    earlier: TokenUsage = TokenUsage(0, 0, 0, 0, 0)

    def token_usage(self) -> TokenUsage:
        """What was spent so far: nothing before the sequence started, then the prompt (split
        by the prefix cache) and the output tokens generated."""
        cache = self.stream.cache_usage
        if cache is None:
            return self.earlier
        uncached, written_5m, written_1h, read = prompt_usage(
            self.prompt_tokens, self.cache_breakpoints, cache
        )
        own = TokenUsage(uncached, written_5m, written_1h, read, self.stream.output_tokens)
        return self.earlier + own

    async def on_output(self) -> None:
        """Charge the output rate limit for the tokens generated so far."""
        if self.meter is not None:
            await self.meter.on_output(self.earlier.output + self.stream.output_tokens)

    async def close(self) -> None:
        """Release the queue place, aborting the sequence if unfinished, and record its usage.
        Idempotent."""
        await self.stream.aclose()
        if self.meter is not None:
            await self.meter.finish(self.model.card.id, self.token_usage())


def validate_stop_sequences(stop_sequences: list[str] | None) -> tuple[str, ...]:
    sequences = tuple(stop_sequences or ())
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(
            f"stop_sequences: at most {MAX_STOP_SEQUENCES} are allowed, got {len(sequences)}"
        )
    for index, sequence in enumerate(sequences):
        if not sequence:
            raise InvalidRequest(f"stop_sequences.{index}: a stop sequence cannot be empty")
        if len(sequence) > MAX_STOP_SEQUENCE_CHARS:
            raise InvalidRequest(
                f"stop_sequences.{index}: at most {MAX_STOP_SEQUENCE_CHARS} characters, "
                f"got {len(sequence)}"
            )
    return sequences


def _allowed_new_tokens(
    model: ServedModel, prompt_tokens: int, options: GenerationOptions, strict: bool
) -> int:
    window = model.card.context_window
    if prompt_tokens >= window:
        raise InvalidRequest(
            f"prompt is too long: {prompt_tokens} tokens > {window - 1} maximum "
            f"(model {model.card.id} has a {window}-token context window)"
        )
    room = window - prompt_tokens
    limit = min(room, model.card.max_output_tokens)
    if options.max_tokens <= limit:
        return options.max_tokens
    if strict:
        why = (
            f"which is the maximum allowed number of output tokens for {model.card.id}"
            if limit < room else
            f"the tokens left in the {window}-token context window of {model.card.id} after a "
            f"{prompt_tokens}-token prompt"
        )
        raise InvalidRequest(f"{options.max_tokens_field}: {options.max_tokens} > {limit}, {why}")
    # Agent clients ask for 32k-128k whatever the model; give what the model's output limit
    # and the window allow. The answer then ends with stop_reason "max_tokens" if it runs
    # that long.
    return limit


def thinking_within(
    thinking: ThinkingControl | None, requested: int, allowed: int
) -> ThinkingControl | None:
    """A thinking budget made for a `max_tokens` that was clamped would leave no room for the
    answer (Claude Code asks for 31,999 of 32,000): it keeps to half of what is allowed."""
    if thinking is None or thinking.budget_tokens is None or allowed >= requested:
        return thinking
    budget = min(thinking.budget_tokens, max(1, allowed // 2))
    return thinking if budget == thinking.budget_tokens else replace(thinking, budget_tokens=budget)


async def start_generation(
    model: ServedModel,
    prompt: Prompt,
    options: GenerationOptions,
    strict: bool,
    locate: LocateBreakpoints | None = None,
    meter: RequestMeter | None = None,
    earlier: TokenUsage | None = None,
) -> Generation:
    def prepare() -> tuple[tuple[int, ...], tuple[CacheBreakpoint, ...]]:
        tokens = tuple(model.engine.tokenize(prompt))
        return tokens, (locate(tokens) if locate is not None and tokens else ())

    tokens, breakpoints = await asyncio.to_thread(prepare)
    if not tokens:  # possible only with an unusual chat template; the engine needs one token
        raise InvalidRequest(f"the prompt rendered for model {model.card.id} is empty")
    max_new_tokens = _allowed_new_tokens(model, len(tokens), options, strict)
    sampling = model.card.sampling.apply(
        options.temperature, options.top_k, options.top_p, options.seed
    )
    request = GenerationRequest(
        request_id=new_request_id(),
        prompt_tokens=tokens,
        max_new_tokens=max_new_tokens,
        sampling=sampling,
        stop_sequences=options.stop_sequences,
        grammar=options.grammar,
        thinking=thinking_within(options.thinking, options.max_tokens, max_new_tokens),
        priority=options.priority,
        cache_breakpoints=breakpoints,
    )
    if meter is not None:  # rate and spend limits, charged with the exact prompt size
        await meter.admit(len(tokens))
    stream = model.engine.generate(request)
    return Generation(
        model, len(tokens), max_new_tokens, stream, breakpoints, meter,
        earlier or TokenUsage(0, 0, 0, 0, 0),
    )
