"""The Messages use case: create a message, stream one, count its tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from antiphon.chat.context_edits import EditedContext, edit_context
from antiphon.engine.base import (
    CacheBreakpoint,
    Finished,
    FinishReason,
    Priority,
    PromptCacheUsage,
    TextChunk,
)
from antiphon.errors import InvalidRequest
from antiphon.ids import message_id
from antiphon.protocol.messages import (
    AppliedContextManagement,
    CacheCreation,
    CountedContextManagement,
    CountTokensRequest,
    Message,
    MessagesRequest,
    StopReason,
    TokenCount,
    Usage,
)
from antiphon.protocol.streaming import (
    DeltaUsage,
    MessageDelta,
    MessageDeltaBody,
    MessageStart,
    MessageStop,
    StreamEvent,
)
from antiphon.services.cache_breakpoints import Ttl, locate_breakpoints, marked_blocks
from antiphon.services.file_sources import Request, has_file_sources, inline_file_sources
from antiphon.services.files import FilesService
from antiphon.services.generation import (
    Generation,
    GenerationOptions,
    LocateBreakpoints,
    prompt_usage,
    start_generation,
    validate_stop_sequences,
)
from antiphon.services.message_plan import MessagePlan, check_request, plan_message
from antiphon.services.metering import RequestMeter
from antiphon.services.models import ModelRegistry, ServedModel
from antiphon.services.response_builder import ResponseBuilder
from antiphon.services.thinking_seal import ThinkingSeal

_STOP_REASONS: dict[FinishReason, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "context_exhausted": "model_context_window_exceeded",
    "repetition": "end_turn",  # cut short in a verbatim loop: the answer is over
}


@dataclass
class MessageGeneration:
    """A queued generation and what is needed to turn its text into content blocks."""

    generation: Generation
    plan: MessagePlan
    context: EditedContext | None = None  # what context editing did, if the request asked
    reply: Message | None = None  # the whole message, once its events have all been made

    @property
    def context_management(self) -> AppliedContextManagement | None:
        if self.context is None:
            return None
        return AppliedContextManagement(applied_edits=list(self.context.applied))

    async def close(self) -> None:
        await self.generation.close()


def _stop(plan: MessagePlan, finished: Finished, tool_calls: int) -> tuple[StopReason, str | None]:
    sequence = finished.stop_sequence
    if finished.reason == "stop_sequence" and sequence in plan.hidden_stops:
        return "end_turn", None  # our own stop (a call under tool_choice none): not the client's
    if tool_calls and finished.reason in ("end_turn", "stop_sequence"):
        return "tool_use", None
    return _STOP_REASONS[finished.reason], sequence


def _usage(
    prompt_tokens: int, breakpoints: tuple[CacheBreakpoint, ...], cache: PromptCacheUsage
) -> Usage:
    """Prompt caching's split of the prompt: read, written (by TTL), and the rest."""
    uncached, written_5m, written_1h, read = prompt_usage(prompt_tokens, breakpoints, cache)
    return Usage(
        input_tokens=uncached,
        output_tokens=0,
        cache_creation_input_tokens=written_5m + written_1h,
        cache_read_input_tokens=read,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=written_5m, ephemeral_1h_input_tokens=written_1h
        ),
    )


class MessagesService:
    def __init__(
        self,
        registry: ModelRegistry,
        seal: ThinkingSeal,
        strict: bool,
        redact_thinking: bool = False,
        cache_ttl_seconds: dict[Ttl, float] | None = None,
        files: FilesService | None = None,
    ) -> None:
        self._registry = registry
        self._files = files
        self._seal = seal
        self._strict = strict
        self._redact = redact_thinking
        self._ttl_seconds = cache_ttl_seconds or {"5m": 300.0, "1h": 3600.0}

    async def _with_files(self, request: Request, workspace_id: str | None) -> Request:
        if self._files is None or not has_file_sources(request):
            return request
        return await inline_file_sources(request, self._files, workspace_id)

    async def count_tokens(self, request: CountTokensRequest, workspace_id: str | None = None) -> TokenCount:
        model = self._registry.for_request(request.model)
        request = await self._with_files(request, workspace_id)
        marked_blocks(request)  # the same refusals as generation

        count = self._counter(model)

        def edited_count() -> TokenCount:
            edited, context = edit_context(request, count)
            if context is None:
                return TokenCount(input_tokens=count(edited))
            original = CountedContextManagement(original_input_tokens=count(request))
            return TokenCount(input_tokens=count(edited), context_management=original)

        return await asyncio.to_thread(edited_count)

    def _counter(self, model: ServedModel) -> Callable[[CountTokensRequest], int]:
        """Counts a request's prompt tokens as the model will read them."""

        def count(request: CountTokensRequest) -> int:
            return len(model.engine.tokenize(plan_message(request, model, self._seal).prompt))

        return count

    def check(self, request: MessagesRequest) -> None:
        """The refusals that need no rendering or tokenizing (a batch checks each request
        with these before accepting it): the model, stop sequences, cache markers, tools,
        tool_choice and thinking. CPU work: run it off the event loop."""
        if request.thread is not None:
            raise InvalidRequest("thread: a batch request carries its whole conversation; leave thread out")
        model = self._registry.for_request(request.model)
        validate_stop_sequences(request.stop_sequences)
        marked_blocks(request)
        check_request(request, model)

    async def start(
        self, request: MessagesRequest, meter: RequestMeter | None = None,
        workspace_id: str | None = None, priority: Priority = Priority.INTERACTIVE,
    ) -> MessageGeneration:
        """Validate, render, tokenize and queue; every refusal happens here. File sources are
        read from `workspace_id`."""
        model = self._registry.for_request(request.model)
        with self._registry.admission.hold(model):  # a burst's excess is refused before any work
            return await self._start(model, request, meter, workspace_id, priority)

    async def _start(
        self, model: ServedModel, request: MessagesRequest, meter: RequestMeter | None,
        workspace_id: str | None, priority: Priority,
    ) -> MessageGeneration:
        request = await self._with_files(request, workspace_id)
        stops = validate_stop_sequences(request.stop_sequences)
        marked = marked_blocks(request)
        context: EditedContext | None = None
        if request.context_management is not None:  # counting renders: off the event loop
            request, context = await asyncio.to_thread(edit_context, request, self._counter(model))
        plan = await asyncio.to_thread(plan_message, request, model, self._seal)
        options = GenerationOptions(
            max_tokens=request.max_tokens,
            stop_sequences=stops + plan.hidden_stops,
            temperature=request.temperature,
            top_k=request.top_k,
            top_p=request.top_p,
            seed=request.seed,
            grammar=plan.grammar,
            thinking=plan.thinking,
            priority=priority,
        )
        locate: LocateBreakpoints | None = None
        if marked:

            def locate(tokens: tuple[int, ...]) -> tuple[CacheBreakpoint, ...]:
                def tokens_of(cut: CountTokensRequest) -> list[int]:
                    return model.engine.tokenize(plan_message(cut, model, self._seal).prompt)

                return locate_breakpoints(request, marked, tokens, tokens_of, self._ttl_seconds)

        generation = await start_generation(
            model, plan.prompt, options, self._strict, locate, meter
        )
        return MessageGeneration(generation, plan, context)

    async def create(self, started: MessageGeneration) -> Message:
        async for _ in self._events(started, self._builder(started.plan)):
            pass
        assert started.reply is not None
        return started.reply

    def events(
        self, started: MessageGeneration, start_within: float | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The API's event sequence; an engine failure surfaces as an exception mid-way.

        `message_start` reports the prompt's cache usage, known once its sequence starts; if
        it is still queued after `start_within` seconds, message_start goes out without it
        (so that pings may follow) and only `message_delta` has it."""
        return self._events(started, self._builder(started.plan), start_within)

    def _builder(self, plan: MessagePlan) -> ResponseBuilder:
        return ResponseBuilder(self._seal, "redacted" if self._redact else plan.display)

    async def _events(
        self,
        started: MessageGeneration,
        builder: ResponseBuilder,
        start_within: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        generation, plan = started.generation, started.plan
        parser = plan.output_parser()
        finished = Finished("max_tokens", 0)
        prompt, breakpoints = generation.prompt_tokens, generation.cache_breakpoints
        async with generation.stream as stream:
            try:
                cache = await asyncio.wait_for(stream.admitted(), start_within)
            except TimeoutError:  # still queued
                cache = PromptCacheUsage()
            start = Message(
                id=message_id(),
                model=generation.model.card.id,
                content=[],
                stop_reason=None,
                stop_sequence=None,
                usage=_usage(prompt, breakpoints, cache),
            )
            yield MessageStart(message=start)
            async for event in stream:
                if isinstance(event, TextChunk):
                    await generation.on_output()
                    for parsed in parser.feed(event.text):
                        for out in builder.on_event(parsed):
                            yield out
                elif isinstance(event, Finished):
                    finished = event
        for parsed in parser.finish():
            for out in builder.on_event(parsed):
                yield out
        for out in builder.close():
            yield out
        stop_reason, stop_sequence = _stop(plan, finished, builder.tool_calls)
        usage = _usage(prompt, breakpoints, stream.cache_usage or PromptCacheUsage())
        yield MessageDelta(
            delta=MessageDeltaBody(stop_reason=stop_reason, stop_sequence=stop_sequence),
            usage=DeltaUsage(
                input_tokens=usage.input_tokens,
                output_tokens=finished.output_tokens,
                cache_creation_input_tokens=usage.cache_creation_input_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
            ),
            context_management=started.context_management,
        )
        started.reply = start.model_copy(
            update={
                "content": builder.blocks,
                "stop_reason": stop_reason,
                "stop_sequence": stop_sequence,
                "usage": start.usage.model_copy(update={"output_tokens": finished.output_tokens}),
                "context_management": started.context_management,
            }
        )
        yield MessageStop()
