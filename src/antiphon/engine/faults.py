"""Faults injected on purpose, for the tests that prove failures are survived.

Off unless the environment of the server process names one; nothing sets them outside the
test suite. They fail the way a bug in the engine would: by raising on the engine thread.

- `ANTIPHON_FAULT_ENGINE_CRASH_AFTER_STEPS=N`: the engine thread raises after its Nth
  decode step (mid-stream when requests are running).
- `ANTIPHON_FAULT_ENGINE_FREE_FAILS=1`: freeing a sequence's samplers raises, as cleanup
  that itself fails would while the engine fails every request.
"""

from __future__ import annotations

import os


class InjectedFault(RuntimeError):
    """A failure the environment asked for."""


def _setting(name: str) -> int:
    try:
        return int(os.environ.get(f"ANTIPHON_FAULT_{name}", "0"))
    except ValueError:
        return 0


CRASH_AFTER_STEPS = _setting("ENGINE_CRASH_AFTER_STEPS")
FREE_FAILS = bool(_setting("ENGINE_FREE_FAILS"))


def after_step(steps: int) -> None:
    if CRASH_AFTER_STEPS and steps >= CRASH_AFTER_STEPS:
        raise InjectedFault(f"injected engine crash after step {steps}")


def on_free() -> None:
    if FREE_FAILS:
        raise InjectedFault("injected failure while freeing a sequence")
