"""The Skills API end to end with the official SDK, on SQLite and PostgreSQL: create from a
folder (or a zip of it), versions, download, deletion, workspace scoping, and bad uploads
answered clearly with nothing half-stored."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterator

import anthropic
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import (
    PlatformServer,
    assert_cursor_is_no_object,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import database_url

SKILL_MD = b"---\nname: pdf-tools\ndescription: Fill in and merge PDF forms.\n---\n\n# PDF tools\nUse run.py.\n"


def folder(skill_md: bytes = SKILL_MD, top: str = "pdf-tools") -> list[tuple[str, bytes]]:
    return [(f"{top}/SKILL.md", skill_md), (f"{top}/scripts/run.py", b"print('merge')\n")]


def zipped(entries: list[tuple[str, bytes]], link: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with database_url(request.param) as url:
        process, server = start_platform_server(tmp_path_factory.mktemp("skills"), f"skills-{request.param}", url)
        yield server
        stop_server(process)


@pytest.fixture(scope="module")
def clients(platform: PlatformServer) -> tuple[anthropic.Anthropic, anthropic.Anthropic]:
    with platform.admin() as admin:
        keys = [create_key(admin, f"skills {i}", create_workspace(admin, f"skills {i}")["id"])["key"] for i in range(2)]
    return platform.client(keys[0]), platform.client(keys[1])


def test_a_skill_with_versions_round_trips(clients: tuple[anthropic.Anthropic, anthropic.Anthropic]) -> None:
    client = clients[0]
    skill = client.skills.create(files=folder(), display_name="PDF tools")
    assert skill.type == "skill" and skill.id.startswith("skill_") and skill.display_name == "PDF tools"
    assert skill.source.type == "custom" and skill.latest_version_id
    first = client.skills.versions.retrieve(skill.latest_version_id, skill_id=skill.id)
    assert (first.name, first.description) == ("pdf-tools", "Fill in and merge PDF forms.")

    updated_md = SKILL_MD.replace(b"Fill in", b"Fill, sign")
    second = client.skills.versions.create(skill.id, files=[("pdf-tools.zip", zipped(folder(updated_md)))])
    assert second.description == "Fill, sign and merge PDF forms." and second.id > first.id
    assert client.skills.retrieve(skill.id).latest_version_id == second.id
    assert [v.id for v in client.skills.versions.list(skill.id)] == [second.id, first.id]
    assert skill.id in [s.id for s in client.skills.list()]

    with _raw(client) as raw:  # the zip download
        response = raw.get(f"/v1/skills/{skill.id}/versions/{second.id}/content")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["pdf-tools/SKILL.md", "pdf-tools/scripts/run.py"]
    assert archive.read("pdf-tools/SKILL.md") == updated_md

    assert client.skills.versions.delete(second.id, skill_id=skill.id).id == second.id
    assert client.skills.retrieve(skill.id).latest_version_id == first.id
    with pytest.raises(anthropic.BadRequestError, match="only version"):
        client.skills.versions.delete(first.id, skill_id=skill.id)
    assert client.skills.delete(skill.id).type == "skill_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.skills.retrieve(skill.id)
    with pytest.raises(anthropic.NotFoundError):
        client.skills.versions.retrieve(first.id, skill_id=skill.id)


def _raw(client: anthropic.Anthropic):  # type: ignore[no-untyped-def]
    import httpx

    return httpx.Client(base_url=str(client.base_url).rstrip("/"), headers={
        "x-api-key": client.api_key or "", "anthropic-version": "2023-06-01"})


def test_another_workspaces_skill_is_not_found(
    platform: PlatformServer, clients: tuple[anthropic.Anthropic, anthropic.Anthropic]
) -> None:
    mine, theirs = clients
    skill = mine.skills.create(files=folder())
    for attempt in (lambda: theirs.skills.retrieve(skill.id), lambda: theirs.skills.delete(skill.id),
                    lambda: theirs.skills.versions.list(skill.id),
                    lambda: theirs.skills.versions.create(skill.id, files=folder())):
        with pytest.raises(anthropic.NotFoundError) as refused:
            attempt()
        assert refused.value.body["error"]["message"] == f"skill_id: no skill with id {skill.id!r}"  # type: ignore[index]
    assert skill.id not in [s.id for s in theirs.skills.list()]
    assert mine.skills.retrieve(skill.id).id == skill.id
    assert_cursor_is_no_object(platform, theirs.api_key, "/v1/skills", skill.id)


def test_a_new_version_keeps_the_skills_name(clients: tuple[anthropic.Anthropic, anthropic.Anthropic]) -> None:
    client = clients[0]
    skill = client.skills.create(files=folder())
    renamed = SKILL_MD.replace(b"name: pdf-tools", b"name: other-tools")
    with pytest.raises(anthropic.BadRequestError, match="keeps the skill's name"):
        client.skills.versions.create(skill.id, files=folder(renamed, top="other-tools"))
    assert len(client.skills.versions.list(skill.id).data) == 1


@pytest.mark.parametrize(("files", "words"), [
    ([("pdf-tools/README.md", b"no skill file")], "SKILL.md is required"),
    ([("pdf-tools/SKILL.md", b"# no front matter")], "front matter"),
    ([("pdf-tools/SKILL.md", b"---\nname: Bad Name\ndescription: x\n---\n")], "`name`"),
    ([("pdf-tools/SKILL.md", b"---\nname: ok\n---\n")], "`description`"),
    ([("pdf-tools/SKILL.md", b"---\nname: [unclosed\n---\n")], "not valid YAML"),
    ([("pdf-tools/SKILL.md", SKILL_MD), ("pdf-tools/../../etc/passwd", b"x")], "leaves the skill folder"),
    ([("/abs/SKILL.md", SKILL_MD)], "absolute path"),
    ([("pdf-tools/SKILL.md", SKILL_MD), ("other/x.py", b"x")], "one top-level folder"),
    ([("SKILL.md", SKILL_MD)], "one top-level folder"),
    ([("skill.zip", b"PK\x03\x04 this is not really a zip")], "corrupt"),
    ([("skill.zip", zipped(folder(), link="pdf-tools/evil"))], "is a link"),
    ([("skill.zip", zipped([("pdf-tools/SKILL.md", SKILL_MD), ("../x", b"x")]))], "leaves the skill folder"),
])
def test_bad_skill_uploads_are_refused_and_store_nothing(
    platform: PlatformServer, clients: tuple[anthropic.Anthropic, anthropic.Anthropic],
    files: list[tuple[str, bytes]], words: str,
) -> None:
    client = clients[1]
    before = [s.id for s in client.skills.list(limit=1000)]
    blobs_before = sorted((platform.data_dir / "blobs").rglob("*.zip"))
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.skills.create(files=files)
    assert words in refused.value.body["error"]["message"], refused.value.body  # type: ignore[index]
    assert [s.id for s in client.skills.list(limit=1000)] == before
    assert sorted((platform.data_dir / "blobs").rglob("*.zip")) == blobs_before


def test_wrong_multipart_and_oversized_skills_are_refused(platform: PlatformServer, clients: tuple[anthropic.Anthropic, anthropic.Anthropic]) -> None:
    with _raw(clients[1]) as raw:
        not_multipart = raw.post("/v1/skills", json={"files": []})
        assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.text
        no_files = raw.post("/v1/skills", files={"display_title": (None, "x")})
        assert no_files.status_code == 400 and "files: required" in no_files.text
        wrong_field = raw.post("/v1/skills", files={"attachment": ("a/SKILL.md", SKILL_MD)})
        assert wrong_field.status_code == 400 and "files[]" in wrong_field.text
        big = [("files[]", ("pdf-tools/SKILL.md", SKILL_MD)),
               ("files[]", ("pdf-tools/blob.bin", b"\0" * (31 * 1024 * 1024)))]
        too_large = raw.post("/v1/skills", files=big)
        assert too_large.status_code == 413 and "30 MB" in too_large.text
