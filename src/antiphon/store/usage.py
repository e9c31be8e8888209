"""Usage records: idempotent inserts and the sums behind the usage and cost reports.

Every record is also added to its day's row of `usage_days` (same transaction, only when the
record itself was new), so a sum over whole UTC days reads one row per day and group instead
of one per request: a year of a busy server's records is summed from the days, and only the
partial days at a range's ends from the records (`sums` joins the two).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from antiphon.store.database import Database
from antiphon.store.tables import UsageDay, UsageRecord

GROUPABLE = ("model", "api_key_id", "workspace_id", "service_tier")
TOKEN_COLUMNS = (
    "uncached_input_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
)
MINUTES_PER_DAY = 1440
_DAY_KEY = ("model", "api_key_id", "workspace_id", "service_tier")
_NULLABLE = ("api_key_id", "workspace_id")  # '' in usage_days


@dataclass(frozen=True)
class Weights:
    """A weight per token of each of TOKEN_COLUMNS, by model (`default` for the others),
    times a factor by service tier (1 for the others): a price table, for the database to
    sum a cost with the tokens instead of returning a row per model and tier to price."""

    by_model: tuple[tuple[str, tuple[float, ...]], ...]
    default: tuple[float, ...]
    tier_factors: tuple[tuple[str, float], ...]

    def expression(self, columns: Any) -> ColumnElement[Any]:
        def per_model(i: int) -> ColumnElement[Any]:
            if not self.by_model:
                return literal(self.default[i])
            return case(*((columns.model == model, literal(w[i])) for model, w in self.by_model),
                        else_=literal(self.default[i]))

        weighted = sum((columns[name] * per_model(i) for i, name in enumerate(TOKEN_COLUMNS)), literal(0.0))
        if not self.tier_factors:
            return weighted
        factor = case(*((columns.service_tier == tier, literal(f)) for tier, f in self.tier_factors), else_=literal(1.0))
        return weighted * factor


@dataclass(frozen=True)
class UsageQuery:
    """Minutes since the epoch; `end_minute` is exclusive. Buckets are `width_minutes` wide
    and aligned to multiples of it (UTC), so a day bucket starts at midnight UTC."""

    start_minute: int
    end_minute: int
    width_minutes: int
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (column, allowed values)
    weights: Weights | None = None  # also sum the tokens weighted so (UsageSum.weighted)


@dataclass(frozen=True)
class UsageSum:
    bucket: int  # index: bucket start minute // width_minutes
    groups: dict[str, str | None]
    tokens: dict[str, int]  # TOKEN_COLUMNS → sum
    weighted: float = 0.0  # with UsageQuery.weights: their weighted sum


class UsageStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add_many(self, records: Sequence[UsageRecord]) -> None:
        """Insert; a record whose request id is already stored is skipped (never counted twice,
        in the records or in their days)."""
        if not records:
            return
        dialect = postgresql if self._db.is_postgresql else sqlite
        rows = [{c: getattr(r, c) for c in UsageRecord.__table__.columns.keys()} for r in records]
        statement = dialect.insert(UsageRecord).on_conflict_do_nothing().returning(UsageRecord.request_id)
        async with self._db.transaction() as session:
            inserted = set((await session.scalars(statement, rows)).all())
            await self._add_to_days(session, [row for row in rows if row["request_id"] in inserted])

    async def _add_to_days(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        days: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(TOKEN_COLUMNS))
        for row in rows:
            key = (row["minute"] // MINUTES_PER_DAY, *(row[c] or "" for c in _DAY_KEY))
            sums = days[key]
            for i, column in enumerate(TOKEN_COLUMNS):
                sums[i] += row[column]
        if not days:
            return
        dialect = postgresql if self._db.is_postgresql else sqlite
        insert = dialect.insert(UsageDay)
        statement = insert.on_conflict_do_update(
            index_elements=["day", *_DAY_KEY],
            set_={c: getattr(UsageDay, c) + insert.excluded[c] for c in TOKEN_COLUMNS},
        )
        # In key order: concurrent writers (replicas) then lock the same rows in the same
        # order, so they wait for each other instead of deadlocking.
        values = [{"day": key[0], **dict(zip(_DAY_KEY, key[1:])), **dict(zip(TOKEN_COLUMNS, sums))}
                  for key, sums in sorted(days.items())]
        await session.execute(statement, values)

    async def sums(self, query: UsageQuery) -> list[UsageSum]:
        """Token sums per bucket and group. With buckets of whole days, the whole days of the
        range are read from `usage_days`, the rest (a partial first or last day) from the
        records; the two are added up per bucket and group."""
        first_day = -(-query.start_minute // MINUTES_PER_DAY)
        end_day = query.end_minute // MINUTES_PER_DAY
        if query.width_minutes % MINUTES_PER_DAY or first_day >= end_day:
            return await self.record_sums(query)
        parts = [await self._day_sums(query, first_day, end_day)]
        if query.start_minute < first_day * MINUTES_PER_DAY:
            parts.append(await self.record_sums(query, query.start_minute, first_day * MINUTES_PER_DAY))
        if end_day * MINUTES_PER_DAY < query.end_minute:
            parts.append(await self.record_sums(query, end_day * MINUTES_PER_DAY, query.end_minute))
        return _merged(query, parts) if len(parts) > 1 else parts[0]

    async def record_sums(self, query: UsageQuery, start: int | None = None, end: int | None = None) -> list[UsageSum]:
        """The sums from the records alone, over [start, end) (the query's range by default)."""
        records = UsageRecord.__table__.c
        conditions: list[ColumnElement[bool]] = [
            records.minute >= (query.start_minute if start is None else start),
            records.minute < (query.end_minute if end is None else end),
        ]
        for column, allowed in query.filters:
            conditions.append(records[column].in_(allowed))
        return await self._grouped(query, records.minute // query.width_minutes, records, conditions, False)

    async def _day_sums(self, query: UsageQuery, first_day: int, end_day: int) -> list[UsageSum]:
        # A bucket of k days holds whole days: day d is in bucket d // k (buckets are aligned
        # to multiples of their width from the epoch, as days are).
        days = UsageDay.__table__.c
        conditions: list[ColumnElement[bool]] = [days.day >= first_day, days.day < end_day]
        for column, allowed in query.filters:
            # No key (or workspace) is '' here and NULL in the records, which no filter matches.
            wanted = [value for value in allowed if value or column not in _NULLABLE]
            conditions.append(days[column].in_(wanted))
        bucket = days.day // (query.width_minutes // MINUTES_PER_DAY)
        return await self._grouped(query, bucket, days, conditions, True)

    async def _grouped(self, query: UsageQuery, bucket: ColumnElement[Any], columns: Any,
                       conditions: list[ColumnElement[bool]], from_days: bool) -> list[UsageSum]:
        # Table columns, not ORM attributes: a Core select skips the ORM's row handling, which
        # took as long as the query itself for a year of day rows.
        labelled = bucket.label("bucket")
        groups = [columns[name] for name in query.group_by]
        # As BIGINT: PostgreSQL sums BIGINTs to NUMERIC, which would arrive as Decimals.
        totals: list[ColumnElement[Any]] = [cast(func.sum(columns[name]), BigInteger) for name in TOKEN_COLUMNS]
        if query.weights is not None:
            totals.append(func.sum(query.weights.expression(columns)))
        statement = select(labelled, *groups, *totals).where(*conditions).group_by(labelled, *groups)
        async with self._db.transaction() as session:
            rows = (await session.execute(statement.order_by(labelled))).all()
        return _usage_sums(query, rows, from_days)

    async def last_used(self, api_key_ids: Sequence[str]) -> dict[str, int]:
        """The minute of each key's newest usage record (keys never used are left out);
        one index seek per key (ix_usage_key_minute)."""
        if not api_key_ids:
            return {}
        statement = (
            select(UsageRecord.api_key_id, func.max(UsageRecord.minute))
            .where(UsageRecord.api_key_id.in_(api_key_ids))
            .group_by(UsageRecord.api_key_id)
        )
        async with self._db.transaction() as session:
            rows = (await session.execute(statement)).all()
        return {str(key_id): int(minute) for key_id, minute in rows if minute is not None}


def _usage_sums(query: UsageQuery, rows: Sequence[Any], from_days: bool = False) -> list[UsageSum]:
    names, width = query.group_by, len(query.group_by)
    # '' in usage_days is no key (no workspace): None, as in the records.
    blank = [from_days and name in _NULLABLE for name in names]
    sums = []
    for bucket, *values in rows:  # unpacked once: indexing a Row per field costs more
        groups = {name: None if empty and value == "" else value
                  for name, empty, value in zip(names, blank, values)}
        tokens = values[width : width + len(TOKEN_COLUMNS)]
        weighted = float(values[-1] or 0.0) if query.weights is not None else 0.0
        sums.append(UsageSum(int(bucket), groups, dict(zip(TOKEN_COLUMNS, tokens)), weighted))
    return sums


def _merged(query: UsageQuery, parts: Sequence[list[UsageSum]]) -> list[UsageSum]:
    """Sums of the same bucket and group added up; ordered by bucket, then group."""
    merged: dict[tuple[int, tuple[str | None, ...]], dict[str, int]] = {}
    weighted: dict[tuple[int, tuple[str | None, ...]], float] = defaultdict(float)
    for part in parts:
        for row in part:
            key = (row.bucket, tuple(row.groups[name] for name in query.group_by))
            tokens = merged.setdefault(key, dict.fromkeys(TOKEN_COLUMNS, 0))
            for name, value in row.tokens.items():
                tokens[name] += value
            weighted[key] += row.weighted
    ordered = sorted(merged.items(), key=lambda item: (item[0][0], [(v is not None, v or "") for v in item[0][1]]))
    return [UsageSum(bucket, dict(zip(query.group_by, groups)), tokens, weighted[(bucket, groups)])
            for (bucket, groups), tokens in ordered]
