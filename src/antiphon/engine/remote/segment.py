"""One call to an upstream engine, and what comes back from it.

A generation may take several calls: while a thinking section is open the model may not end
its turn, after it the answer's grammar applies, and when the thinking budget is spent
antiphon writes the close itself. Each change of constraints starts a new segment that
continues the prompt and everything written so far (the upstream's prefix cache makes that
a short prefill).
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.engine.base import Grammar, SamplingParams


@dataclass(frozen=True)
class Segment:
    tokens: tuple[int, ...]  # the prompt and every token generated so far
    max_tokens: int
    sampling: SamplingParams
    grammar: Grammar | None = None
    banned_tokens: tuple[int, ...] = ()  # never sampled (includes the end-of-generation
    end_of_generation_banned: bool = False  # tokens when this is set)


@dataclass(frozen=True)
class UpstreamReused:
    """How many of the segment's prompt tokens the upstream found in its prefix cache.
    llama-server and SGLang say it before the first token; vLLM only with its last event,
    so it may follow the tokens (and never come if the segment is cut short)."""

    cached_tokens: int


@dataclass(frozen=True)
class UpstreamTokens:
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class UpstreamEnded:
    """The upstream stopped on its own: "eos", "limit" (max_tokens) or another reason."""

    reason: str


UpstreamEvent = UpstreamReused | UpstreamTokens | UpstreamEnded


@dataclass(frozen=True)
class UpstreamFacts:
    """What an upstream says about itself at start-up."""

    slot_context: int  # positions per request: its prompt and answer together
    slots: int  # requests it runs at once
    model_path: str  # its model file, where it says (a tokenizer to use if it is here too)


class UpstreamFailed(Exception):
    """The upstream could not be reached, refused the call, or broke off. `retryable`: the
    fault is the upstream's (a connection, a 5xx), so another upstream may serve the call."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
