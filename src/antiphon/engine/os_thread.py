"""Name the calling thread for the operating system, as `top -H`, `ps -L` and /proc show it.

Python before 3.14 names its threads only for itself, so every thread of `antiphon serve`
shows as "antiphon": the engine thread, which should be busy, could not be told from the
event loop or llama.cpp's workers when an operator looks at where the CPU goes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_LINUX_NAME_BYTES = 15  # the kernel's limit, without the terminating NUL


def name_this_thread(name: str) -> None:
    """Best effort: does nothing where the C library has no pthread_setname_np."""
    if sys.version_info >= (3, 14) or not sys.platform.startswith("linux"):
        return  # 3.14 names OS threads from threading.Thread's name itself
    libc_path = ctypes.util.find_library("c")
    if libc_path is None:
        return
    libc = ctypes.CDLL(libc_path)
    setname = getattr(libc, "pthread_setname_np", None)
    if setname is None:
        return
    libc.pthread_self.restype = ctypes.c_void_p
    setname.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    setname(libc.pthread_self(), name.encode("utf-8", "replace")[:_LINUX_NAME_BYTES])
