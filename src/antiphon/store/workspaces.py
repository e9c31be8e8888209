"""Workspaces and the organisation row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import Organization, Workspace


class WorkspaceStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def organization(self) -> Organization | None:
        async with self._db.transaction() as session:
            return (await session.scalars(select(Organization))).first()

    async def add_organization(self, organization: Organization) -> None:
        async with self._db.transaction() as session:
            session.add(organization)

    async def add(self, workspace: Workspace) -> None:
        async with self._db.transaction() as session:
            session.add(workspace)

    async def get(self, workspace_id: str) -> Workspace | None:
        async with self._db.transaction() as session:
            return await session.get(Workspace, workspace_id)

    async def default(self) -> Workspace | None:
        async with self._db.transaction() as session:
            return (await session.scalars(select(Workspace).where(Workspace.is_default))).first()

    async def list(
        self, page: PageRequest, include_archived: bool, include_default: bool
    ) -> Page[Workspace]:
        query = select(Workspace)
        if not include_archived:
            query = query.where(Workspace.archived_at.is_(None))
        if not include_default:
            query = query.where(Workspace.is_default.is_(False))
        async with self._db.transaction() as session:
            return await fetch_page(session, Workspace, query, page)

    async def spend_limits(self) -> dict[str, int]:
        """{workspace_id: monthly limit in cents} for the workspaces that have one."""
        query = select(Workspace.id, Workspace.spend_limit_cents).where(
            Workspace.spend_limit_cents.is_not(None)
        )
        async with self._db.transaction() as session:
            return {row[0]: int(row[1] or 0) for row in (await session.execute(query)).all()}

    async def update(self, workspace_id: str, changes: dict[str, Any]) -> Workspace | None:
        async with self._db.transaction() as session:
            workspace = await session.get(Workspace, workspace_id, with_for_update=True)
            if workspace is None:
                return None
            for name, value in changes.items():
                setattr(workspace, name, value)
            return workspace

    async def archive(self, workspace_id: str, now: datetime) -> Workspace | None:
        """Archive it and archive its keys with it, in one transaction."""
        from antiphon.store.api_keys import archive_workspace_keys

        async with self._db.transaction() as session:
            workspace = await session.get(Workspace, workspace_id, with_for_update=True)
            if workspace is None:
                return None
            if workspace.archived_at is None:
                workspace.archived_at = now
                await archive_workspace_keys(session, workspace_id)
            return workspace
