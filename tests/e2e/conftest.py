"""Fixtures for the Claude Code tests (the pinned CLI, and one default server they share) and
for the Console's browser tests (Debian's Chromium, and a folder for screenshots)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from tests.conftest import Server, start_server, stop_server
from tests.e2e.claude_code import ensure_claude_code
from tests.e2e.console_browser import CHROMIUM, SHOTS_COPY
from tests.services import unavailable


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


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    if not CHROMIUM.exists():  # a laptop without it skips; CI installs it and fails without
        unavailable("no system Chromium at /usr/bin/chromium (Debian: apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def shots_copy() -> Path:
    shutil.rmtree(SHOTS_COPY, ignore_errors=True)
    SHOTS_COPY.mkdir(parents=True)
    return SHOTS_COPY


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory, shots_copy: Path) -> Path:
    return tmp_path_factory.mktemp("console-shots")
