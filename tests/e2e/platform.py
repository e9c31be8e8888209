"""Servers for the platform tests: an admin key, a store (SQLite or PostgreSQL), small engines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx

from tests.conftest import Server, start_server

ADMIN_KEY = "sk-antiphon-admin-test-key"
MODEL = "smollm2-135m-instruct"
SMALL_ENGINE = ["--parallel", "2", "--ctx", "512"]


@dataclass(frozen=True)
class PlatformServer:
    server: Server
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.base_url

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={
            "x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"})

    def admin_sdk(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=ADMIN_KEY, max_retries=0)

    def client(self, key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0)

    def raw(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, headers={
            "x-api-key": key, "anthropic-version": "2023-06-01"})


def start_platform_server(
    tmp: Path, name: str, database_url: str | None, args: list[str] | None = None,
    env: dict[str, str] | None = None, data_dir: Path | None = None,
):  # -> tuple[subprocess.Popen, PlatformServer]
    data_dir = data_dir or tmp / f"{name}-data"
    environment = {"ANTIPHON_ADMIN_KEY": ADMIN_KEY, "ANTIPHON_DATA_DIR": str(data_dir), **(env or {})}
    if database_url is not None:
        environment["ANTIPHON_DATABASE_URL"] = database_url
    process, server = start_server(tmp, name, [*SMALL_ENGINE, *(args or [])], MODEL, env=environment)
    return process, PlatformServer(server, data_dir)


def ask(client: anthropic.Anthropic, text: str = "Say hi", max_tokens: int = 4) -> anthropic.types.Message:
    return client.messages.create(
        model=MODEL, max_tokens=max_tokens, messages=[{"role": "user", "content": text}],
        extra_body={"temperature": 0},
    )


def create_key(admin: httpx.Client, name: str, workspace_id: str | None = None, **extra: object) -> dict:
    body: dict[str, object] = {"name": name, **extra}
    if workspace_id is not None:
        body["workspace_id"] = workspace_id
    response = admin.post("/v1/organizations/api_keys", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def create_workspace(admin: httpx.Client, name: str) -> dict:
    response = admin.post("/v1/organizations/workspaces", json={"name": name})
    assert response.status_code == 200, response.text
    return response.json()


def assert_cursor_is_no_object(platform: PlatformServer, key: str, path: str, foreign_id: str) -> None:
    """Another workspace's id as a list cursor is refused like an unknown one (same status,
    same wording): a page never tells the caller that the object exists."""
    with platform.raw(key) as raw:
        for cursor in ("after_id", "before_id"):
            foreign = raw.get(path, params={cursor: foreign_id})
            unknown = raw.get(path, params={cursor: foreign_id[:-4] + "zzzz"})
            assert foreign.status_code == unknown.status_code == 400, foreign.text
            wording = foreign.json()["error"]["message"].replace(foreign_id, "ID")
            assert wording == unknown.json()["error"]["message"].replace(foreign_id[:-4] + "zzzz", "ID")
