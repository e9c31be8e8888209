"""What the Admin API routes share: the platform services, and list pages."""

from __future__ import annotations

from starlette.requests import Request

from antiphon.protocol.admin import ApiKeyObject, ListPage, WorkspaceObject
from antiphon.protocol.members import InviteObject, UserObject
from antiphon.services.platform import Platform


def platform(request: Request) -> Platform:
    return request.app.state.platform


def list_page(
    objects: list[WorkspaceObject] | list[ApiKeyObject] | list[UserObject] | list[InviteObject],
    has_more: bool,
) -> ListPage:
    return ListPage(
        data=objects, has_more=has_more,
        first_id=objects[0].id if objects else None, last_id=objects[-1].id if objects else None,
    )
