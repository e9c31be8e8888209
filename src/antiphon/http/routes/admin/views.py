"""Stored rows → Admin API objects."""

from __future__ import annotations

from starlette.requests import Request

from antiphon.ids import rfc3339, utc_now
from antiphon.protocol.admin import ApiKeyObject, ListPage, WorkspaceObject, WorkspaceScope
from antiphon.services.keys import effective_status
from antiphon.services.platform import Platform
from antiphon.store.pages import Page
from antiphon.store.tables import ApiKey, Workspace


def platform(request: Request) -> Platform:
    return request.app.state.platform


def workspace_object(workspace: Workspace) -> WorkspaceObject:
    return WorkspaceObject(
        id=workspace.id, name=workspace.name, display_color=workspace.display_color,
        tags=dict(workspace.tags), created_at=rfc3339(workspace.created_at),
        archived_at=rfc3339(workspace.archived_at) if workspace.archived_at else None,
    )


def api_key_object(key: ApiKey) -> ApiKeyObject:
    return ApiKeyObject(
        id=key.id, name=key.name, status=effective_status(key, utc_now()),
        workspace_id=key.workspace_id,
        scope=WorkspaceScope(workspace_id=key.workspace_id) if key.workspace_id else None,
        created_at=rfc3339(key.created_at),
        expires_at=rfc3339(key.expires_at) if key.expires_at else None,
        partial_key_hint=key.partial_key_hint,
    )


def list_page(page: Page[Workspace] | Page[ApiKey], objects: list[WorkspaceObject] | list[ApiKeyObject]) -> ListPage:
    return ListPage(
        data=objects, has_more=page.has_more,
        first_id=objects[0].id if objects else None, last_id=objects[-1].id if objects else None,
    )
