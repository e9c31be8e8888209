"""Moving prefixes between llama.cpp's KV pool and the prefix store on disk (engine thread).

Saved: each prompt-caching breakpoint of at least MIN_PERSISTED_TOKENS, when the sequence
whose prompt prefilled it ends (its answer sent) or is aborted, and only once however many
prompts run through it before the store's writer has written it. The prefix's cells are lent to a scratch sequence id (a metadata copy in the
unified pool), serialized as llama.cpp's per-sequence state, and handed to the store's
writer.

Restored: when a new prompt starts with a stored prefix longer than what the prefix cache
holds (in the pool or in host memory). The state goes into the scratch id, in whatever
cells are free; if the pool has too few it fails cleanly and the prompt is prefilled as
before. The scheduler then keeps the restored cells as a cache node, pinned for what is
left of the TTL the breakpoint was written with.
"""

from __future__ import annotations

import logging
import time

from antiphon.engine.llamacpp_kv import LlamaKvCells
from antiphon.engine.prefix_store import PrefixStore
from antiphon.engine.scheduler import Scheduler, Sequence

log = logging.getLogger(__name__)

MIN_PERSISTED_TOKENS = 1024  # shorter prefixes prefill in about the time a restore takes
MIN_RESTORE_GAIN = 256  # a restore copies the whole prefix: worth it for this many new tokens


class DiskTier:
    def __init__(self, cells: LlamaKvCells, store: PrefixStore, scratch: int) -> None:
        self._cells = cells
        self.store = store
        self._scratch = scratch

    def persist(self, sequence: Sequence) -> None:
        """Save the prefixes that end at `sequence`'s breakpoints (its prompt is prefilled
        and its slot holds every cell of it)."""
        for breakpoint in sequence.breakpoints:
            tokens = sequence.prompt[: breakpoint.tokens]
            if len(tokens) < MIN_PERSISTED_TOKENS or self.store.holds(tokens):
                continue
            self._cells.copy(sequence.slot, self._scratch, 0, len(tokens))
            try:
                state = self._cells.save(self._scratch)
            finally:
                self._cells.drop(self._scratch, -1, -1)
            if state is not None:  # the writer thread owns it from here: no copy on this thread
                self.store.save(tokens, memoryview(state), time.time() + breakpoint.seconds,
                                breakpoint.seconds)

    def restore(self, prompt: tuple[int, ...], scheduler: Scheduler) -> int:
        """Bring the longest stored prefix of `prompt` into the pool's prefix cache when it
        holds more than the cache does. Returns the tokens restored (0: none)."""
        if not self.store.entries:
            return 0
        cached = scheduler.cache.match(prompt).length
        tokens = self.store.longest(prompt, cached + MIN_RESTORE_GAIN - 1)
        if tokens is None or not scheduler.make_room(len(tokens)):
            return 0
        entry = self.store.read(tokens)
        if entry is None:
            return 0
        if not self._cells.load(entry.state, self._scratch):
            log.info("fewer than %d free KV cells: prefilling instead", len(tokens))
            return 0
        scheduler.adopt(tokens, self._scratch, entry.pinned_until - time.time(), entry.pin_seconds)
        return len(tokens)
