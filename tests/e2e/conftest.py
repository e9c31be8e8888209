"""Fixtures for the Claude Code tests: the pinned CLI, and one default server they share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server
from tests.e2e.claude_code import ensure_claude_code


@pytest.fixture(scope="session")
def claude_executable() -> Path:
    """The pinned Claude Code release (installed from npm into a cache on first use)."""
    found = ensure_claude_code()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def claude_server(
    claude_executable: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`antiphon serve` with no options (the test key and data dir aside), as a new user
    starts it."""
    process, server = start_server(
        tmp_path_factory.mktemp("claude-code"), "claude-code", [], "smollm2-135m-instruct"
    )
    yield server
    stop_server(process)
