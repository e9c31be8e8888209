"""A full disk, made real with a file size limit on the server process (RLIMIT_FSIZE: a
write past 8 MB fails with EFBIG, as one fails with ENOSPC on a full disk): an upload that
does not fit is a retriable 507 in the API's envelope, not a 500; nothing of it is stored or
left behind; and everything that fits is served as before."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator

import pytest

from tests.conftest import Server, start_server, stop_server

MODEL = "smollm2-135m-instruct"
LIMIT = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, object]]:
    tmp = tmp_path_factory.mktemp("full")
    process, server = start_server(tmp, "full", ["--parallel", "1", "--ctx", "1024"], MODEL,
                                   max_file_bytes=LIMIT)
    yield server, tmp / "full-data"
    stop_server(process)


def _leftovers(data_dir: object) -> list[str]:
    tmp = data_dir / "blobs" / "tmp"  # type: ignore[operator]
    return sorted(path.name for path in tmp.iterdir()) if tmp.exists() else []


def test_an_upload_that_does_not_fit_is_507_and_leaves_nothing(server: tuple[Server, object]) -> None:
    import httpx

    live, data_dir = server
    headers = live.headers()
    too_big = httpx.post(f"{live.base_url}/v1/files", headers=headers, timeout=60,
                         files={"file": ("big.bin", b"\x01" * (LIMIT + 1024 * 1024), "application/octet-stream")})
    assert too_big.status_code == 507, too_big.text
    error = too_big.json()["error"]
    assert error["type"] == "api_error" and "no room to store this" in error["message"]
    assert "x-should-retry" not in too_big.headers  # retriable: the disk may have room later
    listed = httpx.get(f"{live.base_url}/v1/files", headers=headers, timeout=30).json()
    assert listed["data"] == [] and _leftovers(data_dir) == []

    small = httpx.post(f"{live.base_url}/v1/files", headers=headers, timeout=60,
                       files={"file": ("small.txt", b"fits", "text/plain")})
    assert small.status_code == 200, small.text
    assert httpx.get(f"{live.base_url}/v1/files/{small.json()['id']}/content", headers=headers,
                     timeout=30).content == b"fits"


def test_a_skill_that_does_not_fit_is_507_and_the_server_keeps_answering(server: tuple[Server, object]) -> None:
    import httpx

    live, data_dir = server
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr("s/SKILL.md", "---\nname: s\ndescription: x\n---\n")
        zipped.writestr("s/data.bin", os.urandom(LIMIT + 1024 * 1024))  # stays as large zipped
    refused = httpx.post(f"{live.base_url}/v1/skills", headers=live.headers(), timeout=60,
                         files={"files[]": ("s.zip", archive.getvalue(), "application/zip")})
    assert refused.status_code == 507, refused.text
    assert httpx.get(f"{live.base_url}/v1/skills", headers=live.headers(), timeout=30).json()["data"] == []
    assert _leftovers(data_dir) == []
    answer = httpx.post(f"{live.base_url}/v1/messages", headers=live.headers(), timeout=60,
                        json={"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]})
    assert answer.status_code == 200, answer.text
