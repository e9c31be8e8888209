"""`--on-engine-failure exit`: a server whose engine died shuts itself down for its
supervisor to restart.

An engine whose thread died answers every request it held with an error and refuses new
ones (engine/llamacpp.py); what is left is a process that can no longer do its main job.
Under systemd, Kubernetes or Docker the right move is to exit and be started again, as vLLM
does when its engine dies. The watcher asks the server to stop as SIGTERM would (uvicorn
drains the other requests), and `antiphon serve` then exits with status 3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from antiphon.services.models import ModelRegistry

log = logging.getLogger(__name__)

ENGINE_FAILED_EXIT_STATUS = 3
_POLL_SECONDS = 0.25


async def exit_when_an_engine_fails(registry: ModelRegistry, shut_down: Callable[[], None]) -> None:
    """Runs for the server's lifetime; returns once it has asked the server to stop."""
    while True:
        failed = [model for model in registry if model.engine.failure is not None]
        if failed:
            for model in failed:
                log.error("the engine serving %s failed: %s", model.card.id, model.engine.failure)
            log.error(
                "shutting down (exit status %d) for a supervisor to restart the server; "
                "--on-engine-failure serve keeps it up instead", ENGINE_FAILED_EXIT_STATUS,
            )
            shut_down()
            return
        await asyncio.sleep(_POLL_SECONDS)
