"""All the sandboxes of one server: created under one root directory, found by id, removed.

Each sandbox gets a uid of its own, drawn at random from 1.9e9 + [0, 2^24): inside the block
systemd documents as unused (0x70000000–0x7FFEFFFF), far from users and container ranges,
never two alike at once in one host. One SandboxHost owns its root: `remove_leftovers` at
start-up deletes the sandbox directories (only names it makes) that a crash left there.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from antiphon.services.sandbox import layout
from antiphon.services.sandbox.bwrap import Mount, Tools, launch, system_view
from antiphon.services.sandbox.errors import SandboxUnavailable
from antiphon.services.sandbox.limits import SandboxLimits
from antiphon.services.sandbox.sandbox import Sandbox
from antiphon.services.sandbox.seccomp import seccomp_program
from antiphon.services.sandbox.tmpfs import sandbox_mounts_under

UID_BASE, UID_COUNT = 1_900_000_000, 1 << 24
SANDBOX_ID = re.compile(r"sandbox_[0-9a-f]{24}")
_PROBE_SECONDS = 20


class SandboxHost:
    def __init__(self, root: Path, limits: SandboxLimits = SandboxLimits()) -> None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.chmod(0o700)
        self.root = root.resolve()
        self.limits = limits
        self._sandboxes: dict[str, Sandbox] = {}
        self._system = system_view()
        self._seccomp = seccomp_program()
        tools = Tools.find()
        self._tools = tools if isinstance(tools, Tools) else None
        self._missing = tools if isinstance(tools, str) else None

    @staticmethod
    def check_available() -> str | None:
        """None when sandboxes work on this host, else why not and how to fix it. Runs a
        trial sandbox: bubblewrap, namespaces and the seccomp filter all get used."""
        if not sys.platform.startswith("linux"):
            return "code execution sandboxes need Linux (bubblewrap)"
        if os.geteuid() != 0:
            return ("code execution sandboxes need the server to run as root: each sandbox "
                    "gets a size-limited tmpfs and an unprivileged uid of its own")
        tools = Tools.find()
        if isinstance(tools, str):
            return tools
        return _trial_run(tools)

    async def create(self, mounts: Sequence[Mount] = ()) -> Sandbox:
        if self._tools is None:
            raise SandboxUnavailable(self._missing or "sandbox tools missing")
        for mount in mounts:
            if not mount.host_path.exists():
                raise FileNotFoundError(f"Mount.host_path: {mount.host_path} does not exist")
        sandbox_id = f"sandbox_{secrets.token_hex(12)}"
        uid = self._free_uid()
        try:
            dirs = await asyncio.to_thread(layout.prepare, self.root / sandbox_id, uid,
                                           self.limits)
        except PermissionError as error:
            raise SandboxUnavailable(f"cannot prepare a sandbox (needs root): {error}") from error
        sandbox = Sandbox(sandbox_id, uid, dirs, tuple(mounts), self.limits, self._tools,
                          self._system, self._seccomp, self._forget)
        self._sandboxes[sandbox_id] = sandbox
        return sandbox

    def _free_uid(self) -> int:
        taken = {sandbox.uid for sandbox in self._sandboxes.values()}
        while (uid := UID_BASE + secrets.randbelow(UID_COUNT)) in taken:
            pass
        return uid

    def _forget(self, sandbox: Sandbox) -> None:
        self._sandboxes.pop(sandbox.id, None)

    def get(self, sandbox_id: str) -> Sandbox | None:
        return self._sandboxes.get(sandbox_id)

    async def destroy_all(self) -> None:
        await asyncio.gather(*(sandbox.destroy() for sandbox in list(self._sandboxes.values())))

    async def remove_leftovers(self) -> None:
        """At start-up: unmount and delete what a crashed server left under the root (its
        sandboxes' processes died with it: bwrap runs with --die-with-parent)."""
        await asyncio.to_thread(self._remove_leftovers)

    def _remove_leftovers(self) -> None:
        live = {sandbox.id for sandbox in self._sandboxes.values()}
        stale = {path.name for path in sandbox_mounts_under(self.root)}
        stale |= {path.name for path in self.root.iterdir()}
        # Only names this class makes: a root pointed at a directory with other data in it
        # must not lose that data.
        for name in sorted(name for name in stale - live if SANDBOX_ID.fullmatch(name)):
            layout.remove(self.root / name)


def _trial_run(tools: Tools) -> str | None:
    """Run `echo ok` in a throwaway sandbox built exactly as real ones are."""
    limits = SandboxLimits(wall_seconds=_PROBE_SECONDS, disk_bytes=2**20)
    with tempfile.TemporaryDirectory(prefix="antiphon-sandbox-probe-") as scratch:
        base = Path(scratch) / "probe"
        try:
            dirs = layout.prepare(base, UID_BASE, limits)
            with launch(tools, limits, system_view(), dirs, UID_BASE, (), seccomp_program(),
                        "echo ok") as (argv, fds):
                done = subprocess.run(argv, env={}, pass_fds=fds, capture_output=True,
                                      timeout=_PROBE_SECONDS, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            return f"cannot start a trial sandbox: {error}"
        finally:
            layout.remove(base)
    if done.returncode != 0 or done.stdout != b"ok\n":
        detail = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        return (f"bubblewrap cannot create a sandbox here ({detail}); it needs bubblewrap 0.5 "
                "or newer and a kernel with namespaces enabled")
    return None
