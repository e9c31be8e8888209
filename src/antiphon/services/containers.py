"""Code execution containers: sandboxes that outlive a request, with Skills and Files in them.

A request with the code execution tool names a container to reuse (`container: "container_…"`
or `{"id": …}`) or gets a new one, with the skills it lists mounted read-only under
`/skills/<directory>` (where the hosted API puts them). Files from `container_upload` blocks
are copied into the working directory. A container belongs to the workspace that made it
(another workspace's id reads as unknown) and is destroyed, without a trace, once it has been
idle past its expiry. The sandbox itself is services/sandbox (bubblewrap).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from antiphon.errors import InvalidRequest, NotFound
from antiphon.ids import new_id, rfc3339, utc_now
from antiphon.protocol.content import ContainerUploadBlock, TextBlock
from antiphon.protocol.messages import (
    ContainerParams,
    MessagesRequest,
    SkillReference,
)
from antiphon.protocol.server_tool_blocks import ContainerInfo, ContainerSkill
from antiphon.services.files import FilesService
from antiphon.services.sandbox import (
    Mount,
    Sandbox,
    SandboxError,
    SandboxFileTooLarge,
    SandboxHost,
    SandboxLimits,
)
from antiphon.services.skills import SkillsService

log = logging.getLogger(__name__)
SKILLS_ROOT = "/skills"
MAX_SKILLS = 8


@dataclass
class Container:
    id: str
    workspace_id: str | None
    sandbox: Sandbox
    skills: tuple[ContainerSkill, ...]
    idle_seconds: float
    expires_at: datetime = field(default_factory=utc_now)
    placed: set[str] = field(default_factory=set)  # file ids already copied in
    skill_notes: tuple[str, ...] = ()  # one line per skill, for the model

    def touch(self) -> None:
        self.expires_at = utc_now() + timedelta(seconds=self.idle_seconds)

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            id=self.id, expires_at=rfc3339(self.expires_at), skills=list(self.skills) or None
        )


class ContainerService:
    """Code execution's containers. `sandbox_root` None: code execution is turned off; at
    start a host that cannot sandbox (not root, no bubblewrap) leaves it off too, and
    requests declaring the tool get a 400 that says why."""

    def __init__(
        self, sandbox_root: Path | None, skills: SkillsService, files: FilesService,
        skill_cache: Path, idle_seconds: float, limits: SandboxLimits | None = None,
    ) -> None:
        self._root = sandbox_root
        self._limits = limits or SandboxLimits()
        self._host: SandboxHost | None = None
        self.unavailable = "turned off (--no-code-execution)" if sandbox_root is None else "not started"
        self._skills = skills
        self._files = files
        self._skill_cache = skill_cache
        self._idle_seconds = idle_seconds
        self._containers: dict[str, Container] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check that this host can sandbox (a trial run), clear what a crash left, and
        reap idle containers from now on."""
        if self._root is None:
            return
        reason = await asyncio.to_thread(SandboxHost.check_available)
        if reason is not None:
            self.unavailable = reason
            log.warning("code execution is off: %s", reason)
            return
        self._host = SandboxHost(self._root, self._limits)
        await self._host.remove_leftovers()
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, self._idle_seconds))
            await self.reap()

    @property
    def files(self) -> FilesService:
        return self._files

    def check_enabled(self, path: str) -> None:
        if self._host is None:
            raise InvalidRequest(f"{path}: code execution is not available on this server ({self.unavailable})")

    async def open(self, workspace_id: str | None, param: str | ContainerParams | None) -> Container:
        """The container a request names (refreshing its expiry), or a new one."""
        assert self._host is not None
        await self.reap()
        wanted = param if isinstance(param, str) else param.id if param else None
        references = param.skills or [] if isinstance(param, ContainerParams) else []
        if wanted is not None:
            found = self._containers.get(wanted)
            if found is None or found.workspace_id != workspace_id:
                raise InvalidRequest(f"container: no container with id {wanted!r} (expired or unknown)")
            if references:
                raise InvalidRequest(
                    "container.skills: skills are mounted when a container is created; "
                    f"container {wanted!r} keeps the ones it has"
                )
            found.touch()
            return found
        mounts, skills, notes = await self._skill_mounts(workspace_id, references)
        sandbox = await self._host.create(mounts)
        container = Container(
            new_id("container"), workspace_id, sandbox, skills, self._idle_seconds,
            skill_notes=notes,
        )
        container.touch()
        self._containers[container.id] = container
        return container

    async def _skill_mounts(
        self, workspace_id: str | None, references: list[SkillReference],
    ) -> tuple[list[Mount], tuple[ContainerSkill, ...], tuple[str, ...]]:
        mounts: list[Mount] = []
        skills: list[ContainerSkill] = []
        notes: list[str] = []
        for index, reference in enumerate(references):
            path = f"container.skills.{index}"
            if reference.type != "custom" or workspace_id is None:
                raise InvalidRequest(
                    f"{path}.type: only `custom` skills uploaded to this server (POST /v1/skills) "
                    "can be used; Anthropic's own skills are not available here"
                )
            try:
                version, archive = await self._skills.content(
                    workspace_id, reference.skill_id, reference.version or "latest"
                )
            except NotFound as error:  # a field of this request, not a missing resource
                raise InvalidRequest(f"{path}: {error.message}") from None
            directory = await asyncio.to_thread(
                self._unpacked, reference.skill_id, version.id, archive
            )
            target = f"{SKILLS_ROOT}/{version.directory}"
            if any(mount.sandbox_path == target for mount in mounts):
                raise InvalidRequest(f"{path}: two skills share the folder name {version.directory!r}")
            mounts.append(Mount(directory, target))
            skills.append(ContainerSkill(type="custom", skill_id=reference.skill_id, version=version.id))
            notes.append(f"- {version.name}: {version.description} (instructions: {target}/SKILL.md)")
        return mounts, tuple(skills), tuple(notes)

    def _unpacked(self, skill_id: str, version_id: str, archive: bytes) -> Path:
        """A skill version's folder on the host, unpacked once (its zip was checked on upload)."""
        base = self._skill_cache / skill_id / version_id
        if not base.exists():
            staging = base.with_name(f".{version_id}.{time.time_ns()}")
            with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                for name in bundle.namelist():
                    relative = PurePosixPath(name)
                    if name.endswith("/") or ".." in relative.parts or relative.is_absolute():
                        continue
                    target = staging.joinpath(*relative.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(bundle.read(name))
            staging.chmod(0o755)
            for path in staging.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            try:
                staging.rename(base)
            except OSError:  # another request unpacked it first
                pass
        folders = [child for child in base.iterdir() if child.is_dir()]
        return folders[0] if len(folders) == 1 else base

    async def place_uploads(self, container: Container, file_ids: list[tuple[str, str]]) -> dict[str, str]:
        """Copy `container_upload` files into the working directory (once per container);
        returns each file id's path in the container. `file_ids` are (id, request path)."""
        placed: dict[str, str] = {}
        for file_id, path in file_ids:
            stored = await self._files.source_file(container.workspace_id, file_id, path)
            name = PurePosixPath(stored.filename).name or stored.id
            where = f"{container.sandbox.work_dir}/{name}"
            if file_id not in container.placed:
                room = self._limits.disk_bytes
                if stored.size_bytes > room:
                    raise InvalidRequest(
                        f"{path}: {stored.filename} ({stored.size_bytes} bytes) does not fit "
                        f"in a container ({room} bytes)"
                    )
                data = await self._files.source_bytes(stored)
                try:
                    await container.sandbox.write_file(name, data)
                except SandboxFileTooLarge:
                    raise InvalidRequest(
                        f"{path}: the container has no room left for {stored.filename}"
                    ) from None
                container.placed.add(file_id)
            placed[file_id] = where
        return placed

    async def reap(self) -> None:
        """Destroy the containers idle past their expiry."""
        now = utc_now()
        expired = [c for c in self._containers.values() if c.expires_at <= now]
        for container in expired:
            self._containers.pop(container.id, None)
            await self._destroy(container)

    async def _destroy(self, container: Container) -> None:
        try:
            await container.sandbox.destroy()
        except (SandboxError, OSError) as error:
            log.error("container %s could not be removed: %s", container.id, error)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for container in list(self._containers.values()):
            await self._destroy(container)
        self._containers.clear()


async def uploads_placed(
    request: MessagesRequest, container: Container, containers: ContainerService
) -> MessagesRequest:
    """The request as the model reads it with its container: `container_upload` files copied
    in, each block read as a note of where its file is, and the container's skills listed
    after the system prompt (as the hosted API tells the model about them)."""
    uploads = [
        (block.file_id, f"messages.{index}.content.{position}.file_id")
        for index, message in enumerate(request.messages) if not isinstance(message.content, str)
        for position, block in enumerate(message.content) if isinstance(block, ContainerUploadBlock)
    ]
    where = await containers.place_uploads(container, uploads) if uploads else {}
    messages = []
    for message in request.messages:
        if isinstance(message.content, str) or not uploads:
            messages.append(message)
            continue
        content = [
            TextBlock(type="text", text=f"[The file {where[block.file_id]} is in the code execution container.]")
            if isinstance(block, ContainerUploadBlock) else block
            for block in message.content
        ]
        messages.append(message.model_copy(update={"content": content}))
    system = request.system
    if container.skill_notes:
        listed = "Skills in the code execution container:\n" + "\n".join(container.skill_notes)
        blocks = [TextBlock(type="text", text=system)] if isinstance(system, str) else list(system or [])
        system = [*blocks, TextBlock(type="text", text=listed)]
    return request.model_copy(update={"messages": messages, "system": system})
