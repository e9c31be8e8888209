"""The legacy Text Completions use case (`POST /v1/complete`).

The `\n\nHuman:` / `\n\nAssistant:` prompt is parsed into turns and rendered through the
model's own chat template, so instruction-tuned models answer as they were trained to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from antiphon.chat.conversation import Conversation, Turn
from antiphon.chat.legacy_prompt import HUMAN_PROMPT, parse_legacy_prompt
from antiphon.chat.prompt import render_prompt
from antiphon.engine.base import Finished, TextChunk
from antiphon.protocol.complete import CompletionRequest, CompletionStopReason
from antiphon.services.generation import (
    Generation,
    GenerationOptions,
    start_generation,
    validate_stop_sequences,
)
from antiphon.services.metering import RequestMeter
from antiphon.services.models import ModelRegistry, ServedModel


@dataclass(frozen=True)
class CompletionPiece:
    text: str


@dataclass(frozen=True)
class CompletionEnd:
    stop_reason: CompletionStopReason
    stop: str | None


def _conversation(prompt: str) -> Conversation:
    turns = parse_legacy_prompt(prompt)
    last = turns[-1]
    body = tuple(Turn(turn.role, turn.text) for turn in turns[:-1])
    return Conversation(system=None, turns=body, prefill=last.text or None)


class CompletionsService:
    def __init__(self, registry: ModelRegistry, strict: bool) -> None:
        self._registry = registry
        self._strict = strict

    async def start(self, request: CompletionRequest, meter: RequestMeter | None = None) -> Generation:
        model = self._registry.for_request(request.model)
        with self._registry.admission.hold(model):  # a burst's excess is refused before any work
            return await self._start(model, request, meter)

    async def _start(
        self, model: ServedModel, request: CompletionRequest, meter: RequestMeter | None
    ) -> Generation:
        prompt = render_prompt(model.template, _conversation(request.prompt))
        stops = validate_stop_sequences(request.stop_sequences)
        options = GenerationOptions(
            max_tokens=request.max_tokens_to_sample,
            # The model always stops where a new human turn would begin.
            stop_sequences=(*stops, HUMAN_PROMPT) if HUMAN_PROMPT not in stops else stops,
            temperature=request.temperature,
            top_k=request.top_k,
            top_p=request.top_p,
            seed=request.seed,
            max_tokens_field="max_tokens_to_sample",
        )
        return await start_generation(model, prompt, options, self._strict, meter=meter)

    async def pieces(self, generation: Generation) -> AsyncIterator[CompletionPiece | CompletionEnd]:
        finished = Finished("max_tokens", 0)
        async with generation.stream as stream:
            async for event in stream:
                if isinstance(event, TextChunk):
                    await generation.on_output()
                    yield CompletionPiece(event.text)
                elif isinstance(event, Finished):
                    finished = event
        if finished.reason in ("max_tokens", "context_exhausted"):
            yield CompletionEnd("max_tokens", None)
        else:  # the end of the turn is where the model would write "\n\nHuman:"
            yield CompletionEnd("stop_sequence", finished.stop_sequence or HUMAN_PROMPT)
