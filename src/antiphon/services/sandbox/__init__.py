"""Sandboxes for the code execution server tool: bubblewrap containers on the server's host.

Security notes (what a sandbox protects against, and what it does not)
----------------------------------------------------------------------
Each command runs as `prlimit … bwrap … setpriv … bash -c COMMAND` (see `bwrap.py`):

Protected against
- Reading the host's files: the sandbox has its own mount namespace holding only /usr (and
  the /bin, /lib… beside it), a few /etc entries (loader cache, TLS certificates, Python's
  configuration), synthetic passwd/group/hosts, its own /proc, a minimal /dev, its writable
  tmpfs and the read-only Mounts. /root, /home, /tmp, /sys, the host's /proc, the project,
  DATA_DIR and other sandboxes are absent, not merely unreadable.
- Writing outside its space: / and every system path are read-only; only /home/user, /tmp and
  /dev/shm are writable, all on one tmpfs of `disk_bytes` (ENOSPC past it, for every file).
- Secrets in the environment: commands start from an empty environment (PATH, HOME, LANG).
- The network: a network namespace with only its own loopback. No host service (not even
  one on the host's 127.0.0.1), no DNS, no internet.
- Other processes: a pid namespace per command; the sandbox's uid (one per sandbox, never
  root, no capabilities, no_new_privs, no supplementary groups) cannot signal or trace the
  server or another sandbox.
- Exhaustion: RLIMIT_NPROC (fork bombs stop at `max_processes`), RLIMIT_AS, RLIMIT_CPU,
  RLIMIT_NOFILE and a wall-clock limit after which every process of the sandbox is killed;
  stdout and stderr are cut at `output_bytes`.
- The kernel's riskiest interfaces: a seccomp filter refuses user namespaces (and joining or
  creating any namespace), the mount API, io_uring, eBPF, perf events, userfaultfd, keyrings,
  module and kexec loading, and non-native syscall ABIs (see `seccomp.py`).
- Host-side access to sandbox files: `write_file`/`read_file` refuse `..`, symlinks and
  non-regular files at every step (`paths.py`), since the tree is shaped by untrusted code.

Not protected against
- Kernel exploits through the syscalls that remain allowed: this is namespaces, an
  unprivileged uid and a seccomp denylist, not a virtual machine (gVisor or a microVM would
  be the step up).
- Memory in total: RLIMIT_AS bounds each process, so a sandbox may hold up to
  `max_processes × memory_bytes` plus its tmpfs (`disk_bytes`, RAM-backed); no cgroup limits
  the sum. Size the limits to the host, or run the server inside a memory-limited cgroup.
- CPU contention: RLIMIT_CPU is per process and the wall limit per command; concurrent
  sandboxes compete with the server for CPUs (run the server at a lower priority or in a
  cgroup with a CPU quota if that matters).
- Side channels (caches, timing, Spectre-class), and what /proc and /usr reveal: the kernel
  version, CPU model, memory size, installed software (/usr/local included), and, in
  /proc/self/mountinfo, the host paths of the Mounts (not their contents' neighbours).
- Requires root: the server mounts each tmpfs and assigns uids; bwrap itself runs as root
  until setpriv drops to the sandbox uid, so a bubblewrap bug in its setup would run as root.
  Sandbox uids are drawn from a range no one should use (see `host.py`); a process of
  another program running under such a uid would be killed with the sandbox's.

Host packages: `bubblewrap` (0.5 or newer), `util-linux` (prlimit, setpriv) and `bash`;
`SandboxHost.check_available()` runs a trial sandbox and says what is missing.
"""

from __future__ import annotations

from antiphon.services.sandbox.bwrap import Mount
from antiphon.services.sandbox.errors import (
    SandboxError,
    SandboxFileTooLarge,
    SandboxGone,
    SandboxPathError,
    SandboxUnavailable,
)
from antiphon.services.sandbox.host import SandboxHost
from antiphon.services.sandbox.limits import SandboxLimits
from antiphon.services.sandbox.process import CommandResult
from antiphon.services.sandbox.sandbox import Sandbox

__all__ = [
    "CommandResult", "Mount", "Sandbox", "SandboxError", "SandboxFileTooLarge", "SandboxGone",
    "SandboxHost", "SandboxLimits", "SandboxPathError", "SandboxUnavailable",
]
