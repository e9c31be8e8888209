"""The Console's Files: a workspace's files, newest first and paged as the API pages them;
download (the bytes `GET /v1/files/{id}/content` serves, from the same service call, so it
is refused exactly when the API refuses it) and delete.

Each call names the workspace the member picked and may use (listing.py), as the API names
the key's workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from antiphon.http.console.listing import page_links, pick_workspace, usable_workspace
from antiphon.http.console.pages import PAGE_HEADERS, render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.query import page_request
from antiphon.ids import utc_now
from antiphon.services.files import FilesService
from antiphon.store.tables import StoredFile

_UNITS = ("bytes", "KB", "MB", "GB", "TB")


def size_text(size: int) -> str:
    """Bytes as people read them (1 KB = 1,024 bytes, as file managers count)."""
    amount, unit = float(size), 0
    while amount >= 1024 and unit < len(_UNITS) - 1:
        amount, unit = amount / 1024, unit + 1
    return f"{size:,} bytes" if unit == 0 else f"{amount:.1f} {_UNITS[unit]}"


@dataclass(frozen=True)
class FileView:
    id: str
    filename: str
    mime_type: str
    size_bytes: int
    size: str
    created_at: datetime
    downloadable: bool  # the file's flag, as the API lists it
    expired: bool  # past its expiry: the API no longer serves its content

    @property
    def can_download(self) -> bool:
        return self.downloadable and not self.expired


def _view(stored: StoredFile, now: datetime) -> FileView:
    expired = stored.expires_at is not None and stored.expires_at <= now
    return FileView(stored.id, stored.filename, stored.mime_type, stored.size_bytes,
                    size_text(stored.size_bytes), stored.created_at, stored.downloadable, expired)


def _service(request: Request) -> FilesService:
    service: FilesService = request.app.state.files
    return service


@page(CAN_MANAGE_KEYS)
async def list_files(request: Request, visit: Visit) -> Response:
    choice = await pick_workspace(request, visit)
    if choice.picked is None:
        return render(request, "files.html", visit, choice=choice, rows=[], links=None)
    asked = page_request(request.query_params)
    listed = await _service(request).list(choice.picked.id, asked)
    now = utc_now()
    rows = [_view(stored, now) for stored in listed.rows]
    links = page_links(choice.picked.id, asked, listed.has_more, [row.id for row in rows])
    return render(request, "files.html", visit, choice=choice, rows=rows, links=links)


@page(CAN_MANAGE_KEYS)
async def download_file(request: Request, visit: Visit) -> Response:
    workspace = await usable_workspace(request, visit, request.query_params.get("workspace"))
    stored, chunks = await _service(request).content(workspace.id, request.path_params["file_id"])
    headers = {**PAGE_HEADERS, "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.filename)}",
               "Content-Length": str(stored.size_bytes)}
    return StreamingResponse(chunks, media_type=stored.mime_type, headers=headers)


@page(CAN_MANAGE_KEYS)
async def delete_file(request: Request, visit: Visit) -> Response:
    workspace = await usable_workspace(request, visit, visit.form.get("workspace"))
    await _service(request).delete(workspace.id, request.path_params["file_id"])
    return see_other("/console/files?" + urlencode({"workspace": workspace.id}))
