"""The command line that runs one command in a sandbox: prlimit → bwrap → setpriv → bash.

bubblewrap runs as root, without a user namespace, and builds the sandbox from namespaces
root creates (mount, pid, network, ipc, uts, cgroup); `setpriv` then becomes the sandbox's
own unprivileged uid, dropping every capability, before bash starts. Root runs bwrap because
bwrap resolves every bind source by path, with its own credentials: an unprivileged bwrap
could not reach the sandbox directories under a root-only DATA_DIR. The unprivileged uid is
what makes RLIMIT_NPROC count (root is exempt), keeps host files owned by root out of reach,
and keeps sandboxes apart from each other even outside their mount namespaces.

Hence no `--unshare-all`, `--uid` or `--disable-userns`: they need a user namespace, which,
created by root, maps the sandbox's uid onto host root (exempt from RLIMIT_NPROC, owner of
root's files). The namespaces are listed one by one instead, and the seccomp filter refuses
new user namespaces inside.

What the sandbox sees: /usr (and the /bin, /lib… links or directories beside it) read-only,
a few /etc entries the dynamic loader, Python and TLS need, synthetic passwd/group/hosts, a
fresh /proc of its own pid namespace, a minimal /dev, its writable tmpfs, and the Mounts.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from antiphon.services.sandbox.layout import HOSTNAME, WORK_DIR, SandboxDirs
from antiphon.services.sandbox.limits import SandboxLimits

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ROOT_ENTRIES = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC_ENTRIES = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "fonts", "ld.so.cache",
    "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "mime.types", "protocols",
    "services", "ssl/certs", "ssl/openssl.cnf", "python3*",
)
# Paths a Mount may not cover or sit under: the system view and the writable areas.
_RESERVED = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc",
             "/dev", "/sys", "/tmp", WORK_DIR)


@dataclass(frozen=True)
class Mount:
    """A host file or directory shown read-only at `sandbox_path` (e.g. "/skills/pdf").
    The sandbox reads it as an unprivileged uid: its files must be world-readable (0644,
    directories 0755); the directories above `host_path` need not be."""

    host_path: Path
    sandbox_path: str

    def __post_init__(self) -> None:
        path = self.sandbox_path
        clean = str(PurePosixPath(path))
        if not path.startswith("/") or clean != path or ".." in path.split("/") or path == "/":
            raise ValueError(f"Mount.sandbox_path: an absolute, normalised path, got {path!r}")
        for reserved in _RESERVED:
            if path == reserved or f"{path}/".startswith(f"{reserved}/") \
                    or reserved.startswith(f"{path}/"):
                raise ValueError(f"Mount.sandbox_path: {path!r} overlaps {reserved}")


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the programs a sandbox needs, found once on the host."""

    bwrap: str
    prlimit: str
    setpriv: str
    bash: str

    @staticmethod
    def find() -> Tools | str:
        """The tools, or a message naming the one missing and its Debian/Ubuntu package."""
        found: dict[str, str] = {}
        for name, package in (("bwrap", "bubblewrap"), ("prlimit", "util-linux"),
                              ("setpriv", "util-linux"), ("bash", "bash")):
            path = shutil.which(name, path=SYSTEM_PATH)
            if path is None:
                return f"`{name}` not found: install it (Debian/Ubuntu: apt-get install {package})"
            found[name] = path
        return Tools(**found)


def system_view() -> list[str]:
    """bwrap options showing the host's system files read-only, as they are on this host."""
    options: list[str] = []
    for name in _ROOT_ENTRIES:
        path = Path("/") / name
        if path.is_symlink():
            options += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            options += ["--ro-bind", str(path), str(path)]
    options += ["--dir", "/etc", "--dir", "/home", "--dir", "/etc/ssl"]
    for pattern in _ETC_ENTRIES:
        for match in sorted(glob.glob(f"/etc/{pattern}")):
            options += ["--ro-bind", match, match]
    return options


def memory_file(data: bytes) -> int:
    """An in-memory file holding `data`, positioned at its start, for bwrap to read."""
    fd = os.memfd_create("antiphon-sandbox", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def launch(tools: Tools, limits: SandboxLimits, system: list[str], dirs: SandboxDirs, uid: int,
           mounts: tuple[Mount, ...], seccomp: bytes | None,
           command: str) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """The argv to execute and the descriptors it needs, open while the caller starts it.
    bwrap reads its options from a descriptor (`--args`): the sandbox's pid 1 is bwrap, and
    its command line, which the sandbox can read, shows no host path that way."""
    fds: list[int] = []
    try:
        if seccomp is not None:
            fds.append(memory_file(seccomp))
        options = _bwrap_options(system, dirs, mounts, fds[0] if fds else None)
        fds.append(memory_file(b"".join(os.fsencode(option) + b"\0" for option in options)))
        yield [
            tools.prlimit, *limits.prlimit_args(), "--", tools.bwrap, "--args", str(fds[-1]),
            "--", tools.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--", tools.bash, "-c", command,
        ], tuple(fds)
    finally:
        for fd in fds:
            os.close(fd)


def _bwrap_options(system: list[str], dirs: SandboxDirs, mounts: tuple[Mount, ...],
                   seccomp_fd: int | None) -> list[str]:
    options = [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
        "--unshare-cgroup-try", "--hostname", HOSTNAME, "--die-with-parent", "--new-session",
        # setpriv needs these three to drop to the sandbox uid and empty the bounding set.
        "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        "--cap-add", "CAP_SETPCAP",
        "--clearenv", "--setenv", "PATH", SYSTEM_PATH, "--setenv", "HOME", WORK_DIR,
        "--setenv", "LANG", "C.UTF-8",
        *system, "--proc", "/proc", "--dev", "/dev",
    ]
    for host_file, path in dirs.etc_files():
        options += ["--ro-bind", str(host_file), path]
    for path, host_dir in dirs.writable():
        options += ["--bind", str(host_dir), path]
    made: set[PurePosixPath] = set()
    for mount in sorted(mounts, key=lambda mount: mount.sandbox_path):
        # bwrap would create missing parents root-only (0700): make them 0755 first.
        for parent in reversed(PurePosixPath(mount.sandbox_path).parents[:-1]):
            if parent not in made:
                made.add(parent)
                options += ["--dir", str(parent)]
        options += ["--ro-bind", str(mount.host_path), mount.sandbox_path]
    options += ["--remount-ro", "/"]
    if seccomp_fd is not None:
        options += ["--seccomp", str(seccomp_fd)]
    return options + ["--chdir", WORK_DIR]
