"""The organisation and its workspaces."""

from __future__ import annotations

import secrets
import uuid

from antiphon.errors import InternalError, InvalidRequest, NotFound
from antiphon.ids import new_id, rfc3339, utc_now
from antiphon.protocol.admin import SpendLimitObject, SpendLimitScope, WorkspaceObject
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import Organization, Workspace
from antiphon.store.workspaces import WorkspaceStore

DEFAULT_WORKSPACE_NAME = "Default"
_COLORS = ("#6C5BB9", "#D97757", "#3E7D5B", "#2F6FB3", "#B3412F", "#8A6D1F", "#5B8AB9")



def workspace_object(workspace: Workspace) -> WorkspaceObject:
    return WorkspaceObject(
        id=workspace.id, name=workspace.name, display_color=workspace.display_color,
        tags=dict(workspace.tags), created_at=rfc3339(workspace.created_at),
        archived_at=rfc3339(workspace.archived_at) if workspace.archived_at else None,
    )


def spend_limit_object(workspace: Workspace, spent_cents: float) -> SpendLimitObject:
    cents = workspace.spend_limit_cents
    return SpendLimitObject(
        id=f"spndlmt_{workspace.id}", amount=None if cents is None else str(cents),
        scope=SpendLimitScope(workspace_id=workspace.id), spent=f"{spent_cents:.4f}",
    )

class WorkspaceService:
    def __init__(self, store: WorkspaceStore) -> None:
        self._store = store

    async def ensure_organization(self, name: str) -> Organization:
        """The organisation row, created on first start (its id then never changes)."""
        organization = await self._store.organization()
        if organization is None:
            organization = Organization(id=str(uuid.uuid4()), name=name, created_at=utc_now())
            await self._store.add_organization(organization)
        return organization

    async def organization(self) -> Organization:
        organization = await self._store.organization()
        if organization is None:  # bootstrap creates it before the server starts
            raise InternalError("the organisation has not been created")
        return organization

    async def default(self) -> Workspace:
        default = await self._store.default()
        if default is None:
            raise InternalError("the default workspace has not been created")
        return default

    async def ensure_default(self) -> Workspace:
        default = await self._store.default()
        if default is None:
            default = self._new(DEFAULT_WORKSPACE_NAME, None, {}, is_default=True)
            await self._store.add(default)
        return default

    def _new(self, name: str, color: str | None, tags: dict[str, str], is_default: bool = False) -> Workspace:
        return Workspace(
            id=new_id("wrkspc"), name=name, display_color=color or secrets.choice(_COLORS),
            tags=tags, is_default=is_default, created_at=utc_now(), archived_at=None,
            spend_limit_cents=None,
        )

    async def create(self, name: str, color: str | None, tags: dict[str, str] | None) -> Workspace:
        workspace = self._new(name, color, tags or {})
        await self._store.add(workspace)
        return workspace

    async def get(self, workspace_id: str) -> Workspace:
        workspace = await self._store.get(workspace_id)
        if workspace is None:
            raise NotFound(f"workspace_id: no workspace with id {workspace_id!r}")
        return workspace

    async def active(self, workspace_id: str) -> Workspace:
        """The workspace, refusing an archived one (it takes no new keys or limits)."""
        workspace = await self.get(workspace_id)
        if workspace.archived_at is not None:
            raise InvalidRequest(f"workspace_id: workspace {workspace_id!r} is archived")
        return workspace

    async def list(self, page: PageRequest, include_archived: bool, include_default: bool) -> Page[Workspace]:
        return await self._store.list(page, include_archived, include_default)

    async def update(
        self, workspace_id: str, name: str | None, color: str | None, tags: dict[str, str | None] | None
    ) -> Workspace:
        workspace = await self.active(workspace_id)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if color is not None:
            changes["display_color"] = color
        if tags is not None:
            merged = {**workspace.tags, **tags}
            changes["tags"] = {key: value for key, value in merged.items() if value is not None}
        updated = await self._store.update(workspace_id, changes) if changes else workspace
        assert updated is not None  # it existed a moment ago and workspaces are never deleted
        return updated

    async def set_spend_limit(self, workspace_id: str, cents: int | None) -> Workspace:
        await self.active(workspace_id)
        updated = await self._store.update(workspace_id, {"spend_limit_cents": cents})
        assert updated is not None
        return updated

    async def archive(self, workspace_id: str) -> Workspace:
        workspace = await self.get(workspace_id)
        if workspace.is_default:
            raise InvalidRequest("the default workspace cannot be archived")
        archived = await self._store.archive(workspace_id, utc_now())
        assert archived is not None
        return archived
