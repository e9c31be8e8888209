"""Every route that takes an object's id, audited: another workspace's id is answered
exactly as an id that never existed (same status, same wording), for reads, writes, list
cursors and content, so no answer tells a caller that someone else's object exists; and the
owner's object is untouched afterwards. Admin routes refuse API keys outright."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    create_key,
    create_workspace,
    start_platform_server,
)

SKILL = [("notes/SKILL.md", b"---\nname: notes\ndescription: Keep notes.\n---\nWrite them down.\n")]


@dataclass(frozen=True)
class Owned:
    """Objects of workspace A, and the keys of A and B."""

    owner: str
    intruder: str
    file_id: str
    skill_id: str
    version: str
    batch_id: str
    reply_id: str  # a Message Threads reply, continuable by its id


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    process, server = start_platform_server(tmp_path_factory.mktemp("authz"), "authz", None)
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def owned(platform: PlatformServer) -> Owned:
    with platform.admin() as admin:
        owner, intruder = (create_key(admin, f"authz {i}", create_workspace(admin, f"authz {i}")["id"])["key"]
                           for i in range(2))
    client = platform.client(owner)
    file = client.files.upload(file=("a.txt", b"workspace A only", "text/plain"))
    skill = client.skills.create(files=SKILL)
    batch = client.messages.batches.create(requests=[{  # type: ignore[list-item]
        "custom_id": "one", "params": {"model": MODEL, "max_tokens": 2,
                                       "messages": [{"role": "user", "content": "hi"}]}}])
    deadline = time.monotonic() + 60
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    reply = client.messages.create(model=MODEL, max_tokens=2, messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"thread": {"type": "create"}})
    return Owned(owner, intruder, file.id, skill.id, skill.latest_version, batch.id,  # type: ignore[arg-type]
                 reply.id)


def _unknown(object_id: str) -> str:
    """An id of the same kind and shape that names nothing."""
    return object_id[:-6] + "zzzzzz"


# (method, path template, json body or None); {file}, {skill}, {version}, {batch} are filled in.
ROUTES = [
    ("GET", "/v1/files/{file}", None),
    ("GET", "/v1/files/{file}/content", None),
    ("DELETE", "/v1/files/{file}", None),
    ("GET", "/v1/skills/{skill}", None),
    ("DELETE", "/v1/skills/{skill}", None),
    ("GET", "/v1/skills/{skill}/versions", None),
    ("GET", "/v1/skills/{skill}/versions/{version}", None),
    ("GET", "/v1/skills/{skill}/versions/latest", None),
    ("GET", "/v1/skills/{skill}/versions/{version}/content", None),
    ("DELETE", "/v1/skills/{skill}/versions/{version}", None),
    ("GET", "/v1/messages/batches/{batch}", None),
    ("GET", "/v1/messages/batches/{batch}/results", None),
    ("POST", "/v1/messages/batches/{batch}/cancel", None),
    ("DELETE", "/v1/messages/batches/{batch}", None),
    ("GET", "/v1/files?after_id={file}", None),
    ("GET", "/v1/files?before_id={file}", None),
    ("GET", "/v1/skills?after_id={skill}", None),
    ("GET", "/v1/messages/batches?after_id={batch}", None),
    ("GET", "/v1/messages/batches?before_id={batch}", None),
    ("POST", "/v1/messages/count_tokens", {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": "{file}"}}]}]}),
    ("POST", "/v1/messages", {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "and?"}],
                              "thread": {"type": "continue", "previous_message_id": "{reply}"}}),
]


def _fill(template: object, ids: dict[str, str]) -> object:
    if isinstance(template, str):
        for name, value in ids.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, list):
        return [_fill(item, ids) for item in template]
    if isinstance(template, dict):
        return {key: _fill(value, ids) for key, value in template.items()}
    return template


def _call(raw: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return raw.request(method, path, json=body) if body is not None else raw.request(method, path)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_foreign_id_is_answered_as_an_unknown_one(
    platform: PlatformServer, owned: Owned, method: str, path: str, body: object
) -> None:
    real = {"file": owned.file_id, "skill": owned.skill_id, "version": owned.version, "batch": owned.batch_id,
            "reply": owned.reply_id}
    fake = {name: _unknown(value) if name != "version" else value for name, value in real.items()}
    with platform.raw(owned.intruder) as raw:
        foreign = _call(raw, method, str(_fill(path, real)), _fill(body, real))
        unknown = _call(raw, method, str(_fill(path, fake)), _fill(body, fake))
    assert foreign.status_code in (400, 404), foreign.text
    assert foreign.status_code == unknown.status_code
    wording = foreign.json()["error"]["message"]
    for name in real:
        wording = wording.replace(real[name], f"<{name}>")
    expected = unknown.json()["error"]["message"]
    for name in fake:
        expected = expected.replace(fake[name], f"<{name}>")
    assert wording == expected


def test_the_owners_objects_are_untouched_by_all_of_it(platform: PlatformServer, owned: Owned) -> None:
    client = platform.client(owned.owner)
    assert client.files.download(owned.file_id).read() == b"workspace A only"
    assert client.skills.retrieve(owned.skill_id).latest_version == owned.version
    assert client.skills.versions.retrieve(owned.version, skill_id=owned.skill_id).version == owned.version
    assert client.messages.batches.retrieve(owned.batch_id).processing_status == "ended"
    assert [line.custom_id for line in client.messages.batches.results(owned.batch_id)] == ["one"]
    continued = client.messages.create(model=MODEL, max_tokens=2, messages=[{"role": "user", "content": "and?"}],
                                       extra_body={"thread": {"type": "continue", "previous_message_id": owned.reply_id}})
    assert continued.id != owned.reply_id


@pytest.mark.parametrize("path", [
    "/v1/organizations/workspaces", "/v1/organizations/api_keys", "/v1/organizations/me",
    "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z",
])
def test_admin_routes_refuse_api_keys(platform: PlatformServer, owned: Owned, path: str) -> None:
    with platform.raw(owned.owner) as raw:
        refused = raw.get(path)
    assert refused.status_code in (401, 403), refused.text
    assert refused.json()["error"]["type"] in ("authentication_error", "permission_error")
