"""Moving prefixes between llama.cpp's KV pool and the prefix store on disk (engine thread).

Saved: each prompt-caching breakpoint of at least MIN_PERSISTED_TOKENS, once its prompt is
prefilled. The prefix's cells are lent to a scratch sequence id (a metadata copy in the
unified pool), serialized with `llama_state_seq_get_data`, and handed to the store's writer.

Restored: when a new prompt starts with a stored prefix longer than what the pool's prefix
cache holds. The state goes into the scratch id with `llama_state_seq_set_data`, which
needs one contiguous run of free cells (llama.cpp's find_slot); if the pool has none it
fails cleanly and the prompt is prefilled as before. The scheduler then keeps the restored
cells as a cache node, pinned for what is left of the TTL the breakpoint was written with.
"""

from __future__ import annotations

import ctypes
import logging
import time

import llama_cpp

from antiphon.engine.prefix_store import PrefixStore
from antiphon.engine.scheduler import Scheduler, Sequence

log = logging.getLogger(__name__)

MIN_PERSISTED_TOKENS = 1024  # shorter prefixes prefill in about the time a restore takes
MIN_RESTORE_GAIN = 256  # a restore copies the whole prefix: worth it for this many new tokens


class DiskTier:
    def __init__(self, context: llama_cpp.llama_context_p, store: PrefixStore, scratch: int) -> None:
        self._context = context
        self._memory = llama_cpp.llama_get_memory(context)
        self.store = store
        self._scratch = scratch

    def persist(self, sequence: Sequence) -> None:
        """Save the prefixes that end at `sequence`'s breakpoints (its prompt is prefilled
        and its slot holds every cell of it)."""
        for breakpoint in sequence.breakpoints:
            tokens = sequence.prompt[: breakpoint.tokens]
            if len(tokens) < MIN_PERSISTED_TOKENS or self.store.holds(tokens):
                continue
            llama_cpp.llama_memory_seq_cp(self._memory, sequence.slot, self._scratch, 0, len(tokens))
            try:
                size = llama_cpp.llama_state_seq_get_size(self._context, self._scratch)
                buffer = (ctypes.c_uint8 * size)()
                written = llama_cpp.llama_state_seq_get_data(self._context, buffer, size, self._scratch)
            finally:
                llama_cpp.llama_memory_seq_rm(self._memory, self._scratch, -1, -1)
            if written:  # the writer thread owns the buffer from here: no copy on this thread
                state = memoryview(buffer).cast("B")[:written]
                self.store.save(tokens, state, time.time() + breakpoint.seconds, breakpoint.seconds)

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
        buffer = (ctypes.c_uint8 * len(entry.state)).from_buffer(entry.state)
        if not llama_cpp.llama_state_seq_set_data(self._context, buffer, len(entry.state), self._scratch):
            llama_cpp.llama_memory_seq_rm(self._memory, self._scratch, -1, -1)
            log.info("no contiguous run of %d free KV cells: prefilling instead", len(tokens))
            return 0
        scheduler.adopt(tokens, self._scratch, entry.pinned_until - time.time(), entry.pin_seconds)
        return len(tokens)
