"""`/v1/organizations/workspaces/{workspace_id}/members…`: who works in a workspace.

Lists page by user id (`limit` / `before_id` / `after_id`); a member is added with a role
other than `workspace_billing` (the SDK's `NoBillingWorkspaceRole`) and may be given any
workspace role after.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.body import read_model
from antiphon.http.query import page_request
from antiphon.http.responses import json_response
from antiphon.http.routes.admin.views import platform
from antiphon.protocol.admin import ListPage
from antiphon.protocol.members import (
    WorkspaceMemberAdd,
    WorkspaceMemberDeleted,
    WorkspaceMemberUpdate,
)
from antiphon.services.workspace_members import WorkspaceMemberService, workspace_member_object


def _members(request: Request) -> WorkspaceMemberService:
    return platform(request).workspace_members


async def list_members(request: Request) -> Response:
    page = await _members(request).list(request.path_params["workspace_id"], page_request(request.query_params))
    data = [workspace_member_object(member) for member in page.rows]
    return json_response(ListPage(data=data, has_more=page.has_more,
                                  first_id=data[0].user_id if data else None,
                                  last_id=data[-1].user_id if data else None))


async def add_member(request: Request) -> Response:
    body = await read_model(request, WorkspaceMemberAdd)
    member = await _members(request).add(request.path_params["workspace_id"], body.user_id, body.workspace_role)
    return json_response(workspace_member_object(member))


async def get_member(request: Request) -> Response:
    member = await _members(request).get(request.path_params["workspace_id"], request.path_params["user_id"])
    return json_response(workspace_member_object(member))


async def update_member(request: Request) -> Response:
    body = await read_model(request, WorkspaceMemberUpdate)
    member = await _members(request).set_role(
        request.path_params["workspace_id"], request.path_params["user_id"], body.workspace_role)
    return json_response(workspace_member_object(member))


async def remove_member(request: Request) -> Response:
    workspace_id, user_id = request.path_params["workspace_id"], request.path_params["user_id"]
    await _members(request).remove(workspace_id, user_id)
    return json_response(WorkspaceMemberDeleted(user_id=user_id, workspace_id=workspace_id))
