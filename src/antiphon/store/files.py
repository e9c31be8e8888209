"""Uploaded files' metadata, always read through the owning workspace: another workspace's
file is as absent as an unknown one."""

from __future__ import annotations

from sqlalchemy import delete, select

from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import StoredFile


class FileStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, stored: StoredFile) -> None:
        async with self._db.transaction() as session:
            session.add(stored)

    async def get(self, workspace_id: str, file_id: str) -> StoredFile | None:
        async with self._db.transaction() as session:
            found = await session.get(StoredFile, file_id)
            return found if found is not None and found.workspace_id == workspace_id else None

    async def list(self, workspace_id: str, page: PageRequest) -> Page[StoredFile]:
        query = select(StoredFile).where(StoredFile.workspace_id == workspace_id)
        async with self._db.transaction() as session:
            return await fetch_page(session, StoredFile, query, page)

    async def delete(self, workspace_id: str, file_id: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(StoredFile).where(StoredFile.id == file_id, StoredFile.workspace_id == workspace_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
