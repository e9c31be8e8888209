"""`/v1/organizations/api_keys…`: create (the secret is in this response only), list, get,
update."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest
from antiphon.http.body import read_model
from antiphon.http.query import page_request
from antiphon.http.responses import json_response
from antiphon.http.routes.admin.views import list_page, platform
from antiphon.ids import utc_now
from antiphon.protocol.admin import ApiKeyCreate, ApiKeyUpdate, CreatedApiKey
from antiphon.services.keys import api_key_object

_STATUSES = ("active", "inactive", "archived", "expired")


async def create_api_key(request: Request) -> Response:
    body = await read_model(request, ApiKeyCreate)
    services = platform(request)
    if body.expires_at is not None:
        if body.expires_at.tzinfo is None:
            raise InvalidRequest("expires_at: must include a time zone (RFC 3339)")
        if body.expires_at <= utc_now():
            raise InvalidRequest("expires_at: must be in the future")
    if body.workspace_id is None:
        workspace = await services.workspaces.default()
    else:
        workspace = await services.workspaces.active(body.workspace_id)
    key, secret = await services.keys.register("api", body.name, workspace.id, expires_at=body.expires_at)
    return json_response(CreatedApiKey(**api_key_object(key).model_dump(), key=secret))


async def list_api_keys(request: Request) -> Response:
    params = request.query_params
    status = params.get("status")
    if status is not None and status not in _STATUSES:
        raise InvalidRequest(f"status: must be one of {', '.join(_STATUSES)}, got {status!r}")
    services = platform(request)
    workspace_id = params.get("workspace_id")
    if workspace_id is not None:
        await services.workspaces.get(workspace_id)  # an unknown workspace is a 404
    page = await services.keys.list(page_request(params), workspace_id, status)  # type: ignore[arg-type]
    return json_response(list_page([api_key_object(k) for k in page.rows], page.has_more))


async def get_api_key(request: Request) -> Response:
    key = await platform(request).keys.get(request.path_params["api_key_id"])
    return json_response(api_key_object(key))


async def update_api_key(request: Request) -> Response:
    body = await read_model(request, ApiKeyUpdate)
    key = await platform(request).keys.update(request.path_params["api_key_id"], body.name, body.status)
    return json_response(api_key_object(key))
