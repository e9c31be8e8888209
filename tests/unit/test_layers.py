"""Imports point down the layers (DESIGN.md): a module that needs something from above is
telling us the thing lives in the wrong place. Read from the source with `ast`, so a new
import that breaks a rule fails here, naming the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "src" / "antiphon"
# layer → the antiphon packages and modules it must not import
FORBIDDEN = {
    "protocol": {"chat", "engine", "store", "services", "http", "cli", "config"},
    "chat": {"store", "services", "http", "cli", "config"},
    "engine": {"chat", "protocol", "store", "services", "http", "cli"},
    "store": {"chat", "engine", "services", "http", "cli"},
    "services": {"http", "cli"},
    "errors": {"protocol", "chat", "engine", "store", "services", "http", "cli", "config"},
}


def _imported_modules(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.startswith("antiphon."):
                found.add((name, node.lineno))
    return found


def _imported_layers(path: Path) -> set[tuple[str, int]]:
    return {(name.split(".")[1], line) for name, line in _imported_modules(path)}


def _modules(layer: str) -> list[Path]:
    package = PACKAGE / layer
    return sorted(package.rglob("*.py")) if package.is_dir() else [PACKAGE / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_down(layer: str) -> None:
    broken = [
        f"{path.relative_to(PACKAGE)}:{line} imports antiphon.{target}"
        for path in _modules(layer)
        for target, line in sorted(_imported_layers(path))
        if target in FORBIDDEN[layer]
    ]
    assert broken == []


def test_routes_never_see_stored_rows() -> None:
    """Services turn rows into API objects; the API's routes never name a table. (The
    Console's pages are the exception: they render the records its services return, as
    server-side templates, and never answer with them as API objects.)"""
    console = PACKAGE / "http" / "console"
    broken = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in _modules("http")
        if console not in path.parents
        for name, line in sorted(_imported_modules(path))
        if name == "antiphon.store.tables"
    ]
    assert broken == []
