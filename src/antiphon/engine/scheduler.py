"""Continuous-batching scheduler: pure, synchronous, no model.

It decides which tokens go into the next decode step; the backend executes the plan and
reports back what it sampled. One decode step holds the next token of every decoding sequence
plus prompt chunks of sequences still prefilling, bounded by `batch_tokens`. Decoding
sequences go first so that a long new prompt delays running streams by at most one chunk.

A free slot keeps the KV cells of the sequence that last ran in it (llama-server's slot cache):
a new sequence goes to the free slot whose cached tokens share the longest prefix with its
prompt, and only the rest is prefilled. Agents resend the whole conversation every turn, so
most of a prompt is usually there already.

Owned by the engine thread; nothing here is thread-safe.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


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
    slot: int = -1
    phase: Phase = Phase.WAITING
    prefilled: int = 0
    reused: int = 0  # prompt tokens found in the slot's cache, not prefilled again
    generated: list[int] = field(default_factory=list)

    @property
    def tokens_in_cache(self) -> tuple[int, ...]:
        """The tokens whose KV cells this sequence has written: the prompt as far as it was
        prefilled and every generated token but the last (sampled, not yet fed back)."""
        if self.prefilled < len(self.prompt):
            return self.prompt[: self.prefilled]
        return self.prompt + tuple(self.generated[:-1])

    @property
    def next_position(self) -> int:
        """Position of the next token to feed: prompt tokens first, then sampled ones."""
        return self.prefilled if self.phase is Phase.PREFILL else len(self.prompt) + len(
            self.generated
        ) - 1


@dataclass(frozen=True)
class StepItem:
    """A run of tokens of one sequence in the next decode step."""

    sequence: Sequence
    tokens: tuple[int, ...]
    start_position: int
    wants_logits: bool


class Scheduler:
    def __init__(self, slots: int, batch_tokens: int) -> None:
        if slots < 1 or batch_tokens < 1:
            raise ValueError("slots and batch_tokens must be positive")
        self.batch_tokens = batch_tokens
        self._free_slots: deque[int] = deque(range(slots))  # least recently used first
        self._cached: dict[int, tuple[int, ...]] = {}  # free slot → tokens its KV cells hold
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.admitted: list[Sequence] = []  # since the engine last drained it (to trim KV)

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def add(self, sequence: Sequence) -> None:
        sequence.phase = Phase.WAITING
        self.waiting.append(sequence)

    def can_admit(self) -> bool:
        return bool(self.waiting) and bool(self._free_slots)

    def admit(self) -> Sequence:
        """Start the next waiting sequence in the free slot that already holds the longest
        prefix of its prompt (the least recently used slot when none does)."""
        sequence = self.waiting.popleft()
        slot, reused = self._best_slot(sequence.prompt)
        self._free_slots.remove(slot)
        self._cached.pop(slot, None)
        sequence.slot = slot
        sequence.reused = sequence.prefilled = reused
        sequence.phase = Phase.PREFILL
        self.running.append(sequence)
        self.admitted.append(sequence)
        return sequence

    def _best_slot(self, prompt: tuple[int, ...]) -> tuple[int, int]:
        best_slot, best = self._free_slots[0], 0
        for slot in self._free_slots:
            shared = _common_prefix(self._cached.get(slot, ()), prompt)
            if shared > best:
                best_slot, best = slot, shared
        # At least one prompt token is decoded again: its logits choose the first new token.
        return best_slot, min(best, len(prompt) - 1)

    def forget(self, slot: int) -> None:
        """The slot's KV cells were cleared: nothing to reuse there."""
        self._cached.pop(slot, None)

    def schedule(self) -> list[StepItem]:
        """Admit what fits, then plan one step: decode tokens first, prompt chunks after."""
        while self.can_admit():
            self.admit()
        budget = self.batch_tokens
        plan: list[StepItem] = []
        for sequence in self.running:
            if sequence.phase is Phase.DECODE and budget > 0:
                plan.append(
                    StepItem(sequence, (sequence.generated[-1],), sequence.next_position, True)
                )
                budget -= 1
        for sequence in self.running:
            if sequence.phase is not Phase.PREFILL or budget <= 0:
                continue
            end = min(len(sequence.prompt), sequence.prefilled + budget)
            chunk = sequence.prompt[sequence.prefilled : end]
            plan.append(
                StepItem(sequence, chunk, sequence.prefilled, end == len(sequence.prompt))
            )
            budget -= len(chunk)
        return plan

    def commit(self, plan: Iterable[StepItem]) -> None:
        """Record that the plan's tokens are now in the KV cache."""
        for item in plan:
            sequence = item.sequence
            if sequence.phase is Phase.PREFILL:
                sequence.prefilled += len(item.tokens)

    def append_token(self, sequence: Sequence, token: int) -> None:
        """A token was sampled for `sequence`; it is fed in the next step."""
        sequence.generated.append(token)
        sequence.phase = Phase.DECODE

    def finish(self, sequence: Sequence) -> int:
        """Remove a running sequence; returns its slot, whose KV cells stay for reuse."""
        self.running.remove(sequence)
        slot = sequence.slot
        self._free_slots.append(slot)
        self._cached[slot] = sequence.tokens_in_cache
        sequence.slot = -1
        sequence.phase = Phase.FINISHED
        return slot

    def abort(self, request_id: str) -> tuple[Sequence | None, int | None]:
        """Drop a request wherever it is. Returns the sequence and the slot to clear (if any)."""
        for sequence in self.waiting:
            if sequence.request_id == request_id:
                self.waiting.remove(sequence)
                sequence.phase = Phase.FINISHED
                return sequence, None
        for sequence in self.running:
            if sequence.request_id == request_id:
                return sequence, self.finish(sequence)
        return None, None


def _common_prefix(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    length = 0
    for a, b in zip(left, right):
        if a != b:
            break
        length += 1
    return length
