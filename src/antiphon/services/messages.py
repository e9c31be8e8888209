"""The Messages use case: create a message, stream one, count its tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from antiphon.chat.conversation import build_conversation
from antiphon.chat.prompt import render_prompt
from antiphon.engine.base import Finished, FinishReason, Prompt, TextChunk
from antiphon.ids import message_id
from antiphon.protocol.messages import (
    CountTokensRequest,
    Message,
    MessagesRequest,
    OutputTextBlock,
    StopReason,
    TokenCount,
    Usage,
)
from antiphon.protocol.streaming import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    DeltaUsage,
    MessageDelta,
    MessageDeltaBody,
    MessageStart,
    MessageStop,
    StreamEvent,
    TextDelta,
)
from antiphon.services.generation import (
    Generation,
    GenerationOptions,
    start_generation,
    validate_stop_sequences,
)
from antiphon.services.models import ModelRegistry, ServedModel

_STOP_REASONS: dict[FinishReason, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "context_exhausted": "model_context_window_exceeded",
}


def _render(model: ServedModel, request: CountTokensRequest) -> Prompt:
    return render_prompt(model.template, build_conversation(request, model.card.id))


class MessagesService:
    def __init__(self, registry: ModelRegistry, strict: bool) -> None:
        self._registry = registry
        self._strict = strict

    async def count_tokens(self, request: CountTokensRequest) -> TokenCount:
        model = self._registry.for_request(request.model)
        tokens = await asyncio.to_thread(model.engine.tokenize, _render(model, request))
        return TokenCount(input_tokens=len(tokens))

    async def start(self, request: MessagesRequest) -> Generation:
        """Validate, render, tokenize and queue; every refusal happens here."""
        model = self._registry.for_request(request.model)
        options = GenerationOptions(
            max_tokens=request.max_tokens,
            stop_sequences=validate_stop_sequences(request.stop_sequences),
            temperature=request.temperature,
            top_k=request.top_k,
            top_p=request.top_p,
            seed=request.seed,
        )
        return await start_generation(model, _render(model, request), options, self._strict)

    async def create(self, generation: Generation) -> Message:
        parts: list[str] = []
        finished = Finished("max_tokens", 0)
        if generation.stream is not None:
            async with generation.stream as stream:
                async for event in stream:
                    if isinstance(event, TextChunk):
                        parts.append(event.text)
                    else:
                        finished = event
        text = "".join(parts)
        return Message(
            id=message_id(),
            model=generation.model.card.id,
            content=[OutputTextBlock(text=text)] if text else [],
            stop_reason=_STOP_REASONS[finished.reason],
            stop_sequence=finished.stop_sequence,
            usage=Usage(input_tokens=generation.prompt_tokens, output_tokens=finished.output_tokens),
        )

    async def events(self, generation: Generation) -> AsyncIterator[StreamEvent]:
        """The API's event sequence; an engine failure surfaces as an exception mid-way."""
        yield MessageStart(
            message=Message(
                id=message_id(),
                model=generation.model.card.id,
                content=[],
                stop_reason=None,
                stop_sequence=None,
                usage=Usage(input_tokens=generation.prompt_tokens, output_tokens=0),
            )
        )
        block_open = False
        finished = Finished("max_tokens", 0)
        if generation.stream is not None:
            async with generation.stream as stream:
                async for event in stream:
                    if isinstance(event, Finished):
                        finished = event
                        continue
                    if not block_open:
                        block_open = True
                        yield ContentBlockStart(index=0, content_block=OutputTextBlock(text=""))
                    yield ContentBlockDelta(index=0, delta=TextDelta(text=event.text))
        if block_open:
            yield ContentBlockStop(index=0)
        yield MessageDelta(
            delta=MessageDeltaBody(
                stop_reason=_STOP_REASONS[finished.reason], stop_sequence=finished.stop_sequence
            ),
            usage=DeltaUsage(
                input_tokens=generation.prompt_tokens, output_tokens=finished.output_tokens
            ),
        )
        yield MessageStop()
