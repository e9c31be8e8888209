"""`POST /v1/chat/completions`: OpenAI's Chat Completions, served by the Messages service.

The request is translated into a `MessagesRequest` and goes through exactly what
`/v1/messages` does (validation, rate and spend limits, the engine, usage); only the shapes
at both ends are OpenAI's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.body import read_model
from antiphon.http.disconnect import unless_disconnected
from antiphon.http.errors import openai_error_body
from antiphon.http.metering import publish_limits, request_meter
from antiphon.http.openai.request import to_messages_request, uses_functions
from antiphon.http.openai.response import to_chunks, to_completion
from antiphon.http.responses import json_response
from antiphon.http.sse import COMMENT_PING, guard_errors, sse_response
from antiphon.protocol.openai import ChatCompletionRequest
from antiphon.services.messages import MessagesService
from antiphon.services.models import ModelRegistry

DONE = b"data: [DONE]\n\n"
# Without max_tokens (optional in OpenAI's API, required in the Messages API) a request may
# use the model's whole output limit; a name no model serves fails in the service.
_FALLBACK_MAX_TOKENS = 4096


def _data(json_text: str) -> bytes:
    return b"data: " + json_text.encode() + b"\n\n"


def _failed(error: BaseException) -> bytes:
    """After the 200, a failure is an error chunk, then the end of the stream."""
    return _data(openai_error_body(error)[1].model_dump_json()) + DONE


async def create_chat_completion(request: Request) -> Response:
    request.app.state.registry.refuse_when_all_busy()  # a burst's excess: before any parsing
    body = await read_model(request, ChatCompletionRequest)
    registry: ModelRegistry = request.app.state.registry
    served = registry.resolve(body.model)
    native = to_messages_request(
        body, served.card.max_output_tokens if served else _FALLBACK_MAX_TOKENS
    )
    service: MessagesService = request.app.state.messages
    meter = request_meter(request)
    try:
        generation = await service.start(native, meter, request.state.principal.workspace_id)
    finally:
        publish_limits(request, meter)
    functions = uses_functions(body)
    if not body.stream:
        try:
            message = await unless_disconnected(request, service.create(generation))
        finally:
            await generation.close()
        return json_response(to_completion(message, functions))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    interval = request.app.state.settings.ping_interval

    async def encoded() -> AsyncIterator[bytes]:
        events = service.events(generation, start_within=interval / 2)
        async for chunk in to_chunks(events, functions, include_usage):
            yield _data(chunk.model_dump_json())
        yield DONE

    return sse_response(
        guard_errors(encoded(), _failed), interval, cleanup=generation.close, ping=COMMENT_PING
    )
