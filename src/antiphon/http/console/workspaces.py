"""The Console's workspaces: list, create, archive (which archives their keys, as through
`/v1/organizations/workspaces/{id}/archive`)."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.console.keys import SHOWN, first_error
from antiphon.http.console.pages import render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.routes.admin.views import platform
from antiphon.protocol.admin import WorkspaceCreate
from antiphon.store.pages import PageRequest


async def _listing(request: Request, visit: Visit, status_code: int = 200, **extra: object) -> Response:
    workspaces = (await platform(request).workspaces.list(PageRequest(SHOWN), True, True)).rows
    return render(request, "workspaces.html", visit, status_code, workspaces=workspaces, **extra)


@page(CAN_MANAGE_KEYS)
async def list_workspaces(request: Request, visit: Visit) -> Response:
    return await _listing(request, visit)


@page(CAN_MANAGE_KEYS)
async def create_workspace(request: Request, visit: Visit) -> Response:
    try:
        body = WorkspaceCreate.model_validate({"name": visit.form.get("name", "").strip()})
    except ValidationError as error:
        return await _listing(request, visit, 400, error=first_error(error).message)
    await platform(request).workspaces.create(body.name, body.display_color, body.tags)
    return see_other("/console/workspaces")


@page(CAN_MANAGE_KEYS)
async def archive_workspace(request: Request, visit: Visit) -> Response:
    services = platform(request)
    await services.workspaces.archive(request.path_params["workspace_id"])
    services.keys.forget()  # its keys were archived with it
    return see_other("/console/workspaces")
