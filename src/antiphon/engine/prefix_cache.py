"""The prefix cache: a radix tree over token ids whose nodes own KV cells.

Each node is one edge of the tree: `tokens` at positions [start, end). Its KV cells belong to
a sequence id of its own (the node's `holder`) that exists only to keep them. In a unified KV
cache llama.cpp's `seq_cp` copies no K or V: it adds a sequence id to cells. So a new sequence
that reuses a cached prefix shares the cells of every node on its path, and a sequence that
finishes hands its cells to new nodes the same way. A cell is freed once no id holds it.

Eviction takes leaves, least recently used first; nodes where a prompt-caching breakpoint
ends keep their path pinned until its TTL passes, and pinned leaves go only after every
unpinned one. Nodes a running sequence shares are never evicted: that would free no cells,
and the budget counts them as the cache's. The engine thread owns this; nothing here is
thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class KvCells(Protocol):
    """The KV cache operations the tree needs (llama.cpp's seq_cp and seq_rm)."""

    def copy(self, source: int, target: int, start: int, end: int) -> None:
        """Let sequence `target` hold `source`'s cells at positions [start, end)."""

    def drop(self, sequence: int, start: int, end: int) -> None:
        """`sequence` lets go of its cells at positions [start, end); -1 ends: no bound."""


@dataclass(eq=False)
class Node:
    tokens: tuple[int, ...]
    start: int
    holder: int
    parent: Node | None
    children: dict[int, Node] = field(default_factory=dict)
    last_used: float = 0.0
    pinned_until: float = 0.0  # a breakpoint ends at `end`: pinned while the clock is before
    pin_seconds: float = 0.0  # its TTL, to refresh it on a hit

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

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


class PrefixCache:
    def __init__(self, holders: Iterable[int], cells: KvCells) -> None:
        self._cells = cells
        self._free_holders = list(holders)
        self._root = Node((), 0, -1, None)
        self.cells_used = 0  # tokens held by nodes (each a KV cell)
        self.node_count = 0
        self.evicted_cells = 0  # in all, since start

    @property
    def free_holders(self) -> int:
        return len(self._free_holders)

    def match(self, tokens: tuple[int, ...]) -> Match:
        nodes: list[Node] = []
        node, length = self._root, 0
        while length < len(tokens):
            child = node.children.get(tokens[length])
            if child is None:
                break
            shared = common_prefix(child.tokens, tokens[length : length + len(child.tokens)])
            nodes.append(child)
            length += shared
            if shared < len(child.tokens):
                break
            node = child
        return Match(tuple(nodes), length)

    def touch(self, match: Match, now: float) -> None:
        for node in match.nodes:
            node.last_used = now

    def refresh_pin(self, match: Match, length: int, now: float) -> None:
        """A read of the pinned prefix of `length` tokens: its TTL starts again."""
        for node in match.nodes:
            if node.end == length and node.pinned(now):
                node.pinned_until = now + node.pin_seconds

    def lend(self, match: Match, sequence: int, length: int) -> None:
        """Let `sequence` share the cells of the first `length` matched tokens."""
        for node in match.nodes:
            if node.start >= length:
                break
            self._cells.copy(node.holder, sequence, node.start, min(node.end, length))

    def insert(self, tokens: tuple[int, ...], sequence: int, now: float) -> int:
        """Keep the tokens `sequence` holds cells for (positions 0 …) in the tree. Returns how
        many of its cells the tree took over (0 when the tree held them all, or when no
        holder is free: call `evict` first to make one)."""
        match = self.match(tokens)
        self.touch(match, now)
        length = match.length
        if length == len(tokens):
            return 0
        last = match.nodes[-1] if match.nodes else self._root
        if len(self._free_holders) < (2 if last.end > length else 1):
            return 0
        parent = self._split(last, length)
        node = Node(tokens[length:], length, self._free_holders.pop(), parent, last_used=now)
        self._cells.copy(sequence, node.holder, length, len(tokens))
        parent.children[node.tokens[0]] = node
        self.cells_used += len(node.tokens)
        self.node_count += 1
        return len(node.tokens)

    def pin(self, tokens: tuple[int, ...], length: int, until: float, seconds: float) -> bool:
        """Pin the cached prefix `tokens[:length]` until `until`. False if the tree does not
        hold it all or no holder is free to split a node where it ends."""
        match = self.match(tokens[:length])
        if match.length < length or length == 0:
            return False
        last = match.nodes[-1]
        if last.end > length:
            if not self._free_holders:
                return False
            last = self._split(last, length)
        last.pinned_until = max(last.pinned_until, until)
        last.pin_seconds = max(last.pin_seconds, seconds)
        return True

    def evict(self, cells: int, holders: int, protected: set[Node], now: float) -> None:
        """Free at least `cells` KV cells and `holders` holders, or as many as possible,
        evicting unprotected leaves: unpinned ones least recently used first, then pinned."""
        freed = 0
        while freed < cells or len(self._free_holders) < holders:
            victim = min(
                (leaf for leaf in self._leaves() if leaf not in protected),
                key=lambda leaf: (leaf.pinned(now), leaf.last_used),
                default=None,
            )
            if victim is None:
                return
            freed += self._remove(victim)

    def _leaves(self) -> Iterator[Node]:
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            else:
                yield node

    def _split(self, node: Node, at: int) -> Node:
        """Cut `node` at position `at`; returns the upper part, which now ends there."""
        if at >= node.end:
            return node
        cut = at - node.start
        lower = Node(
            node.tokens[cut:], at, self._free_holders.pop(), node, node.children,
            node.last_used, node.pinned_until, node.pin_seconds,
        )
        for child in lower.children.values():
            child.parent = lower
        self._cells.copy(node.holder, lower.holder, at, node.end)
        self._cells.drop(node.holder, at, node.end)
        node.tokens = node.tokens[:cut]
        node.children = {lower.tokens[0]: lower}
        node.pinned_until = node.pin_seconds = 0.0
        self.node_count += 1
        return node

    def _remove(self, leaf: Node) -> int:
        assert leaf.parent is not None and not leaf.children
        self._cells.drop(leaf.holder, -1, -1)
        del leaf.parent.children[leaf.tokens[0]]
        self._free_holders.append(leaf.holder)
        self.cells_used -= len(leaf.tokens)
        self.evicted_cells += len(leaf.tokens)
        self.node_count -= 1
        return len(leaf.tokens)


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
