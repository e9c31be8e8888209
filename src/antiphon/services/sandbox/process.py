"""Run one sandboxed command: its output capped, its run time bounded, nothing left running.

On timeout the bwrap process group is killed; bwrap's --die-with-parent then kills the
sandbox's pid 1, and the kernel kills every process of a pid namespace whose pid 1 dies.
A sweep follows that signals every process of the sandbox's uid (`kill -KILL -1` run as that
uid), which would also catch one that had somehow left the namespace. Output past the cap is
read and dropped, so a chatty command never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from antiphon.services.sandbox.bwrap import Tools

TIMEOUT_RETURN_CODE = 124  # as GNU timeout(1)
_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class CommandResult:
    stdout: str
    stderr: str
    return_code: int
    timed_out: bool


async def _read_head(stream: asyncio.StreamReader, limit: int) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return bytes(kept)


async def kill_all_of_uid(uid: int, tools: Tools) -> None:
    """SIGKILL every process whose real uid is `uid` (the sweeping shell excepted). setpriv
    changes the uid rather than Popen's `user=`, which uvloop does not support."""
    sweep = await asyncio.create_subprocess_exec(
        tools.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", tools.bash,
        "-c", "kill -KILL -1 2>/dev/null; exit 0", env={}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await sweep.wait()


async def run_contained(argv: Sequence[str], *, pass_fds: Sequence[int], wall_seconds: float,
                        output_bytes: int, uid: int, tools: Tools) -> CommandResult:
    """Run `argv` (prlimit … bwrap … bash -c) with an empty environment."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={}, pass_fds=tuple(pass_fds),
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    readers = [asyncio.ensure_future(_read_head(stream, output_bytes))
               for stream in (process.stdout, process.stderr)]
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), wall_seconds)
    except TimeoutError:
        timed_out = True
    except BaseException:
        for reader in readers:
            reader.cancel()
        raise
    finally:
        # Also on cancellation: a request that goes away must not leave its command running.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.shield(_reap(process, uid, tools))
    done, pending = await asyncio.wait(readers, timeout=_DRAIN_SECONDS)
    for reader in pending:
        reader.cancel()
    stdout, stderr = (reader.result() if reader in done else b"" for reader in readers)
    return CommandResult(
        stdout=stdout.decode("utf-8", errors="replace"),
        stderr=stderr.decode("utf-8", errors="replace"),
        return_code=TIMEOUT_RETURN_CODE if timed_out else _return_code(process.returncode),
        timed_out=timed_out,
    )


async def _reap(process: asyncio.subprocess.Process, uid: int, tools: Tools) -> None:
    await process.wait()
    await kill_all_of_uid(uid, tools)


def _return_code(code: int | None) -> int:
    """A signal that killed bwrap itself reads as the shell would report it."""
    if code is None:
        return -1
    return 128 - code if code < 0 else code
