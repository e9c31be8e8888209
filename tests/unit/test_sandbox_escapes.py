"""Escape attempts against the code execution sandbox: each one must fail.

Real bubblewrap, real commands, run as an attacker's code would. Skipped, with the reason,
where this host cannot run sandboxes (not root, no bubblewrap: `apt-get install bubblewrap`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from antiphon.services.sandbox import (
    Sandbox,
    SandboxFileTooLarge,
    SandboxHost,
    SandboxLimits,
    SandboxPathError,
)
from antiphon.services.sandbox.tmpfs import sandbox_mounts_under

pytestmark = pytest.mark.usefixtures("sandboxes_work")  # tests/conftest.py
T = TypeVar("T")


def in_sandbox(root: Path, scenario: Callable[[Sandbox], Awaitable[T]],
               limits: SandboxLimits = SandboxLimits(wall_seconds=20)) -> T:
    async def main() -> T:
        host = SandboxHost(root / "sandboxes", limits)
        sandbox = await host.create()
        try:
            return await scenario(sandbox)
        finally:
            await host.destroy_all()

    return asyncio.run(main())


def processes_of(uid: int) -> list[str]:
    """Command lines of the host's processes whose real uid is `uid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def processes_matching(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.name != str(os.getpid()):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if marker in cmdline:
                    found.append(cmdline)
        except OSError:
            continue
    return found


def test_host_files_are_absent(tmp_path: Path) -> None:
    marker = tmp_path / "host-secret.txt"
    marker.write_text("host secret\n")
    marker.chmod(0o644)
    probes = [f"cat {marker}", "cat /etc/shadow", "ls /root", "ls /work", "ls /sys",
              f"ls {Path.cwd()}", "cat /proc/1/root/etc/shadow", "ls /proc/1/root/root",
              f"ls {tmp_path}"]

    async def scenario(sandbox: Sandbox) -> list[tuple[int, str]]:
        results = [await sandbox.run(probe) for probe in probes]
        # A control copy of the secret inside the sandbox shows the search works.
        everything = await sandbox.run("echo host secret > /tmp/control; cat /etc/passwd; ls /; "
                                       "grep -rlD skip 'host secre[t]' / --exclude-dir=usr "
                                       "--exclude-dir=proc 2>/dev/null")
        return [(r.return_code, r.stdout) for r in results] + [(0, everything.stdout)]

    outcomes = in_sandbox(tmp_path, scenario)
    for probe, (code, stdout) in zip(probes, outcomes):
        assert code != 0 and stdout == "", probe
    listing = outcomes[-1][1]
    assert listing.endswith("\n/tmp/control\n") and str(marker) not in listing
    assert {"work", "root", "sys"}.isdisjoint(listing.split())
    assert "user:x:" in listing and ":/root:/bin/bash" not in listing  # synthetic passwd


def test_host_environment_is_invisible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIPHON_TEST_API_KEY", "sk-ant-marker-1234")

    async def scenario(sandbox: Sandbox) -> str:
        env = await sandbox.run("env; cat /proc/1/environ /proc/self/environ 2>/dev/null")
        return env.stdout

    seen = in_sandbox(tmp_path, scenario)
    assert "sk-ant-marker-1234" not in seen and "ANTIPHON_TEST_API_KEY" not in seen
    names = {line.split("=", 1)[0] for line in seen.splitlines() if "=" in line}
    assert names <= {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_"}, names


def test_network_is_unreachable(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    connect = ("python3 -c \"import socket; socket.create_connection(('{}', {}), 2); "
               "print('connected')\"")

    async def scenario(sandbox: Sandbox) -> list[tuple[int, str]]:
        probes = [connect.format("127.0.0.1", port), connect.format("1.1.1.1", 53),
                  "python3 -c \"import socket; print(socket.getaddrinfo('example.com', 443))\"",
                  "cat /proc/net/dev | tail -n +3 | cut -d: -f1"]
        return [((r := await sandbox.run(probe)).return_code, r.stdout) for probe in probes]

    try:
        host_port, outside, dns, interfaces = in_sandbox(tmp_path, scenario)
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
    assert host_port[0] != 0 and "connected" not in host_port[1]
    assert outside[0] != 0 and "connected" not in outside[1]
    assert dns[0] != 0 and dns[1] == ""
    assert interfaces[1].split() == ["lo"]


def test_fork_bomb_stops_at_the_process_limit(tmp_path: Path) -> None:
    limits = SandboxLimits(wall_seconds=3, max_processes=32)

    async def scenario(sandbox: Sandbox) -> tuple[float, int, list[str], str]:
        started = time.monotonic()
        # The shell stays to the end (sleep), so the bomb runs until the wall limit.
        bomb = asyncio.ensure_future(sandbox.run(":(){ :|:& };: ; sleep 30"))
        most = 0
        while not bomb.done():
            most = max(most, len(processes_of(sandbox.uid)))
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        assert bomb.result().timed_out
        assert "Resource temporarily unavailable" in bomb.result().stderr
        after = await sandbox.run("echo still usable")
        return elapsed, most, processes_of(sandbox.uid), after.stdout

    elapsed, most, survivors, after = in_sandbox(tmp_path, scenario, limits)
    assert elapsed < limits.wall_seconds + 5
    assert limits.max_processes // 2 < most <= limits.max_processes, most
    assert survivors == []
    assert after == "still usable\n"
    # The host still forks, and promptly.
    started = time.monotonic()
    assert subprocess.run(["true"], check=False).returncode == 0
    assert time.monotonic() - started < 2


def test_filling_the_disk_stops_at_disk_bytes(tmp_path: Path) -> None:
    limits = SandboxLimits(wall_seconds=20, disk_bytes=32 * 2**20)

    async def scenario(sandbox: Sandbox) -> tuple[int, str, int, int]:
        fill = await sandbox.run("dd if=/dev/zero of=big bs=1M count=2000; "
                                 "dd if=/dev/zero of=/tmp/big bs=1M count=2000; "
                                 "dd if=/dev/zero of=/dev/shm/big bs=1M count=2000")
        with pytest.raises(SandboxFileTooLarge):
            await sandbox.write_file("more.bin", b"\0" * (8 * 2**20))
        stats = os.statvfs(tmp_path / "sandboxes" / sandbox.id)
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        total = await sandbox.run("du -sbc /home/user /tmp /dev/shm | tail -1 | cut -f1")
        return fill.return_code, fill.stderr, used, int(total.stdout)

    code, stderr, used, total = in_sandbox(tmp_path, scenario, limits)
    assert code != 0 and "No space left on device" in stderr
    assert used <= limits.disk_bytes and total <= limits.disk_bytes


def test_wall_limit_kills_every_process(tmp_path: Path) -> None:
    marker = f"antiphon-wall-{os.getpid()}-{time.time_ns()}"
    limits = SandboxLimits(wall_seconds=1)

    async def scenario(sandbox: Sandbox) -> tuple[float, int, bool, str]:
        started = time.monotonic()
        result = await sandbox.run(
            f"(sleep 60; echo {marker}) & setsid sleep 61 {marker} & sleep 60 # {marker}")
        elapsed = time.monotonic() - started
        # A background process outlives neither a command that finished nor one killed.
        quick = await sandbox.run(f"nohup sleep 62 {marker} >/dev/null 2>&1 & echo started")
        return elapsed, result.return_code, result.timed_out, quick.stdout

    elapsed, code, timed_out, quick = in_sandbox(tmp_path, scenario, limits)
    assert timed_out and code == 124
    assert elapsed < 4
    assert quick == "started\n"
    assert processes_matching(marker) == []


def test_sandboxes_cannot_see_each_other(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], str, str]:
        host = SandboxHost(tmp_path / "sandboxes", SandboxLimits(wall_seconds=20))
        first, second = await host.create(), await host.create()
        try:
            await first.run("echo first-secret > secret.txt; echo t > /tmp/first-tmp")
            holder = asyncio.ensure_future(first.run("sleep 3; cat secret.txt # holding-open"))
            await asyncio.sleep(0.5)
            other = tmp_path / "sandboxes" / first.id / "home" / "secret.txt"
            # Patterns are written so that they do not match their own command line in /proc.
            probes = [
                f"cat /home/user/secret.txt /tmp/first-tmp {other}",
                "cat /proc/*/root/home/user/secret.txt /proc/*/cwd/secret.txt",
                "grep -rlD skip 'first-secre[t]' / --exclude-dir=usr --exclude-dir=proc",
                "cat /proc/*/cmdline | tr '\\0' ' ' | grep 'holding-ope[n]'",
                f"ps -eo uid,args | grep '^ *{first.uid}'",
                "kill -9 -1; echo survived",
            ]
            seen = [(await second.run(probe)).stdout for probe in probes]
            await holder
            mine = await first.run("cat secret.txt")
            return seen, mine.stdout, (await holder).stdout
        finally:
            await host.destroy_all()

    seen, mine, held = asyncio.run(main())
    assert seen == ["", "", "", "", "", "survived\n"]
    assert mine == held == "first-secret\n"  # the other sandbox's kill did not reach it


def test_write_file_refuses_escapes(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostname = Path("/etc/hostname").read_bytes()

    async def scenario(sandbox: Sandbox) -> str:
        await sandbox.run(f"ln -s /etc etc-link; ln -s /etc/hostname host-file; "
                          f"ln -s {outside} out-link; ln -s /home/user/real inner-link; "
                          "mkdir real; mkfifo pipe; ln -s / root-link")
        refused = ["../../etc/x", "/home/user/../../etc/x", "etc-link/x", "host-file",
                   "out-link/x", "inner-link/x", "/tmp/../etc/x", "pipe"]
        for path in refused:
            with pytest.raises(SandboxPathError):
                await sandbox.write_file(path, b"pwned")
        for path in ("host-file", "etc-link/hostname", "pipe", "root-link/etc/shadow"):
            with pytest.raises(SandboxPathError):
                await sandbox.read_file(path, 1 << 20)
        assert sandbox.files_changed_since(0) == []  # never follows root-link into /
        return (await sandbox.run("ls real")).stdout

    assert in_sandbox(tmp_path, scenario) == ""
    assert not Path("/etc/x").exists() and list(outside.iterdir()) == []
    assert Path("/etc/hostname").read_bytes() == hostname


def test_destroy_leaves_no_trace(tmp_path: Path) -> None:
    root = tmp_path / "sandboxes"

    async def main() -> tuple[str, int]:
        host = SandboxHost(root, SandboxLimits(wall_seconds=20))
        sandbox = await host.create()
        await sandbox.run("echo data > file; mkdir -p a/b/c; chmod 000 a")
        running = asyncio.ensure_future(sandbox.run("sleep 30 # destroyed while running"))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await sandbox.destroy()
        result = await running
        assert time.monotonic() - started < 5 and result.return_code != 0
        return sandbox.id, sandbox.uid

    sandbox_id, uid = asyncio.run(main())
    assert list(root.iterdir()) == []
    assert sandbox_mounts_under(root.resolve()) == []
    assert sandbox_id not in Path("/proc/self/mountinfo").read_text()
    assert processes_of(uid) == []


def test_memory_hog_fails_under_the_memory_limit(tmp_path: Path) -> None:
    limits = SandboxLimits(wall_seconds=20, memory_bytes=256 * 2**20)
    result = in_sandbox(tmp_path, lambda sandbox: sandbox.run(
        "python3 -c 'x = bytearray(2**31)'"), limits)
    assert result.return_code != 0 and "MemoryError" in result.stderr


def test_cpu_limit_stops_a_busy_loop(tmp_path: Path) -> None:
    limits = SandboxLimits(wall_seconds=20, cpu_seconds=1)
    started = time.monotonic()
    result = in_sandbox(tmp_path, lambda sandbox: sandbox.run(
        "python3 -c 'while True: pass'; echo status=$?"), limits)
    assert not result.timed_out and time.monotonic() - started < 10
    assert result.stdout in ("status=137\n", "status=152\n")  # SIGKILL or SIGXCPU


def test_no_privilege_and_no_new_namespaces(tmp_path: Path) -> None:
    probes = ["unshare -U true", "unshare -r true", "mount -t tmpfs none /tmp",
              "su -c id root </dev/null", "python3 -c 'import os; os.setuid(0)'",
              "chroot / true", "grep -v '^0000000000000000 ' /proc/kallsyms | head -1",
              "cat /proc/1/maps"]

    async def scenario(sandbox: Sandbox) -> list[tuple[int, str]]:
        status = await sandbox.run("grep -E '^(Cap(Eff|Prm|Bnd)|NoNewPrivs|Seccomp):' "
                                   "/proc/self/status")
        results = [await sandbox.run(probe) for probe in probes]
        return [(0, status.stdout)] + [(r.return_code, r.stdout) for r in results]

    status, *outcomes = in_sandbox(tmp_path, scenario)
    fields = dict(line.split(":\t") for line in status[1].splitlines())
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    for probe, (code, stdout) in zip(probes, outcomes):
        assert stdout == "" or code != 0, probe
