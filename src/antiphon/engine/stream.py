"""The event-loop side of one generation: an async iterator over its events.

Bookkeeping that must happen exactly once (release the queue place, abort a sequence whose
client went away) happens in `aclose`, which `async with` guarantees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from antiphon.engine.base import Finished, GenerationEvent


class GenerationStream:
    def __init__(
        self,
        request_id: str,
        events: asyncio.Queue[GenerationEvent],
        on_close: Callable[[str, bool], None],
    ) -> None:
        self.request_id = request_id
        self._events = events
        self._on_close = on_close
        self._finished = False
        self._closed = False

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> GenerationEvent:
        if self._finished:
            raise StopAsyncIteration
        event = await self._events.get()
        if isinstance(event, Finished):
            self._finished = True
            await self.aclose()
            if event.error is not None:
                raise event.error
        return event

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close(self.request_id, not self._finished)

    async def __aenter__(self) -> GenerationStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
