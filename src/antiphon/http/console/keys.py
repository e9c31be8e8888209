"""The Console's API keys: list (paged, with each key's last use), create (the secret shown
once), open one key to rename, disable, enable or archive it.

Through the same services as `/v1/organizations/api_keys`, with the same validation (the
Admin API's request models), so a key made here is the key the API would have made. A member
limited to some workspaces sees and changes only those workspaces' keys: another
workspace's key is "not found", as the API says of objects out of a caller's reach.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest, NotFound, PermissionDenied
from antiphon.http.console.pages import render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.routes.admin.views import platform
from antiphon.ids import utc_now
from antiphon.protocol.admin import ApiKeyCreate, ApiKeyUpdate
from antiphon.services.keys import effective_status
from antiphon.store.pages import PageRequest
from antiphon.store.tables import ApiKey, Workspace

SHOWN = 100  # rows per page of a Console list
_ACTIONS = {"disable": "inactive", "enable": "active", "archive": "archived"}


def first_error(error: ValidationError) -> InvalidRequest:
    detail = error.errors()[0]
    field = ".".join(str(part) for part in detail["loc"]) or "form"
    return InvalidRequest(f"{field}: {detail['msg']}")


async def usable_workspaces(request: Request, visit: Visit) -> list[Workspace]:
    """The workspaces this member may work in, archived ones included (for names)."""
    workspaces = (await platform(request).workspaces.list(PageRequest(1000), True, True)).rows
    return [workspace for workspace in workspaces if visit.may_use(workspace.id)]


def _minute_time(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


async def _listing(request: Request, visit: Visit, status_code: int = 200, **extra: object) -> Response:
    services = platform(request)
    after = request.query_params.get("after") or None
    keys = await services.keys.list(PageRequest(SHOWN, after_id=after), None, None, visit.user.workspace_ids)
    workspaces = await usable_workspaces(request, visit)
    names = {w.id: w.name for w in workspaces}
    last_used = await services.usage.last_used([key.id for key in keys.rows])
    now = utc_now()
    rows = [{"key": key, "status": effective_status(key, now), "workspace": names.get(key.workspace_id or "", "—"),
             "last_used": _minute_time(last_used[key.id]) if key.id in last_used else None}
            for key in keys.rows]
    active = [w for w in workspaces if w.archived_at is None]
    next_page = f"/console/keys?after={keys.rows[-1].id}" if keys.has_more else None
    return render(request, "keys.html", visit, status_code, rows=rows, workspaces=active,
                  next_page=next_page, **extra)


async def _key_of_visit(request: Request, visit: Visit) -> ApiKey:
    key_id = request.path_params["key_id"]
    key = await platform(request).keys.get(key_id)
    if key.kind != "api" or not visit.may_use(key.workspace_id):
        raise NotFound(f"api_key_id: no API key with id {key_id!r}")
    return key


@page(CAN_MANAGE_KEYS)
async def list_keys(request: Request, visit: Visit) -> Response:
    return await _listing(request, visit)


@page(CAN_MANAGE_KEYS)
async def create_key(request: Request, visit: Visit) -> Response:
    """Create the key and show its secret, once: nothing stores it."""
    try:
        body = ApiKeyCreate.model_validate({"name": visit.form.get("name", "").strip(),
                                            "workspace_id": visit.form.get("workspace_id") or None})
    except ValidationError as error:
        return await _listing(request, visit, 400, error=first_error(error).message)
    services = platform(request)
    workspace = await (services.workspaces.active(body.workspace_id) if body.workspace_id
                       else services.workspaces.default())
    if not visit.may_use(workspace.id):
        raise PermissionDenied(f"workspace_id: you do not work in workspace {workspace.id!r}")
    key, secret = await services.keys.register("api", body.name, workspace.id)
    return render(request, "key_created.html", visit, 201, key=key, secret=secret, workspace=workspace)


@page(CAN_MANAGE_KEYS)
async def show_key(request: Request, visit: Visit) -> Response:
    key = await _key_of_visit(request, visit)
    workspace = await platform(request).workspaces.get(key.workspace_id) if key.workspace_id else None
    last_used = await platform(request).usage.last_used([key.id])
    return render(request, "key.html", visit, key=key, workspace=workspace,
                  status=effective_status(key, utc_now()),
                  last_used=_minute_time(last_used[key.id]) if key.id in last_used else None)


@page(CAN_MANAGE_KEYS)
async def change_key(request: Request, visit: Visit) -> Response:
    """Rename, disable, enable or archive a key (the form's `action`); a disabled key is
    refused by the API within its key cache's lifetime, as after the Admin API's update."""
    key = await _key_of_visit(request, visit)
    action = visit.form.get("action", "")
    if action == "rename":
        try:
            body = ApiKeyUpdate.model_validate({"name": visit.form.get("name", "").strip()})
        except ValidationError as error:
            raise first_error(error) from None
        await platform(request).keys.update(key.id, body.name, None)
        return see_other(f"/console/keys/{key.id}")
    status = _ACTIONS.get(action)
    if status is None:
        raise InvalidRequest("action: must be rename, disable, enable or archive")
    await platform(request).keys.update(key.id, None, status)  # type: ignore[arg-type]
    return see_other("/console/keys")
