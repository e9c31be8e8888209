"""When background work may take the CPU from decoding.

llama.cpp's worker threads wait for each other by spinning, so on a machine with few cores
any other busy thread slows every step many-fold while it runs (BENCHMARKS.md, issue 13:
the disk tier hashing and writing a 300 MB prefix while Claude Code's answer was decoded
took decoding from 10.9 to 7.5 tokens/s). Background work asks this gate before each piece:
it goes on at once while the engine is idle, and otherwise waits — but never longer than its
deadline, so a server that is never idle still gets its work done, late.

Thread-safe: the engine thread says when it is busy; any thread may wait.
"""

from __future__ import annotations

import threading
import time


class IdleGate:
    def __init__(self, patience_seconds: float) -> None:
        self.patience_seconds = patience_seconds
        self._idle = threading.Event()
        self._idle.set()  # nothing runs before the first request

    def engine_busy(self, busy: bool) -> None:
        """Called by the engine thread on every turn of its loop: the event (and its lock)
        is touched only when the state changes."""
        if busy == self._idle.is_set():
            if busy:
                self._idle.clear()
            else:
                self._idle.set()

    def deadline(self) -> float:
        """The latest moment (monotonic) work given now should wait until."""
        return time.monotonic() + self.patience_seconds

    def wait(self, deadline: float) -> None:
        """Return once the engine is idle, or at `deadline`."""
        remaining = deadline - time.monotonic()
        if remaining > 0:
            self._idle.wait(remaining)
