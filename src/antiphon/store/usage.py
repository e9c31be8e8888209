"""Usage records: idempotent inserts and the sums behind the usage and cost reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite

from antiphon.store.database import Database
from antiphon.store.tables import UsageRecord

GROUPABLE = ("model", "api_key_id", "workspace_id", "service_tier")
TOKEN_COLUMNS = (
    "uncached_input_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
)


@dataclass(frozen=True)
class UsageQuery:
    """Minutes since the epoch; `end_minute` is exclusive. Buckets are `width_minutes` wide
    and aligned to multiples of it (UTC), so a day bucket starts at midnight UTC."""

    start_minute: int
    end_minute: int
    width_minutes: int
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (column, allowed values)


@dataclass(frozen=True)
class UsageSum:
    bucket: int  # index: bucket start minute // width_minutes
    groups: dict[str, str | None]
    tokens: dict[str, int]  # TOKEN_COLUMNS → sum


class UsageStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add_many(self, records: Sequence[UsageRecord]) -> None:
        """Insert; a record whose request id is already stored is skipped (never counted twice)."""
        if not records:
            return
        dialect = postgresql if self._db.is_postgresql else sqlite
        rows = [{c: getattr(r, c) for c in UsageRecord.__table__.columns.keys()} for r in records]
        statement = dialect.insert(UsageRecord).on_conflict_do_nothing()
        async with self._db.transaction() as session:
            await session.execute(statement, rows)  # executemany: batched by the driver

    async def sums(self, query: UsageQuery) -> list[UsageSum]:
        bucket = (UsageRecord.minute // query.width_minutes).label("bucket")
        groups = [getattr(UsageRecord, name) for name in query.group_by]
        totals = [func.sum(getattr(UsageRecord, name)) for name in TOKEN_COLUMNS]
        conditions: list[ColumnElement[bool]] = [
            UsageRecord.minute >= query.start_minute,
            UsageRecord.minute < query.end_minute,
        ]
        for column, allowed in query.filters:
            conditions.append(getattr(UsageRecord, column).in_(allowed))
        statement = (
            select(bucket, *groups, *totals)
            .where(*conditions)
            .group_by(bucket, *groups)
            .order_by(bucket)
        )
        async with self._db.transaction() as session:
            rows = (await session.execute(statement)).all()
        width = len(query.group_by)
        return [
            UsageSum(
                bucket=int(row[0]),
                groups=dict(zip(query.group_by, row[1 : 1 + width])),
                tokens={name: int(value or 0) for name, value in zip(TOKEN_COLUMNS, row[1 + width :])},
            )
            for row in rows
        ]
