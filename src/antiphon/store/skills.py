"""Skills and their versions, always read through the owning workspace."""

from __future__ import annotations

import builtins

from sqlalchemy import and_, delete, func, or_, select, update

from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import SkillRow, SkillVersionRow


class SkillStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, skill: SkillRow, version: SkillVersionRow) -> None:
        async with self._db.transaction() as session:
            session.add(skill)
            await session.flush()  # the skill row first: the version refers to it
            session.add(version)

    async def get(self, workspace_id: str, skill_id: str) -> SkillRow | None:
        async with self._db.transaction() as session:
            found = await session.get(SkillRow, skill_id)
            return found if found is not None and found.workspace_id == workspace_id else None

    async def list(self, workspace_id: str, page: PageRequest) -> Page[SkillRow]:
        query = select(SkillRow).where(SkillRow.workspace_id == workspace_id)
        async with self._db.transaction() as session:
            return await fetch_page(session, SkillRow, query, page)

    async def add_version(self, skill: SkillRow, version: SkillVersionRow) -> None:
        """Store a version and make it the skill's latest, in one transaction. The skill's
        row is locked first: inserting the version takes a share lock on it (the foreign
        key), and two uploads that each held one would deadlock asking for the row lock."""
        async with self._db.transaction() as session:
            await session.get(SkillRow, skill.id, with_for_update=True)
            session.add(version)
            await session.flush()
            # The newest id wins, whichever upload commits last (one statement: SQLite
            # has no row locks). Ids are digit strings: longer, or equally long and greater.
            latest = SkillRow.latest_version_id
            await session.execute(
                update(SkillRow)
                .where(SkillRow.id == skill.id)
                .where(or_(
                    func.length(latest) < len(version.id),
                    and_(func.length(latest) == len(version.id), latest < version.id),
                ))
                .values(latest_version_id=version.id, updated_at=version.created_at)
            )

    async def version(self, skill_id: str, version_id: str) -> SkillVersionRow | None:
        async with self._db.transaction() as session:
            return await session.get(SkillVersionRow, (version_id, skill_id))

    async def versions(self, skill_id: str, page: PageRequest) -> Page[SkillVersionRow]:
        query = select(SkillVersionRow).where(SkillVersionRow.skill_id == skill_id)
        async with self._db.transaction() as session:
            return await fetch_page(session, SkillVersionRow, query, page)

    async def version_ids(self, skill_id: str) -> builtins.list[str]:
        query = select(SkillVersionRow.id).where(SkillVersionRow.skill_id == skill_id)
        async with self._db.transaction() as session:
            return sorted((await session.scalars(query)).all())

    async def delete_version(self, skill_id: str, version_id: str, new_latest: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(SkillVersionRow).where(
                SkillVersionRow.skill_id == skill_id, SkillVersionRow.id == version_id))
            row = await session.get(SkillRow, skill_id, with_for_update=True)
            if row is not None:
                row.latest_version_id = new_latest

    async def delete(self, skill_id: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(SkillVersionRow).where(SkillVersionRow.skill_id == skill_id))
            await session.execute(delete(SkillRow).where(SkillRow.id == skill_id))
