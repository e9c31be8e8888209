"""The event-loop side of one generation: an async iterator over its events.

Bookkeeping that must happen exactly once (release the queue place, abort a sequence whose
client went away) happens in `aclose`, which `async with` guarantees. The engine's `Admitted`
event is not passed on: `admitted()` waits for it and returns what the prompt found in the
prefix cache, which a response's usage reports before any text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from antiphon.engine.base import Admitted, Finished, GenerationEvent, PromptCacheUsage, TextChunk


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
        self._cache: PromptCacheUsage | None = None
        self._held: GenerationEvent | None = None  # read by `admitted`, not yet returned
        self.output_tokens = 0  # generated so far, as far as events have been read

    def __aiter__(self) -> GenerationStream:
        return self

    @property
    def cache_usage(self) -> PromptCacheUsage | None:
        """What the prompt found in the cache, once the sequence has started."""
        return self._cache

    async def admitted(self) -> PromptCacheUsage:
        """Wait until the sequence has started; raises the engine's error if it failed before
        (the only case in which `Admitted` is not the first event)."""
        if self._cache is None:
            event = await self._events.get()
            if not isinstance(event, Admitted):
                self._held = await self._on_event(event)
                return PromptCacheUsage()
            self._cache = event.cache
        return self._cache

    async def __anext__(self) -> GenerationEvent:
        if self._held is not None:
            event, self._held = self._held, None
            return event
        if self._finished:
            raise StopAsyncIteration
        event = await self._events.get()
        while isinstance(event, Admitted):
            self._cache = event.cache
            event = await self._events.get()
        return await self._on_event(event)

    async def _on_event(self, event: GenerationEvent) -> GenerationEvent:
        if isinstance(event, TextChunk):
            self.output_tokens = max(self.output_tokens, event.generated_tokens)
        if isinstance(event, Finished):
            self.output_tokens = event.output_tokens
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
