"""Workspace members: a user's role in a workspace, one row per (workspace, user)."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from antiphon.errors import AlreadyMember
from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import WorkspaceMemberRow

# fetch_page pages by (created_at, id); a member's id in the API's cursors is its user id.
_PAGED_AS = SimpleNamespace(created_at=WorkspaceMemberRow.created_at, id=WorkspaceMemberRow.user_id)


class WorkspaceMemberStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, member: WorkspaceMemberRow) -> None:
        """Raises AlreadyMember when the user is a member of the workspace already."""
        try:
            async with self._db.transaction() as session:
                session.add(member)
        except IntegrityError:
            raise AlreadyMember(f"user_id: {member.user_id!r} is already a member of workspace "
                                f"{member.workspace_id!r}") from None

    async def get(self, workspace_id: str, user_id: str) -> WorkspaceMemberRow | None:
        async with self._db.transaction() as session:
            return await session.get(WorkspaceMemberRow, (workspace_id, user_id))

    async def list(self, workspace_id: str, page: PageRequest) -> Page[WorkspaceMemberRow]:
        query = select(WorkspaceMemberRow).where(WorkspaceMemberRow.workspace_id == workspace_id)
        async with self._db.transaction() as session:
            return await fetch_page(session, _PAGED_AS, query, page)

    async def workspaces_of(self, user_id: str) -> tuple[str, ...]:
        query = select(WorkspaceMemberRow.workspace_id).where(WorkspaceMemberRow.user_id == user_id)
        async with self._db.transaction() as session:
            return tuple((await session.scalars(query)).all())

    async def set_role(self, workspace_id: str, user_id: str, role: str) -> WorkspaceMemberRow | None:
        async with self._db.transaction() as session:
            member = await session.get(WorkspaceMemberRow, (workspace_id, user_id))
            if member is not None:
                member.workspace_role = role
            return member

    async def remove(self, workspace_id: str, user_id: str) -> bool:
        query = delete(WorkspaceMemberRow).where(
            WorkspaceMemberRow.workspace_id == workspace_id, WorkspaceMemberRow.user_id == user_id)
        async with self._db.transaction() as session:
            return bool((await session.execute(query)).rowcount)  # type: ignore[attr-defined]
