"""Versions created in the same microsecond (two uploads at once, on one replica or two
sharing the blob directory) get distinct ids and keep their own files: a blob is published
only where none is, so one upload can never overwrite (or, failing, delete) another's."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest

from antiphon.ids import utc_now
from antiphon.services import skills
from antiphon.services.skill_bundle import from_parts
from antiphon.services.skills import SkillsService
from antiphon.store.blobs import LocalBlobStore
from antiphon.store.database import Database
from antiphon.store.skills import SkillStore
from antiphon.store.tables import Workspace
from antiphon.store.workspaces import WorkspaceStore


def _folder(description: str) -> list[tuple[str, bytes]]:
    return [("weather/SKILL.md", f"---\nname: weather\ndescription: {description}\n---\nSteps.".encode())]


def test_an_exclusive_commit_never_replaces_a_blob(tmp_path: Path) -> None:
    async def scenario() -> None:
        blobs = LocalBlobStore(tmp_path)
        first, second = blobs.writer(100), blobs.writer(100)
        await first.write(b"first")
        await second.write(b"second")
        await first.commit("k", exclusive=True)
        with pytest.raises(FileExistsError):
            await second.commit("k", exclusive=True)
        await second.commit("k2", exclusive=True)  # the same writer publishes elsewhere
        assert await blobs.read_all("k") == b"first" and await blobs.read_all("k2") == b"second"

    asyncio.run(scenario())


def test_versions_made_in_one_microsecond_get_their_own_ids_and_files(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skills, "_version_id", lambda: 1_763_780_000_123_456)

    async def scenario() -> None:
        database = await Database.open(url)
        await WorkspaceStore(database).add(Workspace(
            id="wrkspc_1", name="w", display_color="#000000", tags={}, is_default=False,
            created_at=utc_now(), archived_at=None, spend_limit_cents=None))
        service = SkillsService(SkillStore(database), LocalBlobStore(tmp_path / "blobs"))
        skill, first = await service.create("wrkspc_1", from_parts(_folder("one")), None)
        made = await asyncio.gather(*(
            service.add_version("wrkspc_1", skill.id, from_parts(_folder(f"v{i}"))) for i in range(3)
        ))
        ids = [first.id, *(version.id for version in made)]
        assert len(set(ids)) == 4
        latest = (await service.get("wrkspc_1", skill.id)).latest_version_id
        assert latest == max(ids, key=int)  # whichever upload committed last
        for version, description in zip(made, ("v0", "v1", "v2")):
            stored = await service.version("wrkspc_1", skill.id, version.id)
            assert stored.description == description
            _, zipped = await service.content("wrkspc_1", skill.id, version.id)
            with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
                assert f"description: {description}" in archive.read("weather/SKILL.md").decode()
        await database.close()

    asyncio.run(scenario())
