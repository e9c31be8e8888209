"""`/v1/files`: upload (multipart, streamed to the blob store), list, metadata, download,
delete. The caller's workspace is the key's; another workspace's file answers 404."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from antiphon.errors import InvalidRequest, NotFound
from antiphon.http.auth import workspace_of
from antiphon.http.multipart import PartInfo, PartSink, read_multipart
from antiphon.http.query import next_page, page_request
from antiphon.http.responses import json_response
from antiphon.protocol.files import DeletedFile, FileList
from antiphon.services.files import FilesService, file_object


def _service(request: Request) -> FilesService:
    return request.app.state.files


async def upload_file(request: Request) -> Response:
    workspace_id = workspace_of(request)
    service = _service(request)
    upload = service.upload()

    async def open_file(part: PartInfo) -> PartSink:
        return await upload.open_part(part.name, part.filename)

    try:
        fields = await read_multipart(request, open_file, frozenset({"file"}))
        stored = await service.finish(workspace_id, upload, fields)
    except BaseException:
        await upload.discard()  # nothing half-stored, whatever went wrong
        raise
    return json_response(file_object(stored))


async def list_files(request: Request) -> Response:
    workspace_id = workspace_of(request)
    service = _service(request)
    ids = [*request.query_params.getlist("ids[]"), *request.query_params.getlist("ids")]
    if ids:
        if len(set(ids)) > 100:
            raise InvalidRequest("ids: at most 100")
        objects = []
        for file_id in dict.fromkeys(ids):
            try:
                objects.append(file_object(await service.get(workspace_id, file_id)))
            except NotFound:  # ids that are not visible are left out, as the hosted API does
                continue
        return json_response(FileList(data=objects, has_more=False, first_id=None, last_id=None, next_page=None))
    page = await service.list(workspace_id, page_request(request.query_params))
    objects = [file_object(stored) for stored in page.rows]
    first, last = (objects[0].id, objects[-1].id) if objects else (None, None)
    following = next_page(page.has_more, last)
    return json_response(FileList(data=objects, has_more=page.has_more, first_id=first, last_id=last, next_page=following))


async def get_file(request: Request) -> Response:
    stored = await _service(request).get(workspace_of(request), request.path_params["file_id"])
    return json_response(file_object(stored))


async def download_file(request: Request) -> Response:
    stored, chunks = await _service(request).content(workspace_of(request), request.path_params["file_id"])
    disposition = f"attachment; filename*=UTF-8''{quote(stored.filename)}"
    return StreamingResponse(chunks, media_type=stored.mime_type, headers={
        "content-disposition": disposition, "content-length": str(stored.size_bytes)})


async def delete_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    await _service(request).delete(workspace_of(request), file_id)
    return json_response(DeletedFile(id=file_id))
