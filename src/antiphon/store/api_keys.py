"""API and admin keys, found by the SHA-256 of their secret."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import ApiKey


async def archive_workspace_keys(session: AsyncSession, workspace_id: str) -> None:
    await session.execute(
        update(ApiKey).where(ApiKey.workspace_id == workspace_id).values(status="archived")
    )


class ApiKeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, key: ApiKey) -> None:
        async with self._db.transaction() as session:
            session.add(key)

    async def by_secret_sha256(self, digest: str) -> ApiKey | None:
        async with self._db.transaction() as session:
            return (await session.scalars(select(ApiKey).where(ApiKey.secret_sha256 == digest))).first()

    async def get(self, key_id: str, kind: str = "api") -> ApiKey | None:
        async with self._db.transaction() as session:
            key = await session.get(ApiKey, key_id)
            return key if key is not None and key.kind == kind else None

    async def any_of_kind(self, kind: str) -> bool:
        async with self._db.transaction() as session:
            return (await session.scalars(select(ApiKey.id).where(ApiKey.kind == kind).limit(1))).first() is not None

    async def list(
        self, page: PageRequest, workspace_id: str | None, statuses: tuple[str, ...] | None,
        within: frozenset[str] | None = None,
    ) -> Page[ApiKey]:
        """Keys of kind "api" (of `workspace_id`, and of the workspaces `within` when given);
        `statuses` are stored statuses (expiry is applied by the caller)."""
        query = select(ApiKey).where(ApiKey.kind == "api")
        if workspace_id is not None:
            query = query.where(ApiKey.workspace_id == workspace_id)
        if within is not None:
            query = query.where(ApiKey.workspace_id.in_(within))
        if statuses is not None:
            query = query.where(ApiKey.status.in_(statuses))
        async with self._db.transaction() as session:
            return await fetch_page(session, ApiKey, query, page)

    async def update(self, key_id: str, changes: dict[str, Any]) -> ApiKey | None:
        async with self._db.transaction() as session:
            key = await session.get(ApiKey, key_id, with_for_update=True)
            if key is None or key.kind != "api":
                return None
            for name, value in changes.items():
                setattr(key, name, value)
            return key
