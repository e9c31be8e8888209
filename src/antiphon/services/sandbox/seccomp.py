"""A seccomp filter (classic BPF, built here) that closes the kernel's riskiest doors.

bubblewrap runs the sandbox in namespaces created by root, so the sandbox itself holds no
capability anywhere. What an unprivileged process can still reach, and what most container
escapes have gone through, is refused: creating user namespaces (which hand out capabilities
over new namespaces: netfilter, mounts), joining namespaces, the mount API, io_uring, eBPF,
perf events, userfaultfd, keyrings, module and kexec loading. `clone3` answers ENOSYS because
its flags sit in memory a filter cannot read; glibc then falls back to `clone`. Calls made
through another ABI (i386 `int 0x80`, x32) are refused outright: their numbers differ.

Built for x86_64 and aarch64; on another architecture `seccomp_program` returns None and the
sandbox runs without a filter (namespaces and the unprivileged uid still hold).
"""

from __future__ import annotations

import errno
import platform
import struct

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_X32_SYSCALL_BIT = 0x40000000
# clone() flags that create namespaces (CLONE_NEWNS … CLONE_NEWNET).
_NEW_NAMESPACE_FLAGS = 0x7E020000

_REFUSED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
    "request_key", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module",
)

_X86_64 = {
    "clone": 56, "clone3": 435, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
    "pivot_root": 155, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "kexec_load": 246,
    "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
}
_AARCH64 = {
    "clone": 220, "clone3": 435, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
    "pivot_root": 41, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "bpf": 280, "perf_event_open": 241,
    "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218, "kexec_load": 104,
    "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
}
# machine → (AUDIT_ARCH_*, syscall numbers, whether x32 numbers exist)
_ARCHES = {
    "x86_64": (0xC000003E, _X86_64, True),
    "aarch64": (0xC00000B7, _AARCH64, False),
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter as `struct sock_filter[]` bytes, for bwrap's `--seccomp FD`."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, numbers, has_x32 = arch
    refuse, nosys = _ret_errno(errno.EPERM), _ret_errno(errno.ENOSYS)
    program = [_op(_LD_W_ABS, 4), _op(_JEQ, audit_arch, jt=1), nosys, _op(_LD_W_ABS, 0)]
    if has_x32:
        program += [_op(_JGE, _X32_SYSCALL_BIT, jf=1), nosys]
    for name in _REFUSED:
        program += [_op(_JEQ, numbers[name], jf=1), refuse]
    program += [_op(_JEQ, numbers["clone3"], jf=1), nosys]
    # clone(flags, …): refused only when flags ask for a new namespace; args[0] low word.
    program += [
        _op(_JEQ, numbers["clone"], jf=3), _op(_LD_W_ABS, 16),
        _op(_JSET, _NEW_NAMESPACE_FLAGS, jf=1), refuse, _op(_RET, _ALLOW),
    ]
    return b"".join(program)


def _ret_errno(number: int) -> bytes:
    return _op(_RET, _ERRNO | number)

