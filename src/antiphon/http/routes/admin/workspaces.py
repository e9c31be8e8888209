"""`/v1/organizations/me` and `/v1/organizations/workspaces…` (spend limits included)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.body import read_model
from antiphon.http.query import boolean, page_request
from antiphon.http.responses import json_response
from antiphon.http.routes.admin.views import list_page, platform
from antiphon.ids import utc_now
from antiphon.protocol.admin import (
    OrganizationInfo,
    SpendLimitUpdate,
    WorkspaceCreate,
    WorkspaceUpdate,
)
from antiphon.services.workspaces import spend_limit_object, workspace_object


async def organization_me(request: Request) -> Response:
    organization = await platform(request).workspaces.organization()
    return json_response(OrganizationInfo(id=organization.id, name=organization.name))


async def list_workspaces(request: Request) -> Response:
    params = request.query_params
    page = await platform(request).workspaces.list(
        page_request(params), boolean(params, "include_archived", False),
        boolean(params, "include_default", False),
    )
    return json_response(list_page([workspace_object(w) for w in page.rows], page.has_more))


async def create_workspace(request: Request) -> Response:
    body = await read_model(request, WorkspaceCreate)
    workspace = await platform(request).workspaces.create(body.name, body.display_color, body.tags)
    return json_response(workspace_object(workspace))


async def get_workspace(request: Request) -> Response:
    workspace = await platform(request).workspaces.get(request.path_params["workspace_id"])
    return json_response(workspace_object(workspace))


async def update_workspace(request: Request) -> Response:
    body = await read_model(request, WorkspaceUpdate)
    workspace = await platform(request).workspaces.update(
        request.path_params["workspace_id"], body.name, body.display_color, body.tags
    )
    return json_response(workspace_object(workspace))


async def archive_workspace(request: Request) -> Response:
    services = platform(request)
    workspace = await services.workspaces.archive(request.path_params["workspace_id"])
    services.keys.forget()  # its keys were archived with it
    return json_response(workspace_object(workspace))


async def get_spend_limit(request: Request) -> Response:
    services = platform(request)
    workspace = await services.workspaces.get(request.path_params["workspace_id"])
    spent = await services.spend.month_to_date_cents(workspace.id, utc_now())
    return json_response(spend_limit_object(workspace, spent))


async def set_spend_limit(request: Request) -> Response:
    body = await read_model(request, SpendLimitUpdate)
    services = platform(request)
    cents = None if body.amount is None else int(body.amount)
    workspace = await services.workspaces.set_spend_limit(request.path_params["workspace_id"], cents)
    services.policy.invalidate()
    spent = await services.spend.month_to_date_cents(workspace.id, utc_now())
    return json_response(spend_limit_object(workspace, spent))
