"""Code execution containers over real sandboxes: a container belongs to its workspace, is
kept while used, and disappears without a trace once idle past its expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import ContainerParams
from antiphon.services.containers import ContainerService
from antiphon.services.sandbox import SandboxLimits

pytestmark = pytest.mark.usefixtures("sandboxes_work")  # root and bubblewrap (tests/conftest.py)


def _service(root: Path, idle_seconds: float) -> ContainerService:
    # Neither skills nor files are used by these containers.
    unused = cast(Any, None)
    return ContainerService(root / "sandboxes", unused, unused, root / "skills", idle_seconds)


def test_a_container_is_its_workspaces_alone_and_expires_without_a_trace(tmp_path: Path) -> None:
    async def scenario() -> None:
        service = _service(tmp_path, idle_seconds=0.5)
        await service.start()
        try:
            container = await service.open("wrkspc_a", None)
            done = await container.sandbox.run("echo kept > note.txt")
            assert done.return_code == 0
            again = await service.open("wrkspc_a", ContainerParams(id=container.id))
            assert again is container and (await again.sandbox.run("cat note.txt")).stdout == "kept\n"
            with pytest.raises(InvalidRequest, match="no container with id"):
                await service.open("wrkspc_b", container.id)  # as unknown as a made-up id
            with pytest.raises(InvalidRequest, match="skills are mounted when a container is created"):
                await service.open("wrkspc_a", ContainerParams.model_validate(
                    {"id": container.id, "skills": [{"type": "custom", "skill_id": "skill_x"}]}))
            await asyncio.sleep(0.7)
            await service.reap()
            with pytest.raises(InvalidRequest, match="expired or unknown"):
                await service.open("wrkspc_a", container.id)
            assert not any((tmp_path / "sandboxes").iterdir())  # nothing left on the host
        finally:
            await service.close()

    asyncio.run(scenario())


def test_code_execution_turned_off_says_so(tmp_path: Path) -> None:
    unused = cast(Any, None)
    service = ContainerService(None, unused, unused, tmp_path, 60.0)
    asyncio.run(service.start())
    with pytest.raises(InvalidRequest, match=r"tools\.0\.type: code execution is not available .*--no-code-execution"):
        service.check_enabled("tools.0.type")


class _Files:
    """Stored files by id, as FilesService hands them to a container."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    async def source_file(self, workspace_id: str | None, file_id: str, path: str) -> Any:
        data = self._files[file_id]
        return SimpleNamespace(id=file_id, filename=f"{file_id}.bin", size_bytes=len(data))

    async def source_bytes(self, stored: Any) -> bytes:
        return self._files[stored.id]


def test_uploads_that_do_not_fit_are_the_requests_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        megabyte = b"x" * (1 << 20)
        five_quarters = b"x" * (5 << 18)  # 1.25 MiB: one fits in 2 MiB, two do not
        files = _Files({"big": megabyte * 3, "half": five_quarters, "other": five_quarters})
        unused = cast(Any, None)
        service = ContainerService(tmp_path / "sandboxes", unused, cast(Any, files), tmp_path / "skills",
                                   60.0, SandboxLimits(disk_bytes=2 << 20))
        await service.start()
        try:
            container = await service.open("wrkspc_a", None)
            with pytest.raises(InvalidRequest, match=r"messages\.0\.content\.0\.file_id: big\.bin .* does not fit"):
                await service.place_uploads(container, [("big", "messages.0.content.0.file_id")])
            placed = await service.place_uploads(container, [("half", "messages.0.content.1.file_id")])
            assert placed == {"half": "/home/user/half.bin"}
            with pytest.raises(InvalidRequest, match="no room left for other.bin"):
                await service.place_uploads(container, [("other", "messages.0.content.2.file_id")])
            assert (await container.sandbox.run("ls")).stdout == "half.bin\n"  # nothing half-written
        finally:
            await service.close()

    asyncio.run(scenario())
