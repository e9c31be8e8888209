"""The Skills use case: skills and their versions, scoped to the caller's workspace.

A version is an immutable folder (stored as one zip in the blob store); the skill points at
its latest. Every version of a skill keeps the `name` its first SKILL.md gave it. Skill
contents are stored and served back, never executed.
"""

from __future__ import annotations

import time

from antiphon.errors import Conflict, InvalidRequest, NotFound
from antiphon.ids import new_id, rfc3339, utc_now
from antiphon.protocol.skills import SkillObject, SkillVersionObject
from antiphon.services.skill_bundle import SkillBundle
from antiphon.store.blobs import LocalBlobStore
from antiphon.store.pages import Page, PageRequest
from antiphon.store.skills import SkillStore
from antiphon.store.tables import SkillRow, SkillVersionRow


def _blob_key(skill_id: str, version_id: str) -> str:
    return f"skills/{skill_id}/{version_id}.zip"


_ID_ATTEMPTS = 100


def _version_id() -> int:
    """Versions are named by their creation time in microseconds, as on the hosted API."""
    return time.time_ns() // 1000


def skill_object(skill: SkillRow) -> SkillObject:
    return SkillObject(
        id=skill.id, display_name=skill.display_name, display_title=skill.display_name,
        latest_version=skill.latest_version_id, latest_version_id=skill.latest_version_id,
        created_at=rfc3339(skill.created_at), updated_at=rfc3339(skill.updated_at),
    )


def version_object(version: SkillVersionRow) -> SkillVersionObject:
    return SkillVersionObject(
        id=version.id, version=version.id, skill_id=version.skill_id, name=version.name,
        description=version.description, directory=version.directory,
        created_at=rfc3339(version.created_at),
    )


class SkillsService:
    def __init__(self, store: SkillStore, blobs: LocalBlobStore) -> None:
        self._store = store
        self._blobs = blobs

    async def _store_files(self, skill_id: str, bundle: SkillBundle) -> SkillVersionRow:
        """The version's zip under a version id no other upload of this skill has: two in
        one microsecond (two replicas, say) take the next free one rather than overwrite."""
        writer = self._blobs.writer(limit=2**40)
        version_id = _version_id()
        try:
            await writer.write(bundle.zip_bytes())
            for _ in range(_ID_ATTEMPTS):
                try:
                    await writer.commit(_blob_key(skill_id, str(version_id)), exclusive=True)
                    break
                except FileExistsError:
                    version_id += 1
            else:
                raise Conflict("another version of this skill is being created; retry")
        except BaseException:
            await writer.discard()
            raise
        return SkillVersionRow(
            id=str(version_id), skill_id=skill_id, name=bundle.name, description=bundle.description,
            directory=bundle.directory, file_count=len(bundle.files),
            size_bytes=sum(len(data) for data in bundle.files.values()), created_at=utc_now(),
        )

    async def create(self, workspace_id: str, bundle: SkillBundle, display_name: str | None) -> tuple[SkillRow, SkillVersionRow]:
        if display_name is not None and not 1 <= len(display_name) <= 255:
            raise InvalidRequest("display_title: must have 1 to 255 characters")
        skill_id = new_id("skill")
        version = await self._store_files(skill_id, bundle)
        skill = SkillRow(
            id=skill_id, workspace_id=workspace_id, name=bundle.name,
            display_name=display_name or bundle.name, latest_version_id=version.id,
            created_at=version.created_at, updated_at=version.created_at,
        )
        try:
            await self._store.add(skill, version)
        except BaseException:
            await self._blobs.delete(_blob_key(skill_id, version.id))
            raise
        return skill, version

    async def get(self, workspace_id: str, skill_id: str) -> SkillRow:
        skill = await self._store.get(workspace_id, skill_id)
        if skill is None:
            raise NotFound(f"skill_id: no skill with id {skill_id!r}")
        return skill

    async def list(self, workspace_id: str, page: PageRequest) -> Page[SkillRow]:
        return await self._store.list(workspace_id, page)

    async def delete(self, workspace_id: str, skill_id: str) -> None:
        """The skill and every version of it."""
        skill = await self.get(workspace_id, skill_id)
        versions = await self._store.version_ids(skill.id)
        await self._store.delete(skill.id)
        for version_id in versions:
            await self._blobs.delete(_blob_key(skill.id, version_id))

    async def add_version(self, workspace_id: str, skill_id: str, bundle: SkillBundle) -> SkillVersionRow:
        skill = await self.get(workspace_id, skill_id)
        if bundle.name != skill.name:
            raise InvalidRequest(
                f"SKILL.md: `name` is {bundle.name!r} but this skill is {skill.name!r}; "
                "every version keeps the skill's name"
            )
        version = await self._store_files(skill.id, bundle)
        try:
            await self._store.add_version(skill, version)
        except BaseException:
            await self._blobs.delete(_blob_key(skill.id, version.id))
            raise
        return version

    async def version(self, workspace_id: str, skill_id: str, version_id: str) -> SkillVersionRow:
        skill = await self.get(workspace_id, skill_id)
        if version_id == "latest":
            version_id = skill.latest_version_id
        found = await self._store.version(skill.id, version_id)
        if found is None:
            raise NotFound(f"version: skill {skill_id!r} has no version {version_id!r}")
        return found

    async def versions(self, workspace_id: str, skill_id: str, page: PageRequest) -> Page[SkillVersionRow]:
        skill = await self.get(workspace_id, skill_id)
        return await self._store.versions(skill.id, page)

    async def delete_version(self, workspace_id: str, skill_id: str, version_id: str) -> None:
        version_id = (await self.version(workspace_id, skill_id, version_id)).id
        remaining = [v for v in await self._store.version_ids(skill_id) if v != version_id]
        if not remaining:
            raise InvalidRequest(
                f"version {version_id!r} is the skill's only version; delete the skill instead"
            )
        await self._store.delete_version(skill_id, version_id, new_latest=remaining[-1])
        await self._blobs.delete(_blob_key(skill_id, version_id))

    async def content(self, workspace_id: str, skill_id: str, version_id: str) -> tuple[SkillVersionRow, bytes]:
        """The version's folder as a zip."""
        version = await self.version(workspace_id, skill_id, version_id)
        return version, await self._blobs.read_all(_blob_key(skill_id, version.id))
