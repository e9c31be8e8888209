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
from antiphon.services.messages import MessagesService
from antiphon.services.threads import ThreadService


def _service(request: Request) -> MessagesService:
    return request.app.state.messages


async def create_message(request: Request) -> Response:
    request.app.state.registry.refuse_when_all_busy()  # a burst's excess: before any parsing
    body = await read_model(request, MessagesRequest)
    service = _service(request)
    threads: ThreadService = request.app.state.threads
    meter = request_meter(request)
    turn = await threads.begin(body, request.state.principal.workspace_id)
    try:
        generation = await service.start(turn.request if turn else body, meter,
                                          request.state.principal.workspace_id)
    except BaseException:
        await threads.abandon(turn)
        raise
    finally:
        publish_limits(request, meter)
    if not body.stream:
        try:
            message = await unless_disconnected(request, service.create(generation))
        except BaseException:
            await threads.abandon(turn)
            raise
        finally:
            await generation.close()
        if turn is not None:
            await threads.finish(turn, message)
        return json_response(message)

    async def encoded() -> AsyncIterator[bytes]:
        # message_start goes out before the first ping could: a queued request gets it (without
        # its cache usage, which message_delta then carries) after half the ping interval.
        start_within = request.app.state.settings.ping_interval / 2
        try:
            async for event in service.events(generation, start_within=start_within):
                if isinstance(event, MessageStop) and turn is not None:
                    assert generation.reply is not None  # stored before the client hears the end
                    await threads.finish(turn, generation.reply)
                yield encode_model(event)
        except BaseException:
            if generation.reply is None:
                await threads.abandon(turn)
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
