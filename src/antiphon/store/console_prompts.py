"""The Workbench's saved prompts. Every query names the member: one member's prompts are
never found, listed, changed or deleted through another's id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from antiphon.errors import Conflict
from antiphon.store.database import Database
from antiphon.store.tables import ConsolePromptRow


class ConsolePromptStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def names(self, user_id: str, limit: int) -> list[tuple[str, str, datetime]]:
        """(id, name, updated_at) of the member's prompts, most recently saved first: the
        listing, without the bodies."""
        query = (
            select(ConsolePromptRow.id, ConsolePromptRow.name, ConsolePromptRow.updated_at)
            .where(ConsolePromptRow.user_id == user_id)
            .order_by(ConsolePromptRow.updated_at.desc(), ConsolePromptRow.id)
            .limit(limit)
        )
        async with self._db.transaction() as session:
            return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]

    async def get(self, user_id: str, prompt_id: str) -> ConsolePromptRow | None:
        query = select(ConsolePromptRow).where(
            ConsolePromptRow.user_id == user_id, ConsolePromptRow.id == prompt_id)
        async with self._db.transaction() as session:
            return (await session.scalars(query)).first()

    async def save(self, row: ConsolePromptRow, most: int) -> ConsolePromptRow | None:
        """Store `row`, or replace the body of the member's prompt of the same name (which
        keeps its id). None: the member already has `most` prompts and this is a new one.
        Two saves racing to create one name: the loser gets Conflict."""
        same_name = select(ConsolePromptRow).where(
            ConsolePromptRow.user_id == row.user_id, ConsolePromptRow.name == row.name)
        count = select(func.count()).select_from(ConsolePromptRow).where(
            ConsolePromptRow.user_id == row.user_id)
        try:
            async with self._db.transaction() as session:
                existing = (await session.scalars(same_name)).first()
                if existing is not None:
                    existing.body, existing.updated_at = row.body, row.updated_at
                    return existing
                if (await session.scalar(count) or 0) >= most:
                    return None
                session.add(row)
                return row
        except IntegrityError:
            raise Conflict(f"a prompt named {row.name!r} was saved at the same moment; "
                           "save again to replace it") from None

    async def delete(self, user_id: str, prompt_id: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(delete(ConsolePromptRow).where(
                ConsolePromptRow.user_id == user_id, ConsolePromptRow.id == prompt_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]
