"""One sandbox's directory on the host: `root/<id>/`, a tmpfs of `disk_bytes`.

    root/<id>/          tmpfs, root's, 0700: the sandbox never sees this level
      home/             → /home/user (the work dir), the sandbox uid's
      tmp/              → /tmp
      shm/              → /dev/shm
      etc/              passwd, group, hosts… bound read-only one by one over /etc/…

Everything the sandbox can write is on the one tmpfs, so `disk_bytes` bounds it all, and
removing the sandbox is one unmount: no walk over a tree its code may have shaped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from antiphon.services.sandbox.limits import SandboxLimits
from antiphon.services.sandbox.tmpfs import is_mount_point, mount_tmpfs, unmount

WORK_DIR = "/home/user"
HOSTNAME = "sandbox"


def _etc_files(uid: int) -> dict[str, str]:
    """A synthetic identity: the host's accounts (and their names) stay invisible."""
    return {
        "passwd": (
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"user:x:{uid}:{uid}:user:{WORK_DIR}:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
        "group": f"root:x:0:\nuser:x:{uid}:\nnogroup:x:65534:\n",
        "hosts": f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost\n",
        "hostname": f"{HOSTNAME}\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
    }


@dataclass(frozen=True)
class SandboxDirs:
    base: Path

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def etc(self) -> Path:
        return self.base / "etc"

    def writable(self) -> tuple[tuple[str, Path], ...]:
        """(path inside the sandbox, host directory) for each writable area."""
        return ((WORK_DIR, self.home), ("/tmp", self.base / "tmp"),
                ("/dev/shm", self.base / "shm"))

    def etc_files(self) -> list[tuple[Path, str]]:
        """(host file, path inside the sandbox) for each synthetic /etc file."""
        return [(self.etc / name, f"/etc/{name}") for name in sorted(_etc_files(0))]


def prepare(base: Path, uid: int, limits: SandboxLimits) -> SandboxDirs:
    """Create, mount and fill `base`; on failure nothing stays behind."""
    base.mkdir(mode=0o700)
    try:
        mount_tmpfs(base, limits.disk_bytes, limits.max_inodes)
        dirs = SandboxDirs(base)
        for _, host_dir in dirs.writable():
            host_dir.mkdir()
            os.chown(host_dir, uid, uid)
        for (_, host_dir), mode in zip(dirs.writable(), (0o755, 0o1777, 0o1777)):
            host_dir.chmod(mode)
        dirs.etc.mkdir(mode=0o755)
        for name, text in _etc_files(uid).items():
            (dirs.etc / name).write_text(text, encoding="utf-8")
            (dirs.etc / name).chmod(0o644)
        return dirs
    except BaseException:
        remove(base)
        raise


def remove(base: Path) -> None:
    """Unmount and delete `base` (a sandbox's directory, or a leftover of one)."""
    if is_mount_point(base):
        unmount(base)
    # Empty once unmounted; a crash between mkdir and mount leaves it so too.
    if base.is_symlink():
        base.unlink()
    elif base.is_dir():
        shutil.rmtree(base)
