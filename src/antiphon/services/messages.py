"""The Messages use case: create a message, stream one, count its tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from antiphon.chat.context_edits import EditedContext, edit_context
from antiphon.engine.base import (
    CacheBreakpoint,
    Priority,
)
from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import (
    CountedContextManagement,
    CountTokensRequest,
    Message,
    MessagesRequest,
    OutputBlock,
    TokenCount,
)
from antiphon.protocol.streaming import (
    StreamEvent,
)
from antiphon.services.cache_breakpoints import Ttl, locate_breakpoints, marked_blocks
from antiphon.services.containers import Container, uploads_placed
from antiphon.services.file_sources import Request, has_file_sources, inline_file_sources
from antiphon.services.files import FilesService
from antiphon.services.generation import (
    GenerationOptions,
    LocateBreakpoints,
    start_generation,
    validate_stop_sequences,
)
from antiphon.services.message_plan import MessagePlan, check_request, plan_message
from antiphon.services.message_turn import MessageGeneration, TurnEvents
from antiphon.services.metering import RequestMeter
from antiphon.services.models import ModelRegistry, ServedModel
from antiphon.services.response_builder import ResponseBuilder
from antiphon.services.server_tools import (
    ServerTools,
    TurnTools,
    code_execution_tool,
    continued_request,
    web_fetch_limits,
)
from antiphon.services.thinking_seal import ThinkingSeal


class MessagesService:
    def __init__(
        self,
        registry: ModelRegistry,
        seal: ThinkingSeal,
        strict: bool,
        redact_thinking: bool = False,
        cache_ttl_seconds: dict[Ttl, float] | None = None,
        files: FilesService | None = None,
        server_tools: ServerTools | None = None,
    ) -> None:
        self._registry = registry
        self._server_tools = server_tools or ServerTools(None)
        self._turns = TurnEvents(self._server_tools, self._continue)
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
        web_fetch_limits(request, self._server_tools.fetching_enabled)
        if (path := code_execution_tool(request)) is not None:
            raise InvalidRequest(f"{path}: code execution is not available in batches; send the request to /v1/messages")
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
        validate_stop_sequences(request.stop_sequences)
        tools = TurnTools(web_fetch_limits(request, self._server_tools.fetching_enabled))
        request, tools.container = await self._container(request, workspace_id)
        marked = marked_blocks(request)
        context: EditedContext | None = None
        if request.context_management is not None:  # counting renders: off the event loop
            request, context = await asyncio.to_thread(edit_context, request, self._counter(model))
        plan = await asyncio.to_thread(plan_message, request, model, self._seal)
        locate: LocateBreakpoints | None = None
        if marked:

            def locate(tokens: tuple[int, ...]) -> tuple[CacheBreakpoint, ...]:
                def tokens_of(cut: CountTokensRequest) -> list[int]:
                    return model.engine.tokenize(plan_message(cut, model, self._seal).prompt)

                return locate_breakpoints(request, marked, tokens, tokens_of, self._ttl_seconds)

        generation = await start_generation(
            model, plan.prompt, self._options(request, plan, priority), self._strict, locate, meter
        )
        return MessageGeneration(generation, plan, request, priority, context, tools=tools)

    async def _container(
        self, request: MessagesRequest, workspace_id: str | None
    ) -> tuple[MessagesRequest, Container | None]:
        """The code execution container of a request that declares the tool (opened before
        anything is generated, so a wrong id is a 400), its uploads placed in it."""
        path = code_execution_tool(request)
        if path is None:
            if request.container is not None:
                raise InvalidRequest("container: only for requests with the code execution tool")
            return request, None
        containers = self._server_tools.containers
        if containers is None:
            raise InvalidRequest(f"{path}: code execution is not available on this server")
        containers.check_enabled(path)
        container = await containers.open(workspace_id, request.container)
        return await uploads_placed(request, container, containers), container

    def _options(self, request: MessagesRequest, plan: MessagePlan, priority: Priority) -> GenerationOptions:
        return GenerationOptions(
            max_tokens=request.max_tokens,
            stop_sequences=validate_stop_sequences(request.stop_sequences) + plan.hidden_stops,
            temperature=request.temperature,
            top_k=request.top_k,
            top_p=request.top_p,
            seed=request.seed,
            grammar=plan.grammar,
            thinking=plan.thinking,
            priority=priority,
        )

    async def _continue(self, started: MessageGeneration, blocks: list[OutputBlock]) -> None:
        """The turn goes on after server tool results: the blocks so far become the end of
        the conversation and a new generation continues it (metered as the same request)."""
        previous = started.generation
        await previous.stream.aclose()
        request = continued_request(started.request, blocks)
        plan = await asyncio.to_thread(plan_message, request, previous.model, self._seal)
        started.generation = await start_generation(
            previous.model, plan.prompt, self._options(request, plan, started.priority),
            self._strict, meter=previous.meter, earlier=previous.token_usage(),
        )
        started.plan, started.request = plan, request

    async def create(self, started: MessageGeneration) -> Message:
        async for _ in self._turns.events(started, self._builder(started.plan)):
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
        return self._turns.events(started, self._builder(started.plan), start_within)

    def _builder(self, plan: MessagePlan) -> ResponseBuilder:
        display = "redacted" if self._redact else plan.display
        return ResponseBuilder(
            self._seal, display, plan.server_tools, opens_thinking=plan.thinking is not None
        )
