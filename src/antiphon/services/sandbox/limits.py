"""How much one sandbox may use, and the kernel resource limits that enforce it per command.

The limits the kernel applies per process (`RLIMIT_*`, through util-linux's `prlimit`) are set
before bubblewrap starts, so every process in the sandbox inherits them and none can raise a
hard limit (that needs CAP_SYS_RESOURCE, which the sandbox never has). `RLIMIT_NPROC` counts
the processes of a real uid, which is why each sandbox runs as a uid of its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 30.0  # one command's run time; past it every process is killed
    cpu_seconds: int = 30  # CPU time per process (RLIMIT_CPU)
    memory_bytes: int = 512 * 2**20  # address space per process (RLIMIT_AS)
    max_processes: int = 64  # processes and threads of the sandbox's uid (RLIMIT_NPROC)
    disk_bytes: int = 256 * 2**20  # the sandbox's writable space (/home/user, /tmp, /dev/shm)
    output_bytes: int = 64 * 1024  # stdout and stderr each keep their first output_bytes
    open_files: int = 1024  # descriptors per process (RLIMIT_NOFILE)

    def __post_init__(self) -> None:
        for name in ("wall_seconds", "cpu_seconds", "memory_bytes", "max_processes",
                     "disk_bytes", "output_bytes", "open_files"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive")
        if self.disk_bytes < 2**20:
            raise ValueError("SandboxLimits.disk_bytes must be at least 1 MiB")

    @property
    def max_inodes(self) -> int:
        """Files and directories in the writable space: a million empty files cost kernel
        memory the byte limit does not see."""
        return max(1024, self.disk_bytes // 16384)

    def prlimit_args(self) -> list[str]:
        """`prlimit` options setting soft and hard limits alike."""
        return [
            f"--as={self.memory_bytes}", f"--cpu={self.cpu_seconds}",
            f"--nproc={self.max_processes}", f"--fsize={self.disk_bytes}",
            f"--nofile={self.open_files}", "--core=0",
        ]
