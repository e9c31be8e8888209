"""Size-limited tmpfs mounts: each sandbox's writable space is one, mounted by the host.

Why a tmpfs mounted by us rather than a directory bubblewrap binds: a bind mount cannot be
size-limited, and RLIMIT_FSIZE bounds one file, not their total. A tmpfs with `size=` and
`nr_inodes=` makes the kernel refuse the byte past the limit (ENOSPC) for every writer, the
sandbox's and ours, and it disappears whole with one unmount. Its cost: the bytes live in
RAM (or swap), so `disk_bytes` counts against memory. A loop-mounted ext4 image would use
disk instead, but needs free loop devices, mkfs and an image file per sandbox.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

SOURCE = "antiphon-sandbox"  # the mount's source name, how leftovers are recognised
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.mount.restype = ctypes.c_int
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int


def _raise_errno(what: str, target: Path) -> None:
    number = ctypes.get_errno()
    raise OSError(number, f"{what} {target}: {os.strerror(number)}")


def mount_tmpfs(target: Path, size_bytes: int, max_inodes: int) -> None:
    """Mount an empty tmpfs on `target` (an existing directory): root's, mode 0700."""
    options = f"size={size_bytes},nr_inodes={max_inodes},mode=0700,uid=0,gid=0"
    flags = _MS_NOSUID | _MS_NODEV
    if _libc.mount(SOURCE.encode(), os.fsencode(target), b"tmpfs", flags, options.encode()):
        _raise_errno("cannot mount a tmpfs on", target)


def unmount(target: Path) -> None:
    """Detach the mount on `target`; its memory is freed once no process uses it (the
    sandbox's processes are killed before)."""
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) and ctypes.get_errno() != errno.EINVAL:
        _raise_errno("cannot unmount", target)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def sandbox_mounts_under(root: Path) -> list[Path]:
    """Our tmpfs mounts directly under `root`, deepest last-mounted first."""
    found: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        for line in table:
            fields = line.split()
            separator = fields.index("-")
            mount_point = Path(_unescape(fields[4]))
            fs_type, source = fields[separator + 1], fields[separator + 2]
            if fs_type == "tmpfs" and source == SOURCE and mount_point.parent == root:
                found.append(mount_point)
    return found[::-1]


def is_mount_point(path: Path) -> bool:
    return path in sandbox_mounts_under(path.parent)
