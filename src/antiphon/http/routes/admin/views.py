"""Stored rows → Admin API objects, and the query parameters the list routes share."""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request

from antiphon.errors import InvalidRequest
from antiphon.ids import rfc3339, utc_now
from antiphon.protocol.admin import ApiKeyObject, ListPage, WorkspaceObject, WorkspaceScope
from antiphon.services.keys import effective_status
from antiphon.services.platform import Platform
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import ApiKey, Workspace

MAX_LIMIT = 1000


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


def integer(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: must be an integer from {low} to {high}, got {raw!r}")
    return int(raw)


def boolean(params: QueryParams, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise InvalidRequest(f"{name}: must be true or false, got {raw!r}")
    return raw.lower() == "true"


def page_request(params: QueryParams) -> PageRequest:
    before, after = params.get("before_id"), params.get("after_id")
    if before and after:
        raise InvalidRequest("give before_id or after_id, not both")
    return PageRequest(integer(params, "limit", 20, 1, MAX_LIMIT), before or None, after or None)
