"""The host's side of a sandbox's files: write, read and list them without being led astray.

The sandbox's code shapes its writable tree and we access it as root, so every path is
walked one component at a time from the area's directory with O_NOFOLLOW: a `..`, a symlink
(wherever it points) or a non-directory on the way is refused, and a name swapped for a
symlink between two steps cannot redirect us. Only regular files are read or written:
opening with O_NONBLOCK keeps a FIFO planted under the name from stalling us.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from antiphon.services.sandbox.errors import SandboxFileTooLarge, SandboxPathError

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# File times come from the kernel's coarse clock, up to a tick (≤ 10 ms) behind time.time():
# a file written just after `moment` may carry an earlier time.
_CLOCK_SLACK = 0.05


@dataclass(frozen=True)
class WritableArea:
    areas: tuple[tuple[str, Path], ...]  # (path inside the sandbox, host directory)
    work_dir: str
    uid: int

    def locate(self, path: str) -> tuple[Path, list[str]]:
        """The area's host directory and the components below it; relative paths are under
        the work dir."""
        if "\0" in path:
            raise SandboxPathError("path: contains a NUL byte")
        absolute = path if path.startswith("/") else f"{self.work_dir}/{path}"
        parts = [part for part in absolute.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise SandboxPathError(f"{path}: `..` is not allowed")
        for inside, host_dir in sorted(self.areas, key=lambda area: -len(area[0])):
            prefix = [part for part in inside.split("/") if part]
            if parts[: len(prefix)] == prefix and len(parts) > len(prefix):
                return host_dir, parts[len(prefix):]
        writable = ", ".join(inside for inside, _ in self.areas)
        raise SandboxPathError(f"{path}: not a file in the sandbox's writable area ({writable})")

    @contextlib.contextmanager
    def _parent(self, path: str, create: bool) -> Iterator[tuple[int, str]]:
        """An open descriptor of the file's directory, and the file's name in it."""
        host_dir, parts = self.locate(path)
        fd = os.open(host_dir, _DIRECTORY)
        try:
            for name in parts[:-1]:
                child = self._step(fd, name, path, create)
                os.close(fd)
                fd = child
            yield fd, parts[-1]
        finally:
            os.close(fd)

    def _step(self, fd: int, name: str, path: str, create: bool) -> int:
        try:
            return os.open(name, _DIRECTORY, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise SandboxPathError(f"{path}: no such file") from None
        except OSError as error:  # ELOOP: a symlink; ENOTDIR: a file or a symlink
            raise SandboxPathError(f"{path}: {name!r} is a symlink or not a directory") from error
        os.mkdir(name, 0o755, dir_fd=fd)
        os.chown(name, self.uid, self.uid, dir_fd=fd, follow_symlinks=False)
        return self._step(fd, name, path, create=False)

    def write(self, path: str, data: bytes) -> None:
        try:
            with self._parent(path, create=True) as (directory, name):
                fd = _open_regular(directory, name, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                try:
                    os.fchown(fd, self.uid, self.uid)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                except OSError:
                    os.unlink(name, dir_fd=directory)  # no half-written file stays behind
                    raise
                finally:
                    os.close(fd)
        except OSError as error:
            if error.errno in _NO_SPACE:
                raise SandboxFileTooLarge(f"{path}: the sandbox's disk space is full") from error
            raise

    def read(self, path: str, max_bytes: int) -> bytes:
        with self._parent(path, create=False) as (directory, name):
            fd = _open_regular(directory, name, path, os.O_RDONLY)
            try:
                if os.fstat(fd).st_size > max_bytes:
                    raise SandboxFileTooLarge(f"{path}: larger than {max_bytes} bytes")
                chunks, size = [], 0
                while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size)):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        raise SandboxFileTooLarge(f"{path}: larger than {max_bytes} bytes")
                return b"".join(chunks)
            finally:
                os.close(fd)

    def changed_since(self, moment: float) -> list[str]:
        """Regular files whose content or inode changed at or after `moment` (so a file
        copied with its old mtime counts too; 50 ms of clock slack), as sandbox paths."""
        since = moment - _CLOCK_SLACK
        found: list[str] = []
        for inside, host_dir in self.areas:
            for relative, info in _walk(host_dir):
                if max(info.st_mtime, info.st_ctime) >= since:
                    found.append(f"{inside}/{relative}")
        return sorted(found)


def _open_regular(directory: int, name: str, path: str, flags: int) -> int:
    try:
        fd = os.open(name, flags | _FILE, 0o644, dir_fd=directory)
    except FileNotFoundError:
        raise SandboxPathError(f"{path}: no such file") from None
    except OSError as error:  # ELOOP (symlink), EISDIR, ENXIO (FIFO without a reader)…
        raise SandboxPathError(f"{path}: not a regular file ({error.strerror})") from error
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SandboxPathError(f"{path}: not a regular file")
    return fd


def _open_below(top: Path, parts: tuple[str, ...]) -> int:
    fd = os.open(top, _DIRECTORY)
    for name in parts:
        try:
            child = os.open(name, _DIRECTORY, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def _walk(top: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to `top`, lstat) of every regular file. Each directory is opened from
    `top` with O_NOFOLLOW at every step, so one swapped for a symlink is skipped, not listed;
    entries that vanish while we look are skipped too."""
    pending: list[tuple[str, ...]] = [()]
    while pending:
        parts = pending.pop()
        try:
            fd = _open_below(top, parts)
        except OSError:
            continue
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append((*parts, entry.name))
                        elif entry.is_file(follow_symlinks=False):
                            yield "/".join((*parts, entry.name)), entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
        finally:
            os.close(fd)
