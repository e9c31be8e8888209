"""The Console's Message Batches: a workspace's batches, newest first and paged as the API
pages them; an ended batch's results (the bytes `GET /v1/messages/batches/{id}/results`
serves, from the same service call); cancel for one still running.

Each call names the workspace the member picked and may use (listing.py), as the API names
the key's workspace, so a batch of another workspace is "not found" here as it is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from antiphon.http.console.listing import page_links, pick_workspace, usable_workspace
from antiphon.http.console.pages import PAGE_HEADERS, render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.query import page_request
from antiphon.protocol.batches import RequestCounts
from antiphon.services.batches import BatchService, batch_object
from antiphon.store.tables import MessageBatchRow


@dataclass(frozen=True)
class BatchView:
    """One row of the list: the API's view of the batch, and its progress."""

    id: str
    status: str
    counts: RequestCounts
    total: int
    answered: int  # requests with a result so far (the API's counts move only at the end)
    created_at: datetime
    ended_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.status == "ended"


def _service(request: Request) -> BatchService:
    service: BatchService = request.app.state.batches
    return service


async def _view(request: Request, service: BatchService, row: MessageBatchRow) -> BatchView:
    shown = batch_object(row, request.app.state.public_url.base(request))
    return BatchView(row.id, shown.processing_status, shown.request_counts, row.request_total,
                     await service.answered(row), row.created_at, row.ended_at)


@page(CAN_MANAGE_KEYS)
async def list_batches(request: Request, visit: Visit) -> Response:
    choice = await pick_workspace(request, visit)
    if choice.picked is None:
        return render(request, "batches.html", visit, choice=choice, rows=[], links=None)
    asked = page_request(request.query_params)
    service = _service(request)
    listed = await service.list(choice.picked.id, asked)
    rows = [await _view(request, service, row) for row in listed.rows]
    links = page_links(choice.picked.id, asked, listed.has_more, [row.id for row in rows])
    return render(request, "batches.html", visit, choice=choice, rows=rows, links=links)


@page(CAN_MANAGE_KEYS)
async def batch_results(request: Request, visit: Visit) -> Response:
    """The results file, as the API streams it; a batch still running is a 409, as there."""
    workspace = await usable_workspace(request, visit, request.query_params.get("workspace"))
    batch_id = request.path_params["batch_id"]
    chunks = await _service(request).results(workspace.id, batch_id)
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{batch_id}_results.jsonl"'}
    return StreamingResponse(chunks, media_type="application/x-jsonl", headers=headers)


@page(CAN_MANAGE_KEYS)
async def cancel_batch(request: Request, visit: Visit) -> Response:
    """Cancel, as `POST /v1/messages/batches/{id}/cancel` does: requests not yet run end as
    canceled; the batch ends once those running now have finished."""
    workspace = await usable_workspace(request, visit, visit.form.get("workspace"))
    await _service(request).cancel(workspace.id, request.path_params["batch_id"])
    return see_other("/console/batches?" + urlencode({"workspace": workspace.id}))
