"""Legacy `POST /v1/complete`, in both of its streaming dialects.

- `anthropic-version` 2023-06-01 and later: `event: completion` events, each with the new
  text only; the last carries `stop_reason`.
- 2023-01-01 (the original): unnamed `data:` events, each with the whole completion so far,
  then `data: [DONE]`. Its clients know no named events, so silence is filled with SSE
  comments rather than `ping` events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.body import read_model
from antiphon.http.disconnect import unless_disconnected
from antiphon.http.errors import error_json
from antiphon.http.metering import publish_limits, request_meter
from antiphon.http.responses import json_response
from antiphon.http.sse import COMMENT_PING, encode_event, error_event, guard_errors, sse_response
from antiphon.http.versions import LEGACY_VERSION
from antiphon.ids import completion_id
from antiphon.protocol.complete import Completion, CompletionRequest
from antiphon.services.completions import CompletionEnd, CompletionPiece, CompletionsService
from antiphon.services.generation import Generation


def _service(request: Request) -> CompletionsService:
    return request.app.state.completions


async def _collect(service: CompletionsService, generation: Generation, model: str) -> Completion:
    parts: list[str] = []
    end = CompletionEnd("max_tokens", None)
    async for item in service.pieces(generation):
        if isinstance(item, CompletionPiece):
            parts.append(item.text)
        else:
            end = item
    return Completion(
        id=completion_id(), completion="".join(parts), stop_reason=end.stop_reason,
        stop=end.stop, model=model,
    )


async def _incremental(
    service: CompletionsService, generation: Generation, model: str
) -> AsyncIterator[bytes]:
    identifier = completion_id()
    async for item in service.pieces(generation):
        if isinstance(item, CompletionPiece):
            event = Completion(id=identifier, completion=item.text, stop_reason=None, stop=None, model=model)
        else:
            event = Completion(
                id=identifier, completion="", stop_reason=item.stop_reason, stop=item.stop, model=model
            )
        yield encode_event("completion", event.model_dump_json())


async def _cumulative(
    service: CompletionsService, generation: Generation, model: str, request_id: str
) -> AsyncIterator[bytes]:
    identifier = completion_id()
    so_far = ""
    try:
        async for item in service.pieces(generation):
            stop_reason: str | None = None
            stop: str | None = None
            if isinstance(item, CompletionPiece):
                so_far += item.text
            else:
                stop_reason, stop = item.stop_reason, item.stop
            payload = {
                "id": identifier, "completion": so_far, "stop_reason": stop_reason, "stop": stop,
                "model": model, "truncated": False, "exception": None,
            }
            yield encode_event(None, json.dumps(payload))
    except Exception as error:  # noqa: BLE001 - reported in the stream, the 200 is gone
        yield encode_event(None, error_json(error, request_id))
    yield encode_event(None, "[DONE]")


async def complete(request: Request) -> Response:
    request.app.state.registry.refuse_when_all_busy()  # a burst's excess: before any parsing
    body = await read_model(request, CompletionRequest)
    service = _service(request)
    meter = request_meter(request)
    try:
        generation = await service.start(body, meter)
    finally:
        publish_limits(request, meter)
    model = generation.model.card.id
    if not body.stream:
        try:
            completion = await unless_disconnected(request, _collect(service, generation, model))
        finally:
            await generation.close()
        return json_response(completion)

    interval = request.app.state.settings.ping_interval
    request_id = request.state.request_id
    if request.state.anthropic_version == LEGACY_VERSION:
        stream = _cumulative(service, generation, model, request_id)
        return sse_response(stream, interval, cleanup=generation.close, ping=COMMENT_PING)
    stream = guard_errors(_incremental(service, generation, model), error_event(request_id))
    return sse_response(stream, interval, cleanup=generation.close)
