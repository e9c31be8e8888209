"""`/v1/skills…`: skills and their versions, uploaded as a folder of multipart files (or one
zip of it), scoped to the key's workspace."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest, RequestTooLarge
from antiphon.http.auth import workspace_of
from antiphon.http.multipart import PartInfo, PartSink, read_multipart
from antiphon.http.query import next_page, page_request
from antiphon.http.responses import json_response
from antiphon.protocol.skills import (
    DeletedSkill,
    DeletedSkillVersion,
    SkillPage,
)
from antiphon.services.skill_bundle import MAX_TOTAL_BYTES, SkillBundle, from_parts
from antiphon.services.skills import SkillsService, skill_object, version_object

FILE_FIELDS = frozenset({"files[]", "files"})


def _service(request: Request) -> SkillsService:
    return request.app.state.skills


class _Collected:
    """Uploaded skill files, held in memory: a skill is bounded to a few megabytes."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, bytearray]] = []
        self.total = 0

    async def open(self, part: PartInfo) -> PartSink:
        if part.name not in FILE_FIELDS:
            raise InvalidRequest(f"unexpected file part `{part.name}`: send the skill's files as `files[]`")
        buffer = bytearray()
        self.parts.append((part.filename or "", buffer))
        collected = self

        class Sink:
            async def write(self, data: bytes) -> None:
                collected.total += len(data)
                if collected.total > MAX_TOTAL_BYTES:
                    raise RequestTooLarge(f"files: a skill may hold at most {MAX_TOTAL_BYTES // (1024 * 1024)} MB")
                buffer.extend(data)

        return Sink()


async def _bundle(request: Request) -> tuple[SkillBundle, dict[str, list[str]]]:
    collected = _Collected()
    fields = await read_multipart(request, collected.open, FILE_FIELDS)
    return from_parts([(name, bytes(data)) for name, data in collected.parts]), fields


async def create_skill(request: Request) -> Response:
    workspace_id = workspace_of(request)
    bundle, fields = await _bundle(request)
    titles = fields.get("display_title") or fields.get("display_name")
    skill, _ = await _service(request).create(workspace_id, bundle, titles[-1] if titles else None)
    return json_response(skill_object(skill))


async def list_skills(request: Request) -> Response:
    source = request.query_params.get("source")
    if source is not None and source not in ("custom", "anthropic"):
        raise InvalidRequest(f"source: must be custom or anthropic, got {source!r}")
    page = await _service(request).list(workspace_of(request), page_request(request.query_params))
    rows = page.rows if source != "anthropic" else []  # this server publishes no skills
    objects = [skill_object(skill) for skill in rows]
    last = objects[-1].id if objects else None
    return json_response(SkillPage(data=objects, has_more=page.has_more and bool(rows), next_page=next_page(page.has_more, last)))


async def get_skill(request: Request) -> Response:
    skill = await _service(request).get(workspace_of(request), request.path_params["skill_id"])
    return json_response(skill_object(skill))


async def delete_skill(request: Request) -> Response:
    skill_id = request.path_params["skill_id"]
    await _service(request).delete(workspace_of(request), skill_id)
    return json_response(DeletedSkill(id=skill_id))


async def create_version(request: Request) -> Response:
    workspace_id = workspace_of(request)
    service = _service(request)
    await service.get(workspace_id, request.path_params["skill_id"])  # 404 before reading the upload
    bundle, _ = await _bundle(request)
    version = await service.add_version(workspace_id, request.path_params["skill_id"], bundle)
    return json_response(version_object(version))


async def list_versions(request: Request) -> Response:
    page = await _service(request).versions(workspace_of(request), request.path_params["skill_id"], page_request(request.query_params))
    objects = [version_object(version) for version in page.rows]
    last = objects[-1].id if objects else None
    return json_response(SkillPage(data=objects, has_more=page.has_more, next_page=next_page(page.has_more, last)))


async def get_version(request: Request) -> Response:
    params = request.path_params
    version = await _service(request).version(workspace_of(request), params["skill_id"], params["version"])
    return json_response(version_object(version))


async def delete_version(request: Request) -> Response:
    params = request.path_params
    await _service(request).delete_version(workspace_of(request), params["skill_id"], params["version"])
    return json_response(DeletedSkillVersion(id=params["version"]))


async def version_content(request: Request) -> Response:
    params = request.path_params
    version, data = await _service(request).content(workspace_of(request), params["skill_id"], params["version"])
    filename = quote(f"{version.name}-{version.id}.zip")
    return Response(data, media_type="application/zip", headers={
        "content-disposition": f"attachment; filename*=UTF-8''{filename}"})
