"""Continuous-batching scheduler: pure, synchronous, no model.

It decides which sequences run and which tokens go into the next decode step; the backend
executes the plan and reports back what it sampled. One step holds the next token of every
decoding sequence plus a chunk of one prompt still being prefilled (the shortest remaining),
bounded by `batch_tokens`. Decoding sequences go first, so a long new prompt delays running
streams by at most one chunk.

Admission (nano-vllm's shape, with a prefix cache): waiting sequences start in priority
order, arrival order within a priority, while a slot is free and the KV budget has room for
the sequence's whole future (prompt + max new tokens, less what the prefix cache already
holds), evicting cached prefixes to make it. A sequence that does not fit waits, and those
behind it wait too, so a large request is not starved. Because each admitted sequence has
its cells reserved, a running sequence never runs out of cells and is never preempted.

A sequence whose prompt shares more with a prompt being prefilled right now than with the
cache waits until that prefill is done and then reuses it: agents start several
conversations with the same long system prompt at once.

Owned by the engine thread; nothing here is thread-safe.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from antiphon.engine.base import CacheBreakpoint, Priority, PromptCacheUsage
from antiphon.engine.cache_accounting import cache_usage
from antiphon.engine.prefix_cache import PrefixCache
from antiphon.engine.prefix_nodes import KvCells, Match, Node, common_prefix

# Wait for a running prefill only when it would save at least this many tokens of prefill.
MIN_SHARED_PREFILL = 64
# Each step a prefill waits counts as this many fewer tokens left to prefill.
PREFILL_AGING_TOKENS = 64


class Phase(Enum):
    WAITING = "waiting"
    PREFILL = "prefill"
    DECODE = "decode"
    FINISHED = "finished"


@dataclass(eq=False)
class Sequence:
    """One request's progress. `slot` is the llama.cpp seq_id while it runs."""

    request_id: str
    prompt: tuple[int, ...]
    max_new_tokens: int
    priority: Priority = Priority.INTERACTIVE
    breakpoints: tuple[CacheBreakpoint, ...] = ()
    slot: int = -1
    phase: Phase = Phase.WAITING
    prefilled: int = 0
    reused: int = 0  # prompt tokens found in the prefix cache, not prefilled again
    shared: int = 0  # of this sequence's cells, those the prefix cache holds too
    on_tree: int = 0  # prompt tokens on the cache path this sequence shares cells with
    cell_limit: int = 0  # the most cells it can need: prompt + max new tokens, in the window
    cache: PromptCacheUsage = field(default_factory=PromptCacheUsage)
    generated: list[int] = field(default_factory=list)
    order: int = 0  # arrival number, for FIFO within a priority
    waited_steps: int = 0  # steps its prefill has waited for another's, in a row

    @property
    def tokens_in_cache(self) -> tuple[int, ...]:
        """The tokens whose KV cells this sequence has written: the prompt as far as it was
        prefilled and every generated token but the last (sampled, not yet fed back)."""
        if self.prefilled < len(self.prompt):
            return self.prompt[: self.prefilled]
        return self.prompt + tuple(self.generated[:-1])

    @property
    def cells_written(self) -> int:
        """len(tokens_in_cache), without building it."""
        if self.prefilled < len(self.prompt):
            return self.prefilled
        return len(self.prompt) + max(0, len(self.generated) - 1)

    @property
    def next_position(self) -> int:
        """Position of the next token to feed: prompt tokens first, then sampled ones."""
        if self.phase is Phase.PREFILL:
            return self.prefilled
        return len(self.prompt) + len(self.generated) - 1

    @property
    def reserved_cells(self) -> int:
        """Cells it may still take beyond those the prefix cache accounts for."""
        return self.cell_limit - self.shared


@dataclass(frozen=True)
class StepItem:
    """A run of tokens of one sequence in the next decode step."""

    sequence: Sequence
    tokens: tuple[int, ...]
    start_position: int
    wants_logits: bool


class Scheduler:
    def __init__(
        self,
        slots: int,
        batch_tokens: int,
        kv_cells: int,
        context_window: int,
        cache: PrefixCache,
        cells: KvCells,
        clock: Callable[[], float] = time.monotonic,
        spill_idle: bool = True,
    ) -> None:
        """`spill_idle`: with the host tier on, move every prefix no running sequence shares
        out of the pool each step (where attention runs on the CPU, a step reads every cell
        in the pool); off, prefixes stay until their cells are needed (on a GPU, attention
        over idle cells costs little, and copying a prefix out costs a device-to-host copy
        per layer and per run of cells: 25 ms a step at 64 sequences on an H200)."""
        if slots < 1 or batch_tokens < 1:
            raise ValueError("slots and batch_tokens must be positive")
        if kv_cells < context_window:
            raise ValueError("the KV budget must hold at least one full context window")
        self.batch_tokens = batch_tokens
        self.kv_cells = kv_cells
        self.context_window = context_window
        self.cache = cache
        self._cells = cells
        self._clock = clock
        self._free_slots: deque[int] = deque(range(slots))
        self._arrivals = 0
        self.waiting: list[Sequence] = []  # by (priority, arrival)
        self.running: list[Sequence] = []
        self.admitted: list[Sequence] = []  # since the engine last drained it
        self.prewarmed: list[Sequence] = []  # max_new_tokens 0, prompt now cached: to finish
        self.prefilled: list[Sequence] = []  # with breakpoints, prompt now cached: to persist
        self._idle_in_pool = False  # the tree changed since the last step: nodes may be idle
        self._compact = spill_idle and cache.ram_bytes > 0  # idle prefixes leave the pool

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    @property
    def cells_used(self) -> int:
        """Cells held now: the cache's and the running sequences' own."""
        own = sum(s.cells_written - s.shared for s in self.running)
        return self.cache.cells_used + own

    def add(self, sequence: Sequence) -> None:
        sequence.phase = Phase.WAITING
        sequence.order = self._arrivals
        self._arrivals += 1
        sequence.cell_limit = min(
            len(sequence.prompt) + sequence.max_new_tokens, self.context_window
        )
        bisect.insort(self.waiting, sequence, key=lambda s: (s.priority, s.order))

    def schedule(self) -> list[StepItem]:
        """Admit what fits, then plan one step: decode tokens first, prompt chunks after."""
        self._spill_idle(before_admission=True)
        self._admit_what_fits()
        self._spill_idle(before_admission=False)
        budget = self.batch_tokens
        plan: list[StepItem] = []
        for sequence in self.running:
            if sequence.phase is Phase.DECODE and budget > 0:
                plan.append(
                    StepItem(sequence, (sequence.generated[-1],), sequence.next_position, True)
                )
                budget -= 1
        # One prompt per step, the shortest remaining first (aged, so a long prompt is not
        # starved by a stream of short ones). On a CPU prefill costs the same per token
        # batched or not, so finishing prompts one after another gives every first token
        # sooner than sharing each step among them all, and staggers the sequences.
        prefilling = [sequence for sequence in self.running if sequence.phase is Phase.PREFILL]
        if prefilling and budget > 0:
            first, *others = sorted(prefilling, key=_prefill_rank)
            for other in others:
                other.waited_steps += 1
            first.waited_steps = 0
            plan.append(self._prompt_chunk(first, budget))
        return plan

    def _spill_idle(self, before_admission: bool) -> None:
        """A step attends over every cell in the pool: prefixes no running sequence shares
        wait in host memory instead. Before admission, those the sequences next in line
        reuse stay, and the rest leave first, so that what admission loads back lands in a
        compact pool, in the cells a fresh prefill would take: served alone, a prompt gets
        the same answer at temperature 0 whether its prefix was loaded or prefilled."""
        if not (self._idle_in_pool and self._compact):
            return
        protected = self._protected()
        if before_admission:
            for sequence in self.waiting[: len(self._free_slots)]:
                protected.update(self.cache.match(sequence.prompt).nodes)
        else:
            self._idle_in_pool = False
        self.cache.spill_idle(protected, self._clock())

    def _prompt_chunk(self, sequence: Sequence, budget: int) -> StepItem:
        # Served alone, the last prompt token goes in a step of its own: its logits (the
        # first new token) then come out of the same arithmetic whether the rest of the
        # prompt was prefilled now or found in the cache, so a cache hit never changes a
        # temperature-0 answer. Beside other sequences the batch differs from run to run
        # anyway, and a step is worth more.
        last = len(sequence.prompt) - 1
        alone = len(self.running) == 1
        end = last if alone and sequence.prefilled < last else last + 1
        end = min(end, sequence.prefilled + budget)
        wants_logits = end == len(sequence.prompt) and sequence.max_new_tokens > 0
        chunk = sequence.prompt[sequence.prefilled : end]
        return StepItem(sequence, chunk, sequence.prefilled, wants_logits)

    def _admit_what_fits(self) -> None:
        for sequence in list(self.waiting):
            if not self._free_slots:
                return
            match = self.cache.match(sequence.prompt)
            if self._prefilling_elsewhere(sequence, match.length):
                continue
            # At least one prompt token is decoded again: its logits pick the first new token.
            reuse = min(match.length, len(sequence.prompt) - 1)
            # Matched nodes in host memory come back whole: cells for them, then for the rest.
            if self._make_room(sequence.cell_limit - reuse + match.spilled_cells(reuse), match):
                reuse = min(reuse, self.cache.load(match, reuse, self._protected(), self._clock()))
            else:
                reuse = min(reuse, match.resident_length)
                if not self._make_room(sequence.cell_limit - reuse, match):
                    return
            self._admit(sequence, match, reuse)

    def _prefilling_elsewhere(self, sequence: Sequence, cached: int) -> bool:
        for running in self.running:
            if running.phase is Phase.PREFILL:
                shared = common_prefix(running.prompt, sequence.prompt)
                if shared - cached >= MIN_SHARED_PREFILL:
                    return True
        return False

    def make_room(self, cells: int) -> bool:
        """Whether `cells` are free beyond every running reservation, evicting cached
        prefixes to make them."""
        return self._make_room(cells, Match((), 0))

    def adopt(self, tokens: tuple[int, ...], source: int, pin_seconds_left: float,
              pin_seconds: float) -> None:
        """Keep the cells sequence id `source` holds for `tokens` (positions 0 …, restored
        from the disk tier) in the prefix cache, pinned for what is left of their TTL; then
        `source` lets them go."""
        now = self._clock()
        # A pin's split, and what an insert takes.
        self.cache.evict(0, 1 + self.cache.holders_to_keep(tokens), self._protected(), now)
        self.cache.insert(tokens, source, now)
        if pin_seconds_left > 0:
            self.cache.pin(tokens, len(tokens), now + pin_seconds_left, pin_seconds)
        self._cells.drop(source, -1, -1)
        self._idle_in_pool = True

    def _make_room(self, cells: int, match: Match) -> bool:
        """Evict cached prefixes until `cells` are free beyond every running reservation."""
        def free() -> int:
            reserved = sum(sequence.reserved_cells for sequence in self.running)
            return self.kv_cells - self.cache.cells_used - reserved

        if free() < cells:
            protected = self._protected() | set(match.nodes)
            self.cache.evict(cells - free(), 0, protected, self._clock())
        return free() >= cells

    def _protected(self) -> set[Node]:
        """Cache nodes whose cells running sequences share: evicting them frees nothing."""
        nodes: set[Node] = set()
        for sequence in self.running:
            nodes.update(self.cache.match(sequence.prompt[: sequence.on_tree]).nodes)
        return nodes

    def _admit(self, sequence: Sequence, match: Match, reuse: int) -> None:
        now = self._clock()
        self.waiting.remove(sequence)
        sequence.slot = self._free_slots.popleft()
        # A pinned prefix counts as read only if its cells are reused (all but the last
        # prompt token, which is decoded again), not if it had to be prefilled after all.
        read_limit = reuse + 1 if reuse == len(sequence.prompt) - 1 else reuse
        pinned = [end for end in match.pinned_ends(now) if end <= read_limit]
        sequence.cache = cache_usage(sequence.breakpoints, pinned, reuse)
        self.cache.refresh_pin(match, sequence.cache.read_tokens, now)
        self.cache.touch(match, now)
        if self._compact:
            # The last node the prompt reuses is cut where the reuse ends, and the rest of it
            # leaves the pool before the step: the prompt's own cells follow on in order, as
            # in a fresh prefill (the same arithmetic, so the same answer at temperature 0).
            if self.cache.free_holders == 0:
                self.cache.evict(0, 1, self._protected() | set(match.nodes), now)
            self._idle_in_pool = True
        self.cache.lend(match, sequence.slot, reuse, cut=self._compact)
        sequence.reused = sequence.prefilled = sequence.shared = sequence.on_tree = reuse
        sequence.phase = Phase.PREFILL
        self.running.append(sequence)
        self.admitted.append(sequence)

    def commit(self, plan: Iterable[StepItem]) -> None:
        """Record that the plan's tokens are now in the KV cache."""
        for item in plan:
            sequence = item.sequence
            if sequence.phase is Phase.PREFILL:
                sequence.prefilled += len(item.tokens)
                if sequence.prefilled == len(sequence.prompt):
                    self._on_prefilled(sequence)

    def _on_prefilled(self, sequence: Sequence) -> None:
        """Cache the prompt now, so that requests arriving meanwhile reuse it, and pin it
        where its breakpoints end."""
        now = self._clock()
        self._keep(sequence, sequence.prompt, now)
        sequence.on_tree = self.cache.match(sequence.prompt).length
        for breakpoint in sequence.breakpoints:
            if breakpoint.tokens <= len(sequence.prompt):
                self.cache.evict(0, 1, self._protected(), now)
                self.cache.pin(
                    sequence.prompt, breakpoint.tokens, now + breakpoint.seconds,
                    breakpoint.seconds,
                )
        if sequence.breakpoints:
            self.prefilled.append(sequence)
        if sequence.max_new_tokens == 0:
            self.prewarmed.append(sequence)

    def _keep(self, sequence: Sequence, tokens: tuple[int, ...], now: float) -> None:
        self.cache.evict(0, self.cache.holders_to_keep(tokens), self._protected(), now)
        sequence.shared += self.cache.insert(tokens, sequence.slot, now)
        self._idle_in_pool = True  # a split leaves the part past the sequence's tokens idle

    def append_token(self, sequence: Sequence, token: int) -> None:
        """A token was sampled for `sequence`; it is fed in the next step."""
        sequence.generated.append(token)
        sequence.phase = Phase.DECODE

    def finish(self, sequence: Sequence, keep: bool = True) -> None:
        """Remove a running sequence, its cells handed to the prefix cache (`keep`) or
        dropped (after a failed decode their contents are unknown)."""
        if keep and sequence.prefilled > 0:
            self._keep(sequence, sequence.tokens_in_cache, self._clock())
        self.running.remove(sequence)
        self._idle_in_pool = True
        self._cells.drop(sequence.slot, -1, -1)
        self._free_slots.append(sequence.slot)
        sequence.slot = -1
        sequence.phase = Phase.FINISHED

    def abort(self, request_id: str) -> Sequence | None:
        """Drop a request wherever it is; its computed prefix stays cached."""
        for sequence in self.waiting:
            if sequence.request_id == request_id:
                self.waiting.remove(sequence)
                sequence.phase = Phase.FINISHED
                return sequence
        for sequence in self.running:
            if sequence.request_id == request_id:
                self.finish(sequence)
                return sequence
        return None


def _prefill_rank(sequence: Sequence) -> int:
    return len(sequence.prompt) - sequence.prefilled - PREFILL_AGING_TOKENS * sequence.waited_steps
