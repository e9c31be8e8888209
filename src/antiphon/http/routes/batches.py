"""`/v1/messages/batches`: create, list, retrieve, cancel, delete, results (JSONL).

`results_url` points back at this server, so the SDKs' `results()` reads from here. While a
batch runs the API's counts all say `processing` (the hosted rule); the number of requests
answered so far is in the `antiphon-requests-answered` header, for progress bars.
"""

from __future__ import annotations

import asyncio
import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from antiphon.errors import InvalidRequest
from antiphon.http.auth import workspace_of
from antiphon.http.body import describe_validation_error
from antiphon.http.query import page_request
from antiphon.http.responses import json_response
from antiphon.protocol.batches import (
    PROGRESS_HEADER,
    BatchCreateRequest,
    DeletedMessageBatch,
    MessageBatchList,
)
from antiphon.protocol.messages import MessagesRequest
from antiphon.services.batch_worker import BatchWorker
from antiphon.services.batches import BatchEntry, BatchService, batch_object


def _service(request: Request) -> BatchService:
    return request.app.state.batches


def _base_url(request: Request) -> str:
    """Where a batch's `results_url` points (http/public_url.py)."""
    base: str = request.app.state.public_url.base(request)
    return base


def parse_batch(body: bytes) -> list[BatchEntry]:
    """The body, and each request's params against the Messages request model (CPU work on
    up to 256 MB: callers run it in a thread). An error names the request's custom_id."""
    if not body.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        batch = BatchCreateRequest.model_validate_json(body)
    except ValidationError as error:
        raise InvalidRequest(describe_validation_error(error)) from None
    entries = []
    for index, item in enumerate(batch.requests):
        params_json = json.dumps(item.params, ensure_ascii=False, separators=(",", ":"))
        try:
            # From JSON, as /v1/messages parses it, so the same rules apply.
            parsed = MessagesRequest.model_validate_json(params_json)
        except ValidationError as error:
            where = f"requests.{index} (custom_id {item.custom_id!r})"
            raise InvalidRequest(f"{where}: params.{describe_validation_error(error)}") from None
        entries.append(BatchEntry(item.custom_id, parsed, params_json))
    return entries


async def create_batch(request: Request) -> Response:
    workspace_id = workspace_of(request)
    entries = await asyncio.to_thread(parse_batch, await request.body())
    key_id = request.state.principal.key_id
    batch = await _service(request).create(workspace_id, key_id, entries)
    worker: BatchWorker = request.app.state.batch_worker
    worker.wake()
    return json_response(batch_object(batch, _base_url(request)))


async def list_batches(request: Request) -> Response:
    page = await _service(request).list(workspace_of(request), page_request(request.query_params))
    objects = [batch_object(batch, _base_url(request)) for batch in page.rows]
    first, last = (objects[0].id, objects[-1].id) if objects else (None, None)
    return json_response(MessageBatchList(data=objects, has_more=page.has_more, first_id=first, last_id=last))


async def get_batch(request: Request) -> Response:
    service = _service(request)
    batch = await service.get(workspace_of(request), request.path_params["batch_id"])
    response = json_response(batch_object(batch, _base_url(request)))
    response.headers[PROGRESS_HEADER] = str(await service.answered(batch))
    return response


async def cancel_batch(request: Request) -> Response:
    batch = await _service(request).cancel(workspace_of(request), request.path_params["batch_id"])
    return json_response(batch_object(batch, _base_url(request)))


async def delete_batch(request: Request) -> Response:
    batch_id = request.path_params["batch_id"]
    await _service(request).delete(workspace_of(request), batch_id)
    return json_response(DeletedMessageBatch(id=batch_id))


async def batch_results(request: Request) -> Response:
    chunks = await _service(request).results(workspace_of(request), request.path_params["batch_id"])
    return StreamingResponse(chunks, media_type="application/x-jsonl")
