"""`POST /v1/messages` and `POST /v1/messages/count_tokens`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.body import read_model
from antiphon.http.disconnect import unless_disconnected
from antiphon.http.metering import publish_limits, request_meter
from antiphon.http.responses import json_response
from antiphon.http.sse import encode_model, error_event, guard_errors, sse_response
from antiphon.protocol.messages import CountTokensRequest, MessagesRequest
from antiphon.protocol.streaming import MessageStop
from antiphon.services.message_turn import MessageGeneration
from antiphon.services.messages import MessagesService
from antiphon.services.threads import ThreadService, ThreadTurn


def _service(request: Request) -> MessagesService:
    return request.app.state.messages


def _threads(request: Request) -> ThreadService:
    return request.app.state.threads


async def create_message(request: Request) -> Response:
    request.app.state.registry.refuse_when_all_busy()  # a burst's excess: before any parsing
    body = await read_model(request, MessagesRequest)
    # With `thread`, the conversation is the stored one plus this request's messages.
    turn = await _threads(request).begin(body, request.state.principal.workspace_id)
    try:
        generation = await _start(request, turn.request if turn else body)
    except BaseException:
        await _threads(request).abandon(turn)
        raise
    if body.stream:
        return _streamed(request, generation, turn)
    return await _answered(request, generation, turn)


async def _start(request: Request, body: MessagesRequest) -> MessageGeneration:
    meter = request_meter(request)
    try:
        return await _service(request).start(body, meter, request.state.principal.workspace_id)
    finally:
        publish_limits(request, meter)


async def _answered(request: Request, generation: MessageGeneration, turn: ThreadTurn | None) -> Response:
    try:
        message = await unless_disconnected(request, _service(request).create(generation))
    except BaseException:
        await _threads(request).abandon(turn)
        raise
    finally:
        await generation.close()
    if turn is not None:
        await _threads(request).finish(turn, message)
    return json_response(message)


def _streamed(request: Request, generation: MessageGeneration, turn: ThreadTurn | None) -> Response:
    async def encoded() -> AsyncIterator[bytes]:
        # message_start goes out before the first ping could: a queued request gets it (without
        # its cache usage, which message_delta then carries) after half the ping interval.
        start_within = request.app.state.settings.ping_interval / 2
        try:
            async for event in _service(request).events(generation, start_within=start_within):
                if isinstance(event, MessageStop) and turn is not None:
                    assert generation.reply is not None  # stored before the client hears the end
                    await _threads(request).finish(turn, generation.reply)
                yield encode_model(event)
        except BaseException:
            if generation.reply is None:  # no reply to store: the previous one stays current
                await _threads(request).abandon(turn)
            raise

    return sse_response(
        guard_errors(encoded(), error_event(request.state.request_id)),
        request.app.state.settings.ping_interval,
        cleanup=generation.close,
    )


async def count_tokens(request: Request) -> Response:
    body = await read_model(request, CountTokensRequest)
    workspace_id = request.state.principal.workspace_id
    return json_response(await _service(request).count_tokens(body, workspace_id))
