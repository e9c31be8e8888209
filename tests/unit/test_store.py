"""The store's repositories on SQLite and PostgreSQL: migrations, pages, idempotent usage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from antiphon.errors import InvalidRequest
from antiphon.ids import new_id
from antiphon.services.usage import TokenUsage, usage_record
from antiphon.store.database import Database, DatabaseUrlError, async_url
from antiphon.store.pages import PageRequest
from antiphon.store.tables import Workspace
from antiphon.store.usage import UsageQuery, UsageStore
from antiphon.store.workspaces import WorkspaceStore

NOW = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def _workspace(name: str, created_at: datetime) -> Workspace:
    return Workspace(id=new_id("wrkspc"), name=name, display_color="#000000", tags={},
                     is_default=False, created_at=created_at, archived_at=None, spend_limit_cents=None)


def test_migrations_run_once_and_again_without_harm(url: str) -> None:
    async def scenario() -> None:
        for _ in range(2):
            database = await Database.open(url)
            await WorkspaceStore(database).add(_workspace("x", NOW))
            await database.close()
        database = await Database.open(url)
        page = await WorkspaceStore(database).list(PageRequest(10), True, True)
        await database.close()
        assert [w.name for w in page.rows] == ["x", "x"] and page.rows[0].created_at.tzinfo is not None

    asyncio.run(scenario())


def test_pages_are_newest_first_and_follow_both_cursors(url: str) -> None:
    async def scenario() -> None:
        database = await Database.open(url)
        store = WorkspaceStore(database)
        made = [_workspace(f"w{i}", NOW + timedelta(seconds=i)) for i in range(5)]
        for workspace in made:
            await store.add(workspace)
        newest = [w.id for w in reversed(made)]
        first = await store.list(PageRequest(2), False, False)
        assert [w.id for w in first.rows] == newest[:2] and first.has_more
        after = await store.list(PageRequest(2, after_id=newest[1]), False, False)
        assert [w.id for w in after.rows] == newest[2:4] and after.has_more
        last = await store.list(PageRequest(2, after_id=newest[3]), False, False)
        assert [w.id for w in last.rows] == newest[4:] and not last.has_more
        before = await store.list(PageRequest(2, before_id=newest[3]), False, False)
        assert [w.id for w in before.rows] == newest[1:3] and before.has_more
        with pytest.raises(InvalidRequest, match="after_id"):
            await store.list(PageRequest(2, after_id="wrkspc_missing"), False, False)
        await database.close()

    asyncio.run(scenario())


def test_usage_is_recorded_once_per_request_and_summed_by_bucket(url: str) -> None:
    async def scenario() -> None:
        database = await Database.open(url)
        store = UsageStore(database)
        usage = TokenUsage(10, 2, 3, 4, 5)
        records = [usage_record(f"req_{i}", "m", "key", "ws", "standard", usage, NOW + timedelta(minutes=i * 30))
                   for i in range(4)]
        await store.add_many(records)
        await store.add_many(records[:2])  # a retried batch: nothing counted twice
        minute = int(NOW.timestamp() // 60)
        hourly = await store.sums(UsageQuery(minute - 30, minute + 120, 60, ("model",)))
        # Records at 10:30, 11:00, 11:30 and 12:00 fall in the hours of 10, 11 (two) and 12.
        assert [(row.bucket * 60, row.tokens["output_tokens"]) for row in hourly] == [
            (minute - 30, 5), (minute + 30, 10), (minute + 90, 5)]
        daily = await store.sums(UsageQuery(minute - 600, minute + 600, 1440))
        assert sum(row.tokens["uncached_input_tokens"] for row in daily) == 40
        filtered = await store.sums(UsageQuery(minute - 600, minute + 600, 1440, (), (("workspace_id", ("other",)),)))
        assert filtered == []
        await database.close()

    asyncio.run(scenario())


def test_database_urls_get_their_asyncio_driver(tmp_path: Path) -> None:
    assert async_url(None, tmp_path) == f"sqlite+aiosqlite:///{tmp_path / 'antiphon.db'}"
    assert async_url("postgresql://u@h/db", tmp_path) == "postgresql+asyncpg://u@h/db"
    assert async_url("sqlite:////var/a.db", tmp_path) == "sqlite+aiosqlite:////var/a.db"
    for bad in ("mysql://u@h/db", "not a url"):
        with pytest.raises(DatabaseUrlError):
            async_url(bad, tmp_path)


def test_an_unreachable_database_is_overloaded_not_a_bug(tmp_path: Path) -> None:
    from antiphon.errors import Overloaded

    async def scenario() -> None:
        database = Database.create(async_url("postgresql://postgres@127.0.0.1:1/nowhere", tmp_path))
        with pytest.raises(Overloaded, match="store is unavailable"):
            await WorkspaceStore(database).get("wrkspc_x")
        await database.close()

    asyncio.run(scenario())


class _DriverError(Exception):
    """What SQLAlchemy's asyncpg adapter wraps: a driver error carrying its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "unavailable"), [
    ("57P03", True),   # the database system is starting up (crash recovery)
    ("57P01", True),   # terminating connection due to administrator command
    ("08006", True),   # connection failure
    ("53300", True),   # too many connections
    ("23505", False),  # unique violation: the request's own trouble
    ("42601", False),  # syntax error: a bug, which must stay a 500
])
def test_a_database_in_recovery_is_unavailable_not_a_bug(sqlstate: str, unavailable: bool) -> None:
    """asyncpg's errors reach SQLAlchemy as a plain DBAPIError; their SQLSTATE tells a
    database that is down or recovering (retry: 529) from a real fault."""
    from sqlalchemy.exc import DBAPIError

    from antiphon.store.database import store_unavailable

    assert store_unavailable(DBAPIError("SELECT 1", None, _DriverError(sqlstate))) is unavailable


def test_a_nul_in_an_id_is_the_clients_error_on_every_store(url: str) -> None:
    """PostgreSQL text cannot hold U+0000: an id or cursor with one is a 400, never a 500."""

    async def scenario() -> None:
        database = await Database.open(url)
        try:
            store = WorkspaceStore(database)
            if url.startswith("sqlite"):
                assert await store.get("wrkspc_\x00") is None
            else:
                with pytest.raises(InvalidRequest, match="NUL character"):
                    await store.get("wrkspc_\x00")
                with pytest.raises(InvalidRequest, match="NUL character"):
                    await store.list(PageRequest(10, after_id="wrkspc_\x00"), True, True)
        finally:
            await database.close()

    asyncio.run(scenario())
