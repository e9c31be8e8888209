"""The code execution sandbox, used as the server tool will: real bubblewrap, real commands.

Escape attempts live in test_sandbox_escapes.py. Skipped, with the reason, where this host
cannot run sandboxes (not root, no bubblewrap: `apt-get install bubblewrap`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from antiphon.services.sandbox import (
    Mount,
    Sandbox,
    SandboxFileTooLarge,
    SandboxGone,
    SandboxHost,
    SandboxLimits,
    SandboxPathError,
)
from antiphon.services.sandbox.seccomp import seccomp_program
from antiphon.services.sandbox.tmpfs import sandbox_mounts_under

needs_sandbox = pytest.mark.usefixtures("sandboxes_work")  # tests/conftest.py
T = TypeVar("T")


def in_sandbox(root: Path, scenario: Callable[[Sandbox], Awaitable[T]],
               limits: SandboxLimits = SandboxLimits(wall_seconds=20),
               mounts: Sequence[Mount] = ()) -> T:
    async def main() -> T:
        host = SandboxHost(root / "sandboxes", limits)
        sandbox = await host.create(mounts)
        try:
            return await scenario(sandbox)
        finally:
            await host.destroy_all()

    return asyncio.run(main())


@needs_sandbox
def test_echo_comes_back(tmp_path: Path) -> None:
    result = in_sandbox(tmp_path, lambda sandbox: sandbox.run("echo hi"))
    assert (result.stdout, result.stderr, result.return_code, result.timed_out) == (
        "hi\n", "", 0, False)


@needs_sandbox
def test_stderr_and_exit_status_come_back(tmp_path: Path) -> None:
    result = in_sandbox(tmp_path, lambda sandbox: sandbox.run("echo out; echo oops >&2; exit 3"))
    assert (result.stdout, result.stderr, result.return_code) == ("out\n", "oops\n", 3)


@needs_sandbox
def test_files_persist_between_commands_in_the_work_dir(tmp_path: Path) -> None:
    async def scenario(sandbox: Sandbox) -> tuple[str, str]:
        first = await sandbox.run("pwd; echo 42 > n.txt; echo scratch > /tmp/s")
        second = await sandbox.run("cat n.txt /tmp/s; echo $HOME; id -un")
        return first.stdout, second.stdout

    first, second = in_sandbox(tmp_path, scenario)
    assert first == "/home/user\n"
    assert second == "42\nscratch\n/home/user\nuser\n"


@needs_sandbox
def test_write_file_then_read_file_and_commands_see_it(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40

    async def scenario(sandbox: Sandbox) -> tuple[str, bytes, bytes]:
        await sandbox.write_file("inputs/data.bin", data)
        seen = await sandbox.run("sha256sum inputs/data.bin | cut -c1-64; stat -c %U inputs "
                                 "inputs/data.bin; printf made > inputs/out.txt")
        return (seen.stdout, await sandbox.read_file("/home/user/inputs/data.bin", len(data)),
                await sandbox.read_file("inputs/out.txt", 100))

    seen, back, made = in_sandbox(tmp_path, scenario)
    assert seen == f"{hashlib.sha256(data).hexdigest()}\nuser\nuser\n"
    assert back == data
    assert made == b"made"


@needs_sandbox
def test_read_file_refuses_more_than_max_bytes(tmp_path: Path) -> None:
    async def scenario(sandbox: Sandbox) -> None:
        await sandbox.run("head -c 1000 /dev/zero > big")
        assert len(await sandbox.read_file("big", 1000)) == 1000
        with pytest.raises(SandboxFileTooLarge):
            await sandbox.read_file("big", 999)

    in_sandbox(tmp_path, scenario)


@needs_sandbox
def test_paths_outside_the_writable_area_are_refused(tmp_path: Path) -> None:
    async def scenario(sandbox: Sandbox) -> None:
        for path in ("/etc/passwd", "/usr/bin/x", "/home/other", "/home/user", "/", ""):
            with pytest.raises(SandboxPathError):
                await sandbox.write_file(path, b"x")
        with pytest.raises(SandboxPathError, match="no such file"):
            await sandbox.read_file("missing.txt", 10)
        await sandbox.write_file("/tmp/ok.txt", b"fine")
        assert (await sandbox.run("cat /tmp/ok.txt")).stdout == "fine"

    in_sandbox(tmp_path, scenario)


@needs_sandbox
def test_files_changed_since_lists_what_a_command_created(tmp_path: Path) -> None:
    async def scenario(sandbox: Sandbox) -> list[str]:
        await sandbox.run("echo old > old.txt; mkdir -p .cache")
        await asyncio.sleep(0.2)
        moment = time.time()
        await sandbox.run("mkdir -p out && echo new > out/new.txt && echo t > /tmp/t.txt")
        return sandbox.files_changed_since(moment)

    assert in_sandbox(tmp_path, scenario) == ["/home/user/out/new.txt", "/tmp/t.txt"]


@needs_sandbox
def test_python_runs_inside(tmp_path: Path) -> None:
    result = in_sandbox(tmp_path, lambda sandbox: sandbox.run("python3 -c 'print(1+1)'"))
    assert (result.stdout, result.return_code) == ("2\n", 0)


@needs_sandbox
def test_a_mount_is_readable_and_not_writable(tmp_path: Path) -> None:
    private = tmp_path / "private"  # root-only, like DATA_DIR: only the mounted tree is shared
    skill = private / "skills" / "demo"
    skill.mkdir(parents=True)
    private.chmod(0o700)
    (skill / "SKILL.md").write_text("# demo skill\n")
    mount = Mount(skill, "/skills/demo")

    async def scenario(sandbox: Sandbox) -> tuple[str, str]:
        read = await sandbox.run("cat /skills/demo/SKILL.md")
        write = await sandbox.run("touch /skills/demo/new; echo x >> /skills/demo/SKILL.md; "
                                  "rm /skills/demo/SKILL.md; ls /skills/demo")
        return read.stdout, write.stdout

    read, listing = in_sandbox(tmp_path, scenario, mounts=[mount])
    assert read == "# demo skill\n"
    assert listing == "SKILL.md\n"
    assert (skill / "SKILL.md").read_text() == "# demo skill\n"
    assert sorted(path.name for path in skill.iterdir()) == ["SKILL.md"]


@needs_sandbox
def test_output_keeps_the_head_up_to_the_cap(tmp_path: Path) -> None:
    limits = SandboxLimits(wall_seconds=20, output_bytes=1000)
    result = in_sandbox(tmp_path, lambda sandbox: sandbox.run(
        "seq 1 200000; seq 1 200000 >&2; echo done"), limits)
    assert result.return_code == 0
    assert len(result.stdout) == len(result.stderr) == 1000
    assert result.stdout.startswith("1\n2\n3\n")


@needs_sandbox
def test_destroyed_sandbox_is_gone(tmp_path: Path) -> None:
    async def main() -> None:
        host = SandboxHost(tmp_path / "sandboxes", SandboxLimits(wall_seconds=20))
        sandbox = await host.create()
        assert host.get(sandbox.id) is sandbox
        await sandbox.destroy()
        await sandbox.destroy()
        assert host.get(sandbox.id) is None
        with pytest.raises(SandboxGone):
            await sandbox.run("true")

    asyncio.run(main())


@needs_sandbox
def test_remove_leftovers_clears_what_a_crash_left(tmp_path: Path) -> None:
    root = tmp_path / "sandboxes"

    async def main() -> None:
        crashed = SandboxHost(root)
        sandbox = await crashed.create()
        await sandbox.write_file("work.txt", b"left behind")
        (root / f"sandbox_{'0' * 24}").mkdir()  # a crash between mkdir and mount
        (root / "operator-data").mkdir()  # not ours: kept
        restarted = SandboxHost(root)  # the same root, as after a restart
        await restarted.remove_leftovers()

    asyncio.run(main())
    assert [path.name for path in root.iterdir()] == ["operator-data"]
    assert sandbox_mounts_under(root.resolve()) == []
    assert oct(root.stat().st_mode & 0o777) == "0o700"


def test_mount_paths_must_stay_clear_of_the_system_and_the_work_dir() -> None:
    for bad in ("relative", "/", "/usr/lib/x", "/etc", "/home", "/home/user/data", "/a/../b",
                "/tmp/x", "/proc/self"):
        with pytest.raises(ValueError):
            Mount(Path("/srv"), bad)
    Mount(Path("/srv"), "/skills/pdf")


def test_seccomp_filter_exists_for_the_common_architectures() -> None:
    for machine in ("x86_64", "aarch64"):
        program = seccomp_program(machine)
        assert program is not None and len(program) % 8 == 0 and len(program) // 8 < 4096
    assert seccomp_program("sparc64") is None
