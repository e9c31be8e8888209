"""The Console's workspaces: list, and for admins create, rename and archive (which archives
their keys, as through `/v1/organizations/workspaces/{id}/archive`). A member limited to
some workspaces sees only those."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.console.keys import first_error, usable_workspaces
from antiphon.http.console.pages import render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.routes.admin.views import platform
from antiphon.protocol.admin import WorkspaceCreate, WorkspaceUpdate

ADMINS = ("admin",)


async def _listing(request: Request, visit: Visit, status_code: int = 200, **extra: object) -> Response:
    workspaces = await usable_workspaces(request, visit)
    return render(request, "workspaces.html", visit, status_code, workspaces=workspaces,
                  can_change=visit.user.role in ADMINS, **extra)


@page(CAN_MANAGE_KEYS)
async def list_workspaces(request: Request, visit: Visit) -> Response:
    return await _listing(request, visit)


@page(ADMINS)
async def create_workspace(request: Request, visit: Visit) -> Response:
    try:
        body = WorkspaceCreate.model_validate({"name": visit.form.get("name", "").strip()})
    except ValidationError as error:
        return await _listing(request, visit, 400, error=first_error(error).message)
    await platform(request).workspaces.create(body.name, body.display_color, body.tags)
    return see_other("/console/workspaces")


@page(ADMINS)
async def rename_workspace(request: Request, visit: Visit) -> Response:
    try:
        body = WorkspaceUpdate.model_validate({"name": visit.form.get("name", "").strip()})
    except ValidationError as error:
        return await _listing(request, visit, 400, error=first_error(error).message)
    await platform(request).workspaces.update(request.path_params["workspace_id"], body.name, None, None)
    return see_other("/console/workspaces")


@page(ADMINS)
async def archive_workspace(request: Request, visit: Visit) -> Response:
    services = platform(request)
    await services.workspaces.archive(request.path_params["workspace_id"])
    services.keys.forget()  # its keys were archived with it
    return see_other("/console/workspaces")
