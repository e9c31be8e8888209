"""One message's turn as events: sampling, the server tools it calls, and the end.

A turn is usually one sampling. When the model calls a server tool (web fetch), the call is
run here, its result block follows the call, and a new sampling continues the same message
(up to MAX_SERVER_ITERATIONS, then `pause_turn`); usage adds up over the samplings. The same
events make the streamed answer and, collected, the whole message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from antiphon.chat.context_edits import EditedContext
from antiphon.chat.fetchable_urls import fetchable_urls
from antiphon.engine.base import (
    Finished,
    FinishReason,
    Priority,
    PromptCacheUsage,
    TextChunk,
)
from antiphon.ids import message_id
from antiphon.protocol.messages import (
    AppliedContextManagement,
    CacheCreation,
    Message,
    MessagesRequest,
    OutputBlock,
    ServerToolUsage,
    StopReason,
    Usage,
    WebFetchUrlSources,
)
from antiphon.protocol.streaming import (
    DeltaUsage,
    MessageDelta,
    MessageDeltaBody,
    MessageStart,
    MessageStop,
    StreamEvent,
)
from antiphon.services.generation import Generation, prompt_usage
from antiphon.services.message_plan import MessagePlan
from antiphon.services.response_builder import ResponseBuilder
from antiphon.services.server_tools import (
    MAX_SERVER_ITERATIONS,
    ServerTools,
    TurnTools,
    pending_server_calls,
)
from antiphon.services.usage import TokenUsage

_STOP_REASONS: dict[FinishReason, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "context_exhausted": "model_context_window_exceeded",
    "repetition": "end_turn",  # cut short in a verbatim loop: the answer is over
}


@dataclass
class MessageGeneration:
    """A queued generation and what is needed to turn its text into content blocks (and to
    continue the turn after a server tool's result: the request as rendered, and how)."""

    generation: Generation
    plan: MessagePlan
    request: MessagesRequest
    priority: Priority
    context: EditedContext | None = None  # what context editing did, if the request asked
    reply: Message | None = None  # the whole message, once its events have all been made
    tools: TurnTools = field(default_factory=TurnTools)  # what its server tool calls use

    @property
    def context_management(self) -> AppliedContextManagement | None:
        if self.context is None:
            return None
        return AppliedContextManagement(applied_edits=list(self.context.applied))

    async def close(self) -> None:
        await self.generation.close()


# Continues a turn after server tool results: a new generation in `started`.
ContinueTurn = Callable[["MessageGeneration", list[OutputBlock]], Awaitable[None]]


def _stop(plan: MessagePlan, finished: Finished, tool_calls: int) -> tuple[StopReason, str | None]:
    sequence = finished.stop_sequence
    if finished.reason == "stop_sequence" and sequence in plan.hidden_stops:
        return "end_turn", None  # our own stop (a call under tool_choice none): not the client's
    if tool_calls and finished.reason in ("end_turn", "stop_sequence"):
        return "tool_use", None
    return _STOP_REASONS[finished.reason], sequence


def _usage(spent: TokenUsage) -> Usage:
    """Prompt caching's split of what was read (uncached, written by TTL, read) and output."""
    return Usage(
        input_tokens=spent.uncached_input,
        output_tokens=spent.output,
        cache_creation_input_tokens=spent.cache_creation_5m + spent.cache_creation_1h,
        cache_read_input_tokens=spent.cache_read,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=spent.cache_creation_5m,
            ephemeral_1h_input_tokens=spent.cache_creation_1h,
        ),
    )


def _prompt_spent(generation: Generation, cache: PromptCacheUsage, output: int) -> TokenUsage:
    """One sampling's prompt, split by the prefix cache, and its output."""
    return TokenUsage(
        *prompt_usage(generation.prompt_tokens, generation.cache_breakpoints, cache), output
    )


class TurnEvents:
    """Makes a started message's events; `continue_turn` starts its next sampling."""

    def __init__(self, server_tools: ServerTools, continue_turn: ContinueTurn) -> None:
        self._server_tools = server_tools
        self._continue_turn = continue_turn

    async def events(
        self,
        started: MessageGeneration,
        builder: ResponseBuilder,
        start_within: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """One message's events; a turn whose model calls a server tool runs it and goes
        on sampling (up to MAX_SERVER_ITERATIONS, then `pause_turn`)."""
        start: Message | None = None
        answered, iterations = set[str](), 0
        while True:
            generation, plan = started.generation, started.plan
            finished = Finished("max_tokens", 0)
            async for event in self._sampled(generation, plan, builder, start is None, start_within):
                if isinstance(event, MessageStart):
                    start = event.message
                elif isinstance(event, Finished):
                    finished = event
                    continue
                yield event
            calls = pending_server_calls(builder.blocks, answered)
            if not calls or builder.tool_calls or finished.reason not in ("end_turn", "stop_sequence"):
                break
            for call in calls:  # the model's calls run in its order, each answered in place
                fetchable = fetchable_urls(started.request, _url_sources(started))
                result = await self._server_tools.run(call, started.tools, fetchable)
                answered.add(call.id)
                for out in builder.add_result(result):
                    yield out
            iterations += 1
            if iterations >= MAX_SERVER_ITERATIONS:
                break
            await self._continue_turn(started, builder.blocks)
        assert start is not None
        paused = iterations >= MAX_SERVER_ITERATIONS
        for out in self._final(started, builder, start, finished, paused):
            yield out

    async def _sampled(
        self, generation: Generation, plan: MessagePlan, builder: ResponseBuilder,
        opens_message: bool, start_within: float | None,
    ) -> AsyncIterator[StreamEvent | Finished]:
        """One sampling iteration's events, ending with its Finished (message_start first
        when it opens the message)."""
        parser = plan.output_parser()
        async with generation.stream as stream:
            if opens_message:
                try:
                    cache = await asyncio.wait_for(stream.admitted(), start_within)
                except TimeoutError:  # still queued
                    cache = PromptCacheUsage()
                yield MessageStart(message=Message(
                    id=message_id(),
                    model=generation.model.card.id,
                    content=[],
                    stop_reason=None,
                    stop_sequence=None,
                    usage=_usage(_prompt_spent(generation, cache, 0)),
                ))
            finished = Finished("max_tokens", 0)
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
        yield finished

    def _final(
        self, started: MessageGeneration, builder: ResponseBuilder, start: Message,
        finished: Finished, paused: bool,
    ) -> Iterator[StreamEvent]:
        """message_delta (the whole turn's usage) and message_stop; the reply is kept."""
        stop_reason, stop_sequence = _stop(started.plan, finished, builder.tool_calls)
        if paused:  # the server-tool loop's bound: the client sends the turn back to go on
            stop_reason, stop_sequence = "pause_turn", None
        usage = _turn_usage(started.generation, finished)
        tools = started.tools
        if tools.web_fetch is not None:
            usage.server_tool_use = ServerToolUsage(web_fetch_requests=tools.fetches)
        yield MessageDelta(
            delta=MessageDeltaBody(
                stop_reason=stop_reason, stop_sequence=stop_sequence,
                container=tools.container.info() if tools.container else None,
            ),
            usage=DeltaUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_creation_input_tokens=usage.cache_creation_input_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens,
                server_tool_use=usage.server_tool_use,
            ),
            context_management=started.context_management,
        )
        started.reply = start.model_copy(update={
            "content": builder.blocks,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage,
            "context_management": started.context_management,
            "container": tools.container.info() if tools.container else None,
        })
        yield MessageStop()


def _turn_usage(generation: Generation, finished: Finished) -> Usage:
    """This sampling's usage plus the turn's earlier ones."""
    cache = generation.stream.cache_usage or PromptCacheUsage()
    return _usage(generation.earlier + _prompt_spent(generation, cache, finished.output_tokens))


def _url_sources(started: MessageGeneration) -> WebFetchUrlSources | None:
    declared = next((tool for tool in started.request.tools or () if tool.name == "web_fetch"), None)
    return declared.url_sources if declared else None
