"""The real PostgreSQL and Redis of the development machines, for the tests that need them.

A test that cannot reach one skips with the reason in its message (pytest -ra lists it).
CI (.ci/run) starts both where they are not running and sets ANTIPHON_TEST_REQUIRE_SERVICES,
under which an unreachable service fails the test instead: a backend that was never
tested must not pass as one that was.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def unavailable(reason: str) -> None:
    """Skip (on a laptop without the service) or, in CI, fail."""
    if os.environ.get("ANTIPHON_TEST_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (CI requires it: ANTIPHON_TEST_REQUIRE_SERVICES is set)")
    pytest.skip(reason)


async def _postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty database for one test or fixture; dropped afterwards."""
    name = f"antiphon_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as error:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis_url() -> str:
    """Redis's URL, after checking that it answers; each test uses its own key prefix."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as error:
        unavailable(f"Redis not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


@contextmanager
def database_url(backend: str) -> Iterator[str | None]:
    """`None` (SQLite in the data directory) or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url
