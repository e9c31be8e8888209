"""One sandbox: a writable tmpfs kept between commands, each command a fresh bwrap.

Nothing runs between commands: a command's processes, background ones included, end with
it (its pid namespace dies with its pid 1). What persists is the files. Commands in one
sandbox run one at a time, so they share the process limit with no one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from antiphon.services.sandbox import layout
from antiphon.services.sandbox.bwrap import Mount, Tools, launch
from antiphon.services.sandbox.errors import SandboxGone
from antiphon.services.sandbox.layout import WORK_DIR, SandboxDirs
from antiphon.services.sandbox.limits import SandboxLimits
from antiphon.services.sandbox.paths import WritableArea
from antiphon.services.sandbox.process import CommandResult, kill_all_of_uid, run_contained

MAX_COMMAND_BYTES = 100_000  # one argv string may not exceed 128 KiB (MAX_ARG_STRLEN)


class Sandbox:
    work_dir = WORK_DIR

    def __init__(self, sandbox_id: str, uid: int, dirs: SandboxDirs, mounts: tuple[Mount, ...],
                 limits: SandboxLimits, tools: Tools, system: list[str], seccomp: bytes | None,
                 forget: Callable[[Sandbox], None]) -> None:
        self.id = sandbox_id
        self.uid = uid
        self.mounts = mounts
        self.limits = limits
        self._dirs = dirs
        self._tools = tools
        self._system = system
        self._seccomp = seccomp
        self._forget = forget
        self._files = WritableArea(dirs.writable(), WORK_DIR, uid)
        self._lock = asyncio.Lock()
        self._gone = False

    def _check(self) -> None:
        if self._gone:
            raise SandboxGone(f"sandbox {self.id} was destroyed")

    async def run(self, command: str) -> CommandResult:
        """`bash -c command` in the work dir; never raises for what the command does."""
        if "\0" in command or len(command.encode()) > MAX_COMMAND_BYTES:
            raise ValueError(f"command: no NUL bytes and at most {MAX_COMMAND_BYTES} bytes")
        async with self._lock:
            self._check()
            with launch(self._tools, self.limits, self._system, self._dirs, self.uid,
                        self.mounts, self._seccomp, command) as (argv, fds):
                return await run_contained(
                    argv, pass_fds=fds, wall_seconds=self.limits.wall_seconds,
                    output_bytes=self.limits.output_bytes, uid=self.uid, tools=self._tools,
                )

    async def write_file(self, path: str, data: bytes) -> None:
        """Write a file the sandbox's user owns; `path` is inside the sandbox (relative:
        under the work dir), missing directories are created."""
        self._check()
        await asyncio.to_thread(self._files.write, path, data)

    async def read_file(self, path: str, max_bytes: int) -> bytes:
        self._check()
        return await asyncio.to_thread(self._files.read, path, max_bytes)

    def files_changed_since(self, moment: float) -> list[str]:
        """Writable files (work dir, /tmp, /dev/shm) created or modified at or after
        `moment` (a `time.time()` value), as sandbox paths."""
        self._check()
        return self._files.changed_since(moment)

    async def destroy(self) -> None:
        """Kill what runs, unmount the tmpfs, delete its directory. Idempotent."""
        if not self._gone:
            self._gone = True
            self._forget(self)
            # A running command dies now (its shell dies, then its pid 1), not at its limit.
            await kill_all_of_uid(self.uid, self._tools)
        async with self._lock:
            if self._dirs.base.exists():
                await kill_all_of_uid(self.uid, self._tools)
                await asyncio.to_thread(layout.remove, self._dirs.base)
