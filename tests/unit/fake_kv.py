"""A stand-in for llama.cpp's unified KV cache, as the scheduler and prefix cache use it: each
cell has a position and the set of sequence ids holding it, and is free once none does. Tests
use it to check that the scheduler's accounting matches the cells really held."""

from __future__ import annotations

import math


class FakeKv:
    def __init__(self, capacity: int | None = None) -> None:
        self.cells: list[tuple[int, set[int]]] = []
        self.copies = 0
        self.capacity = capacity  # cells there are, for `load`; None: no bound
        self.saved = 0
        self.loaded = 0

    @staticmethod
    def _span(start: int, end: int) -> tuple[float, float]:
        return (max(start, 0), math.inf if end < 0 else end)

    def copy(self, source: int, target: int, start: int, end: int) -> None:
        low, high = self._span(start, end)
        self.copies += 1
        for position, holders in self.cells:
            if source in holders and low <= position < high:
                holders.add(target)

    def drop(self, sequence: int, start: int, end: int) -> None:
        low, high = self._span(start, end)
        for position, holders in self.cells:
            if low <= position < high:
                holders.discard(sequence)
        self.cells = [cell for cell in self.cells if cell[1]]

    def save(self, sequence: int) -> bytearray | None:
        """llama_state_seq_get_data: here just the positions, 8 bytes each."""
        self.saved += 1
        return bytearray(b"".join(p.to_bytes(8, "little") for p in self.positions(sequence)))

    def load(self, state: bytearray | memoryview, sequence: int) -> bool:
        positions = [int.from_bytes(state[i : i + 8], "little") for i in range(0, len(state), 8)]
        if self.capacity is not None and self.used + len(positions) > self.capacity:
            return False
        self.drop(sequence, -1, -1)
        self.loaded += 1
        self.cells.extend((position, {sequence}) for position in positions)
        return True

    def write(self, sequence: int, start: int, count: int) -> None:
        """What llama_decode does for a batch item: new cells at the next positions."""
        assert self.positions(sequence) == list(range(start)), "positions must continue"
        self.cells.extend((start + offset, {sequence}) for offset in range(count))

    def positions(self, sequence: int) -> list[int]:
        return sorted(position for position, holders in self.cells if sequence in holders)

    @property
    def used(self) -> int:
        return len(self.cells)
