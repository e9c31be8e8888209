"""Fuzzing from the published OpenAPI document: Schemathesis runs against a live server over
every operation, with valid and invalid data, the document's links followed statefully
(create → read → delete with real ids), and the checks for server errors, response-schema
conformance, status-code conformance and content types. Found and fixed by it: a multipart
part whose name or filename is not Latin-1 was a 500.

In the suite each operation gets a bounded number of examples from a fixed seed; the longer
run is documented in RELIABILITY.md. The server caps answers at 16 tokens, so the many valid
messages a fuzzer sends stay cheap."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from antiphon.http.app import ROUTES
from tests.conftest import Server, start_server, stop_server

MODEL = "smollm2-135m-instruct"
ADMIN_KEY = "sk-antiphon-admin-fuzz-key"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process, server = start_server(
        tmp_path_factory.mktemp("fuzz"), "fuzz",
        ["--parallel", "2", "--ctx", "2048", "--max-output-tokens", "16", "--read-timeout", "5"],
        MODEL, env={"ANTIPHON_ADMIN_KEY": ADMIN_KEY},
    )
    yield server
    stop_server(process)


def test_the_document_is_openapi_3_1_and_covers_every_route(server: Server) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert document["openapi"] == "3.1.0"
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    served = {
        (re.sub(r"\{(\w+):path\}", r"{\1}", route.path), method.lower())
        for route in ROUTES if route.path.startswith("/v1/")
        for method in route.methods or () if method != "HEAD"
    }
    assert served - documented == set()
    for path, item in document["paths"].items():
        for operation in item.values():
            assert {"200", "400", "401", "404", "500", "529"} <= set(operation["responses"]), path


@pytest.mark.parametrize(("key", "paths"), [
    ("api", ["--exclude-path-regex", "^/v1/organizations"]),
    ("admin", ["--include-path-regex", "^/v1/organizations"]),
])
def test_schemathesis_finds_nothing(server: Server, key: str, paths: list[str], tmp_path: Path) -> None:
    secret = server.api_key if key == "api" else ADMIN_KEY
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{server.base_url}/openapi.json", *paths,
         "-H", f"x-api-key: {secret}", "-H", "anthropic-version: 2023-06-01",
         "--checks", CHECKS, "--max-examples", "8", "--seed", "20261127", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its cache stays out of the tree
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", run.stdout), run.stdout[-2000:]
