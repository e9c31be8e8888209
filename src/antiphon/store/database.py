"""The database: engine and sessions from a URL, and migrations on open.

`sqlite:///…` (or a bare data directory) uses aiosqlite, `postgresql://…` uses asyncpg; the
URL's driver is filled in when it is missing, so users write the URLs they know.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from antiphon.errors import InvalidRequest, Overloaded

log = logging.getLogger(__name__)
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
# Two replicas starting together must not both run the same migration.
_MIGRATION_LOCK = 0x616E7469  # "anti"
# SQLSTATE classes that say the database, not the request, is at fault: connection
# exceptions (08), insufficient resources (53) and operator intervention (57P: shut down,
# crashed, still recovering). asyncpg's errors for them reach SQLAlchemy as a plain
# DBAPIError, not an OperationalError.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


# PostgreSQL text cannot hold U+0000 (character_not_in_repertoire, untranslatable_character):
# a client's id or name with one is refused as its input, not a server fault.
_UNSTORABLE_TEXT_SQLSTATES = ("22021", "22P05")


def _sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")


def store_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached or used right now."""
    if isinstance(error, (OperationalError, InterfaceError, OSError)):
        return True
    if not isinstance(error, DBAPIError):
        return False
    return error.connection_invalidated or _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATES)


class DatabaseUrlError(ValueError):
    """The database URL names no database this server supports."""


def async_url(url: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL with an asyncio driver; None means SQLite in the data directory."""
    if url is None:
        return f"sqlite+aiosqlite:///{data_dir / 'antiphon.db'}"
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseUrlError(f"database URL {url!r} is not a URL: {error}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"database URL {url!r}: only sqlite and postgresql are supported")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets the CLI read while the server writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(files("antiphon.store") / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @classmethod
    def create(cls, url: str) -> Database:
        """No I/O yet: connections open on first use, on the event loop that uses them."""
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine)

    @classmethod
    async def open(cls, url: str) -> Database:
        """Connect and bring the schema to the newest migration."""
        database = cls.create(url)
        try:
            await database.migrate()
        except BaseException:
            await database.close()
            raise
        return database

    async def migrate(self) -> None:
        async with self.engine.begin() as connection:
            if self.is_postgresql:
                await connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            await connection.run_sync(_upgrade)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """One process at a time in this block (PostgreSQL: a session advisory lock), so that
        replicas starting together do not each create the first rows."""
        if not self.is_postgresql:
            yield
            return
        async with self.engine.connect() as connection:
            await connection.execute(text(f"SELECT pg_advisory_lock({_MIGRATION_LOCK + 1})"))
            await connection.commit()
            try:
                yield
            finally:
                await connection.execute(text(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK + 1})"))
                await connection.commit()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on leaving the block (or rolls back on an error).

        A database that cannot be reached is the server's trouble, not a bug in the request:
        it surfaces as `Overloaded` (529, which clients retry), never as a 500."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except (DBAPIError, OSError) as error:
            if isinstance(error, DBAPIError) and _sqlstate(error) in _UNSTORABLE_TEXT_SQLSTATES:
                raise InvalidRequest(
                    "a text value (an id, a cursor or a name) holds a NUL character (\\u0000), "
                    "which cannot be stored or looked up"
                ) from None
            if not store_unavailable(error):
                raise
            log.error("the platform store is unavailable: %s", error)
            raise Overloaded("the server's store is unavailable; retry shortly", 2.0) from error

    async def close(self) -> None:
        await self.engine.dispose()
