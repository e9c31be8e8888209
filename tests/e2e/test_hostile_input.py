"""Hostile input, table-driven: each gets a clean 4xx in the API's envelope (never a 5xx,
never a hang), the server's memory stays bounded, and a well-behaved client served
meanwhile gets every answer. Found by this table and fixed: a never-ending header grew
memory without bound, a slow-loris client was held forever, an enum of 100,000 values took
minutes to convert, and a `$ref` cycle was a 500."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server

MODEL = "smollm2-135m-instruct"
READ_TIMEOUT = 1.0
JSON = {"content-type": "application/json"}


@dataclass
class Hostile:
    server: Server
    process: subprocess.Popen
    answers: list[int] = field(default_factory=list)  # the well-behaved client's statuses

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    process, server = start_server(
        tmp_path_factory.mktemp("hostile"), "hostile",
        ["--parallel", "2", "--ctx", "2048", "--read-timeout", str(READ_TIMEOUT)], MODEL,
    )
    yield Hostile(server, process)
    stop_server(process)


def _body(**fields: object) -> bytes:
    return json.dumps({"model": MODEL, "max_tokens": 5,
                       "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def _nested(depth: int) -> bytes:
    return ('{"model":"m","max_tokens":5,"messages":[{"role":"user","content":'
            + "[" * depth + "]" * depth + "}]}").encode()


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


SKILL_MD = b"---\nname: s\ndescription: x\n---\n"
TOOL = {"name": "t", "description": "d", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
# name → (path, body, extra headers, status, words in the error message)
CASES: dict[str, tuple[str, bytes, dict[str, str], int, str]] = {
    "invalid UTF-8": ("/v1/messages", b'{"model":"\xff\xfe","max_tokens":5,"messages":[]}', JSON, 400, "not valid JSON"),
    "lone surrogate": ("/v1/messages", _body(messages=[{"role": "user", "content": "x"}]).replace(b'"x"', b'"\\ud800"'), JSON, 400, "not valid JSON"),
    "JSON nested 10,000 deep": ("/v1/messages", _nested(10_000), JSON, 400, "not valid JSON"),
    "JSON nested 10,000 deep (count_tokens)": ("/v1/messages/count_tokens", _nested(10_000), JSON, 400, "not valid JSON"),
    "JSON nested 10,000 deep (batches)": ("/v1/messages/batches", b'{"requests":' + b"[" * 10_000 + b"]" * 10_000 + b"}", JSON, 400, "not valid JSON"),
    "1 MB model": ("/v1/messages", _body(model="m" * 1_000_000), JSON, 400, "model"),
    "1 MB stop sequence": ("/v1/messages", _body(stop_sequences=["s" * 1_000_000]), JSON, 400, "stop_sequences.0"),
    "1 MB user_id": ("/v1/messages", _body(metadata={"user_id": "u" * 1_000_000}), JSON, 400, "metadata.user_id"),
    "1 MB system prompt": ("/v1/messages", _body(system="s " * 500_000), JSON, 400, "prompt is too long"),
    "1 MB tool name": ("/v1/messages", _body(tools=[{**TOOL, "name": "n" * 1_000_000}]), JSON, 400, "tools.0.name"),
    "1 MB custom_id": ("/v1/messages/batches", json.dumps({"requests": [{"custom_id": "c" * 1_000_000, "params": json.loads(_body())}]}).encode(), JSON, 400, "custom_id"),
    "max_tokens -2^63": ("/v1/messages", _body(max_tokens=-(2**63)), JSON, 400, "max_tokens"),
    "top_k -2^63": ("/v1/messages", _body(top_k=-(2**63)), JSON, 400, "top_k"),
    "budget_tokens 2^63 over max_tokens": ("/v1/messages", _body(thinking={"type": "enabled", "budget_tokens": 2**63}), JSON, 400, "budget_tokens"),
    "temperature NaN": ("/v1/messages", _body().replace(b'"max_tokens": 5', b'"max_tokens": 5, "temperature": NaN'), JSON, 400, "temperature"),
    "top_p Infinity": ("/v1/messages", _body().replace(b'"max_tokens": 5', b'"max_tokens": 5, "top_p": Infinity'), JSON, 400, "top_p"),
    "temperature 1e400": ("/v1/messages", _body().replace(b'"max_tokens": 5', b'"max_tokens": 5, "temperature": 1e400'), JSON, 400, "temperature"),
    "XML body": ("/v1/messages", b"<messages/>", {"content-type": "application/xml"}, 400, "not valid JSON"),
    "gzip body": ("/v1/messages", b"\x1f\x8b\x08\x00" + b"\x00" * 16, {**JSON, "content-encoding": "gzip"}, 415, "content-encoding"),
    "deflate body": ("/v1/messages", b"x\x9c" + b"\x00" * 16, {**JSON, "content-encoding": "deflate"}, 415, "content-encoding"),
    "10,000 tool definitions": ("/v1/messages", _body(tools=[{**TOOL, "name": f"t{i}"} for i in range(10_000)]), JSON, 400, "prompt is too long"),
    "enum of 100,000 values": ("/v1/messages", _body(tools=[{"name": "t", "input_schema": {"type": "object", "properties": {"a": {"enum": [f"v{i}" for i in range(100_000)]}}}}]), JSON, 400, "prompt is too long"),
    "required recursive $ref": ("/v1/messages", _body(tool_choice={"type": "any"}, tools=[{"name": "t", "input_schema": {"type": "object", "properties": {"n": {"$ref": "#"}}, "required": ["n"]}}]), JSON, 400, "can never end"),
    "$ref cycle": ("/v1/messages", _body(tools=[{"name": "t", "input_schema": {"type": "object", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "properties": {"n": {"$ref": "#/$defs/a"}}}}]), JSON, 400, "refers back to itself"),
    "100,000 messages": ("/v1/messages", json.dumps({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 50_000 + [{"role": "user", "content": "hi"}]}).encode(), JSON, 400, "prompt is too long"),
    "multipart of 100,000 parts (files)": ("/v1/files", b"".join(b'--b\r\nContent-Disposition: form-data; name="x%d"\r\n\r\nv\r\n' % i for i in range(100_000)) + b"--b--\r\n", {"content-type": "multipart/form-data; boundary=b"}, 400, "at most 1000 parts"),
    "multipart of 100,000 parts (skills)": ("/v1/skills", b"".join(b'--b\r\nContent-Disposition: form-data; name="files[]"; filename="f%d"\r\n\r\nv\r\n' % i for i in range(100_000)) + b"--b--\r\n", {"content-type": "multipart/form-data; boundary=b"}, 400, "at most 1000 parts"),
}
SKILL_CASES: dict[str, tuple[bytes, int, str]] = {
    "zip bomb (300 MB of zeros)": (_zip({"s/SKILL.md": SKILL_MD, "s/zeros.bin": b"\0" * (300 * 1024 * 1024)}), 413, "at most 30 MB"),
    "zip path traversal": (_zip({"s/SKILL.md": SKILL_MD, "s/../../etc/cron.d/x": b"evil"}), 400, "leaves the skill folder"),
    "zip absolute path": (_zip({"s/SKILL.md": SKILL_MD, "/etc/passwd": b"evil"}), 400, ""),
    "zip of 100,000 entries": (_zip({**{f"s/f{i}": b"x" for i in range(100_000)}, "s/SKILL.md": SKILL_MD}, zipfile.ZIP_STORED), 400, "at most 500 files"),
}


@pytest.fixture(scope="module")
def bystander(hostile: Hostile) -> Iterator[None]:
    """A well-behaved client asking all along; every one of its answers must be a 200."""
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                answer = client.post(f"{hostile.server.base_url}/v1/messages", content=_body(),
                                     headers={**hostile.server.headers(), **JSON})
                hostile.answers.append(answer.status_code)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=120)


def _assert_refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()
    assert error["type"] == "error" and error["request_id"].startswith("req_")
    assert error["error"]["type"] in ("invalid_request_error", "request_too_large")
    assert words in error["error"]["message"], error


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_bodies_get_a_clean_4xx(hostile: Hostile, bystander: None, name: str) -> None:
    path, body, headers, status, words = CASES[name]
    response = httpx.post(f"{hostile.server.base_url}{path}", content=body, timeout=120,
                          headers={**hostile.server.headers(), **headers})
    _assert_refused(response, status, words)


@pytest.mark.parametrize("name", list(SKILL_CASES))
def test_hostile_skill_archives_get_a_clean_4xx(hostile: Hostile, bystander: None, name: str) -> None:
    archive, status, words = SKILL_CASES[name]
    response = httpx.post(f"{hostile.server.base_url}/v1/skills", headers=hostile.server.headers(),
                          files={"files[]": ("skill.zip", archive, "application/zip")}, timeout=120)
    _assert_refused(response, status, words)


def _raw_exchange(server: Server, *pieces: bytes, wait: float = 10.0) -> bytes:
    """Send `pieces` on one connection (the last may be a request left unfinished) and read
    what the server answers before it closes."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as connection:
        for piece in pieces:
            try:
                connection.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server refused and closed: read what it said
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def _status_and_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)["error"]


def test_a_100_kb_header_is_431(hostile: Hostile, bystander: None) -> None:
    answer = _raw_exchange(hostile.server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    status, error = _status_and_error(answer)
    assert status == 431 and "larger than 64 KB" in error["message"]


def test_a_header_that_never_ends_is_cut_off_without_memory_growth(hostile: Hostile, bystander: None) -> None:
    before = hostile.rss_bytes()
    pieces = [b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ", *[b"a" * 65536] * 800]  # 50 MB
    status, _ = _status_and_error(_raw_exchange(hostile.server, *pieces))
    assert status == 431
    assert hostile.rss_bytes() - before < 20 * 1024 * 1024


@pytest.mark.parametrize(("name", "pieces", "words"), [
    ("nothing at all", [b""], "headers did not arrive"),
    ("half a request line", [b"GET /hea"], "headers did not arrive"),
    ("headers without their end", [b"GET /health HTTP/1.1\r\nHost: x\r\n"], "headers did not arrive"),
    ("a body that stops", [b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: KEY\r\n"
                           b"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
                           b"content-length: 1000\r\n\r\n{\"model\""], "body stopped arriving"),
])
def test_slow_loris_clients_get_408_and_are_let_go(
    hostile: Hostile, bystander: None, name: str, pieces: list[bytes], words: str
) -> None:
    pieces = [piece.replace(b"KEY", hostile.server.api_key.encode()) for piece in pieces]
    started = time.monotonic()
    status, error = _status_and_error(_raw_exchange(hostile.server, *pieces, wait=READ_TIMEOUT * 20))
    assert status == 408 and words in error["message"]
    assert time.monotonic() - started < READ_TIMEOUT * 20  # answered, not left to hang


def test_the_bystander_was_served_throughout(hostile: Hostile, bystander: None) -> None:
    deadline = time.monotonic() + 60
    while len(hostile.answers) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(hostile.answers) >= 3 and set(hostile.answers) == {200}, hostile.answers
    assert httpx.get(f"{hostile.server.base_url}/health", timeout=10).status_code == 200
