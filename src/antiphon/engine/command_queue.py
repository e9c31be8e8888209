"""The engine thread's inbox: submissions and aborts from other threads, and an end that
leaves nobody waiting.

Submissions are queued under a lock that `close` takes too: once closed, a submission is
refused to its sender instead of queued, and draining the queue once reaches every
submission that raced with the end.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from antiphon.engine.llamacpp_sequence import Submission


@dataclass(frozen=True)
class Abort:
    request_id: str


class Stop:
    pass


Command = Submission | Abort | Stop


class CommandQueue:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.closed = False

    def submit(self, submission: Submission) -> bool:
        """Queue a submission; False (not queued) once the queue is closed. Any thread."""
        with self._lock:
            if self.closed:
                return False
            self._queue.put(submission)
            return True

    def put(self, command: Abort | Stop) -> None:
        self._queue.put(command)

    def get(self, block: bool) -> Command | None:
        """The next command; None when there is none (and `block` is False)."""
        try:
            return self._queue.get(block=block)
        except queue.Empty:
            return None

    def close(self) -> list[Submission]:
        """Take no more submissions; those still queued are returned, for answering."""
        with self._lock:
            self.closed = True
        left: list[Submission] = []
        while (command := self.get(block=False)) is not None:
            if isinstance(command, Submission):
                left.append(command)
        return left
