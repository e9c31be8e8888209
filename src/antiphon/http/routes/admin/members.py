"""`/v1/organizations/users…` and `/v1/organizations/invites…`: the organisation's members.

Lists take the SDK's `limit` / `before_id` / `after_id`, an `email` filter and repeatable
`roles[]` (invites also `statuses[]`); deletes answer `user_deleted` / `invite_deleted`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest
from antiphon.http.body import read_model
from antiphon.http.query import listed, page_request
from antiphon.http.responses import json_response
from antiphon.http.routes.admin.views import list_page, platform
from antiphon.ids import utc_now
from antiphon.protocol.members import (
    CreatedInvite,
    InviteCreate,
    InviteDeleted,
    UserDeleted,
    UserUpdate,
)
from antiphon.services.members import invite_object, user_object


async def list_users(request: Request) -> Response:
    params = request.query_params
    page = await platform(request).members.list_users(
        page_request(params), params.get("email"), listed(params, "roles"))
    return json_response(list_page([user_object(user) for user in page.rows], page.has_more))


async def get_user(request: Request) -> Response:
    user = await platform(request).members.get_user(request.path_params["user_id"])
    return json_response(user_object(user))


async def update_user(request: Request) -> Response:
    body = await read_model(request, UserUpdate)
    user = await platform(request).members.set_role(request.path_params["user_id"], body.role)
    return json_response(user_object(user))


async def remove_user(request: Request) -> Response:
    user = await platform(request).members.remove_user(request.path_params["user_id"])
    return json_response(UserDeleted(id=user.id))


async def create_invite(request: Request) -> Response:
    body = await read_model(request, InviteCreate)
    if body.rbac_group_ids:
        raise InvalidRequest("rbac_group_ids: this server has no RBAC groups; send [] or leave it out")
    invite, token = await platform(request).members.create_invite(body.email, body.role)
    return json_response(CreatedInvite(**invite_object(invite, utc_now()).model_dump(), token=token))


async def list_invites(request: Request) -> Response:
    params = request.query_params
    page = await platform(request).members.list_invites(
        page_request(params), params.get("email"), listed(params, "roles"), listed(params, "statuses"))
    now = utc_now()
    return json_response(list_page([invite_object(invite, now) for invite in page.rows], page.has_more))


async def get_invite(request: Request) -> Response:
    invite = await platform(request).members.get_invite(request.path_params["invite_id"])
    return json_response(invite_object(invite, utc_now()))


async def delete_invite(request: Request) -> Response:
    invite_id = request.path_params["invite_id"]
    await platform(request).members.delete_invite(invite_id)
    return json_response(InviteDeleted(id=invite_id))
