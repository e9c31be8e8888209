"""Cursor pagination by id, as the API pages lists (`before_id` / `after_id` / `limit`).

Rows are ordered newest first by (created_at, id); a cursor is the id of a row of the
previous page, resolved to its position so that pages stay stable while rows are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from antiphon.errors import InvalidRequest

Row = TypeVar("Row")


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    before_id: str | None = None
    after_id: str | None = None


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    has_more: bool


async def fetch_page(
    session: AsyncSession, table: Any, query: Select[Any], page: PageRequest
) -> Page[Any]:
    """`query` selects `table`'s rows (filters applied); this orders, cuts and pages it.

    A cursor is looked up through `query`'s own filters: an id from another workspace (or
    skill) is "no object", exactly like an id that does not exist, so a page never tells a
    caller that someone else's object exists."""
    newest_first = (table.created_at.desc(), table.id.desc())
    cursor_id = page.after_id or page.before_id
    if cursor_id is not None:
        lookup = query.with_only_columns(table.created_at).where(table.id == cursor_id)
        cursor = (await session.execute(lookup)).first()
        if cursor is None:
            which = "after_id" if page.after_id else "before_id"
            raise InvalidRequest(f"{which}: no object with id {cursor_id!r}")
        at = cursor[0]
        older = or_(table.created_at < at, and_(table.created_at == at, table.id < cursor_id))
        newer = or_(table.created_at > at, and_(table.created_at == at, table.id > cursor_id))
        if page.after_id:
            query = query.where(older)
        else:  # before_id: the rows just newer than the cursor, read oldest first then flipped
            rows = (
                await session.scalars(
                    query.where(newer)
                    .order_by(table.created_at.asc(), table.id.asc())
                    .limit(page.limit + 1)
                )
            ).all()
            return Page(list(reversed(rows[: page.limit])), len(rows) > page.limit)
    rows = (await session.scalars(query.order_by(*newest_first).limit(page.limit + 1))).all()
    return Page(list(rows[: page.limit]), len(rows) > page.limit)
