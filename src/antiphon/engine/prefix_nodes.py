"""The parts of the prefix cache's tree: its nodes, what a match through them holds, what
each tier counts, and the KV cell operations the tree runs on (engine/prefix_cache.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class KvCells(Protocol):
    """The KV cache operations the tree needs (llama.cpp's seq_cp, seq_rm and seq state)."""

    def copy(self, source: int, target: int, start: int, end: int) -> None:
        """Let sequence `target` hold `source`'s cells at positions [start, end)."""

    def drop(self, sequence: int, start: int, end: int) -> None:
        """`sequence` lets go of its cells at positions [start, end); -1 ends: no bound."""

    def save(self, sequence: int) -> bytearray | None:
        """K, V and positions of every cell `sequence` holds; None if they cannot be read."""

    def load(self, state: bytearray | memoryview, sequence: int) -> bool:
        """Put saved cells back under `sequence`, in any free cells; False (nothing held)
        when the pool has too few."""


@dataclass(eq=False)
class Node:
    tokens: tuple[int, ...]
    start: int
    holder: int  # -1 while spilled
    parent: Node | None
    children: dict[int, Node] = field(default_factory=dict)
    last_used: float = 0.0
    pinned_until: float = 0.0  # a breakpoint ends at `end`: pinned while the clock is before
    pin_seconds: float = 0.0  # its TTL, to refresh it on a hit
    state: bytearray | None = None  # its cells' K and V while it waits in host memory

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    @property
    def resident(self) -> bool:
        return self.state is None

    def pinned(self, now: float) -> bool:
        return self.pinned_until > now


@dataclass(frozen=True)
class Match:
    """The nodes a token sequence runs through, and how many of its tokens they hold."""

    nodes: tuple[Node, ...]
    length: int

    def pinned_ends(self, now: float) -> list[int]:
        """Lengths of the matched prefixes that are pinned (a breakpoint ends there)."""
        return [node.end for node in self.nodes if node.end <= self.length and node.pinned(now)]

    @property
    def resident_length(self) -> int:
        """How many of the matched tokens are in the pool (the rest wait in host memory)."""
        for node in self.nodes:
            if not node.resident:
                return min(node.start, self.length)
        return self.length

    def spilled_cells(self, length: int) -> int:
        """Cells that loading back the matched nodes the first `length` tokens run through
        takes (spilled nodes come back whole)."""
        return sum(
            len(node.tokens) for node in self.nodes if not node.resident and node.start < length
        )


@dataclass
class TierCounts:
    spilled_cells: int = 0  # tokens whose state waits in host memory now
    spilled_bytes: int = 0
    spilled_nodes: int = 0
    spilled_total: int = 0  # tokens moved out of the pool, since start
    loaded_total: int = 0  # tokens loaded back instead of prefilled, since start
    dropped_total: int = 0  # tokens dropped from host memory, since start

    def hold(self, node: Node) -> None:
        assert node.state is not None
        self.spilled_cells += len(node.tokens)
        self.spilled_bytes += len(node.state)
        self.spilled_nodes += 1

    def release(self, node: Node) -> None:
        assert node.state is not None
        self.spilled_cells -= len(node.tokens)
        self.spilled_bytes -= len(node.state)
        self.spilled_nodes -= 1



def common_prefix(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    """How many leading tokens two sequences share. Binary search over slice comparisons,
    which run in C: prompts are thousands of tokens and this runs every step."""
    low, high = 0, min(len(left), len(right))
    if left[:high] == right[:high]:
        return high
    while low < high:  # invariant: the first `low` tokens match, the first `high` do not all
        middle = (low + high + 1) // 2
        if left[low:middle] == right[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low
