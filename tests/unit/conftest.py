"""Fixtures shared by the unit tests that need a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from antiphon.store.database import async_url
from tests.services import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The asyncio URL of an empty store: SQLite in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield async_url(None, tmp_path)
        return
    with postgres_database() as postgres:
        yield async_url(postgres, tmp_path)
