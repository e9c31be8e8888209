"""The prefix cache: a radix tree over token ids whose nodes own KV cells, in the pool or
in host memory.

Each node is one edge of the tree: `tokens` at positions [start, end). A node in the pool
("resident") keeps its KV cells under a sequence id of its own (the node's `holder`) that
exists only to keep them. In a unified KV cache llama.cpp's `seq_cp` copies no K or V: it
adds a sequence id to cells. So a new sequence that reuses a cached prefix shares the cells
of every node on its path, and a sequence that finishes hands its cells to new nodes the
same way. A cell is freed once no id holds it.

Every decode step attends over the pool's whole used range, masked to each sequence's own
cells, so cells that only the cache holds slow every running stream. With a host-memory
tier (`ram_bytes` > 0) a node that leaves the pool is "spilled": its cells' K and V are
saved (llama.cpp's per-sequence state) and freed, and the node stays in the tree, to be
loaded back (a copy, not a prefill) when a prompt runs through it. Resident nodes form the
top of the tree: a resident node's parent is resident. Spilled nodes are never split; the
host tier is bounded in bytes and drops spilled leaves, least recently used first.

Eviction from the pool takes resident nodes with no resident child, least recently used
first; nodes where a prompt-caching breakpoint ends keep their path pinned until its TTL
passes, and pinned nodes go only after every unpinned one. Nodes a running sequence shares
are never evicted: that would free no cells, and the budget counts them as the cache's.
The engine thread owns this; nothing here is thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from antiphon.engine.prefix_nodes import KvCells, Match, Node, TierCounts, common_prefix


class PrefixCache:
    def __init__(self, holders: Iterable[int], cells: KvCells, ram_bytes: int = 0) -> None:
        self._cells = cells
        self._free_holders = list(holders)
        self._root = Node((), 0, -1, None)
        self.ram_bytes = ram_bytes  # the host tier's bound; 0: evicted nodes are dropped
        self.cells_used = 0  # tokens held by resident nodes (each a KV cell)
        self.node_count = 0  # resident nodes
        self.evicted_cells = 0  # out of the pool, spilled or dropped, since start
        self.ram = TierCounts()

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

    def lend(self, match: Match, sequence: int, length: int, cut: bool = False) -> None:
        """Let `sequence` share the cells of the first `length` matched tokens (resident).
        With `cut`, the last node they run through is cut where they end if a holder is
        free: its cells past that point can then leave the pool."""
        for node in match.nodes:
            if node.start >= length:
                break
            assert node.resident, "load a match's spilled nodes before lending it"
            if cut and node.end > length and self._free_holders:
                self._split(node, length)
            self._cells.copy(node.holder, sequence, node.start, min(node.end, length))

    def load(self, match: Match, length: int, protected: set[Node], now: float) -> int:
        """Bring the matched nodes that the first `length` tokens run through and that wait
        in host memory back into the pool, in order. Returns how many matched tokens are
        resident now (fewer if the pool ran short)."""
        keep = protected | set(match.nodes)
        for node in match.nodes:
            if node.start >= length:
                break
            if node.resident:
                continue
            assert node.state is not None
            self.evict(0, 1, keep, now)
            if not self._free_holders or not self._cells.load(node.state, self._free_holders[-1]):
                return min(node.start, match.length)
            node.holder = self._free_holders.pop()
            self._unspill(node)
            self.ram.loaded_total += len(node.tokens)
        return match.length

    def holders_to_keep(self, tokens: tuple[int, ...]) -> int:
        """Holders `insert(tokens, …)` may need: a split, a new node, and one for each
        spilled node on the way that the sequence's own cells bring back."""
        return 2 + sum(not node.resident for node in self.match(tokens).nodes)

    def insert(self, tokens: tuple[int, ...], sequence: int, now: float) -> int:
        """Keep the tokens `sequence` holds cells for (positions 0 …) in the tree. Returns how
        many of its cells the tree took over (0 when the tree held them all, or when no
        holder is free: call `evict` first to make `holders_to_keep` of them)."""
        taken = self._revive(tokens, sequence)
        match = self.match(tokens)
        self.touch(match, now)
        length = match.length
        if length == len(tokens):
            return taken
        last = match.nodes[-1] if match.nodes else self._root
        if len(self._free_holders) < (2 if last.end > length else 1):
            return taken
        parent = self._split(last, length)
        node = Node(tokens[length:], length, self._free_holders.pop(), parent, last_used=now)
        self._cells.copy(sequence, node.holder, length, len(tokens))
        parent.children[node.tokens[0]] = node
        self.cells_used += len(node.tokens)
        self.node_count += 1
        return taken + len(node.tokens)

    def _revive(self, tokens: tuple[int, ...], sequence: int) -> int:
        """Spilled nodes on `tokens`' path take their cells from `sequence`, which holds the
        same tokens at the same positions (no copy of K and V); one it leaves midway, or
        that no holder is free for, is dropped with what hangs below it. Returns the cells
        taken over."""
        taken = 0
        match = self.match(tokens)
        for node in match.nodes:
            if node.resident:
                continue
            if node.end > match.length or not self._free_holders:
                self._remove_subtree(node)
                break
            node.holder = self._free_holders.pop()
            self._cells.copy(sequence, node.holder, node.start, node.end)
            self._unspill(node)
            taken += len(node.tokens)
        return taken

    def pin(self, tokens: tuple[int, ...], length: int, until: float, seconds: float) -> bool:
        """Pin the cached prefix `tokens[:length]` until `until`. False if the pool does not
        hold it all or no holder is free to split a node where it ends."""
        match = self.match(tokens[:length])
        if match.resident_length < length or length == 0:
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
        """Free at least `cells` KV cells and `holders` holders, or as many as possible, by
        moving unprotected nodes out of the pool: unpinned ones least recently used first,
        then pinned."""
        freed = 0
        while freed < cells or len(self._free_holders) < holders:
            victim = _first_to_go(self._evictable(), protected, now)
            if victim is None:
                return
            freed += self._let_go(victim, protected, now)

    def spill_idle(self, protected: set[Node], now: float) -> None:
        """Move every node no running sequence shares out of the pool, to host memory."""
        while victims := [node for node in self._evictable() if node not in protected]:
            for node in victims:
                self._let_go(node, protected, now)

    def _evictable(self) -> Iterator[Node]:
        """Resident nodes with no resident child."""
        stack = [child for child in self._root.children.values() if child.resident]
        while stack:
            node = stack.pop()
            below = [child for child in node.children.values() if child.resident]
            if below:
                stack.extend(below)
            else:
                yield node

    def _let_go(self, node: Node, protected: set[Node], now: float) -> int:
        """Take `node` out of the pool: to host memory if the tier is on and its state reads,
        else out of the tree with what hangs below it. Returns the cells freed."""
        state = self._cells.save(node.holder) if self.ram_bytes > 0 else None
        cells = len(node.tokens)
        self.evicted_cells += cells
        if state is None:
            self._remove_subtree(node)
            return cells
        self._cells.drop(node.holder, -1, -1)
        self._free_holders.append(node.holder)
        node.holder, node.state = -1, state
        self.cells_used -= cells
        self.node_count -= 1
        self.ram.hold(node)
        self.ram.spilled_total += cells
        self._trim_ram(protected, now)
        return cells

    def _unspill(self, node: Node) -> None:
        """`node` holds cells again (its holder is set): its host copy goes."""
        self.ram.release(node)
        node.state = None
        self.cells_used += len(node.tokens)
        self.node_count += 1

    def _trim_ram(self, protected: set[Node], now: float) -> None:
        """Drop spilled leaves, least recently used first (pinned last), to fit the bound."""
        while self.ram.spilled_bytes > self.ram_bytes:
            victim = _first_to_go(self._spilled_leaves(), protected, now)
            if victim is None:
                return
            self._remove_subtree(victim)

    def _spilled_leaves(self) -> Iterator[Node]:
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            elif not node.resident:
                yield node

    def _split(self, node: Node, at: int) -> Node:
        """Cut resident `node` at position `at`; returns the upper part, which ends there."""
        if at >= node.end:
            return node
        assert node.resident, "spilled nodes are never split"
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

    def _remove_subtree(self, top: Node) -> None:
        """Take `top` and everything below it out of the tree (below a node that is in the
        pool may hang only spilled ones: resident nodes are evicted bottom up). A loop, not
        recursion: an agent's conversation of hundreds of turns is a chain that deep."""
        assert top.parent is not None
        del top.parent.children[top.tokens[0]]
        stack = [top]
        while stack:
            node = stack.pop()
            stack.extend(node.children.values())
            if node.resident:
                self._cells.drop(node.holder, -1, -1)
                self._free_holders.append(node.holder)
                self.cells_used -= len(node.tokens)
                self.node_count -= 1
            else:
                self.ram.release(node)
                self.ram.dropped_total += len(node.tokens)


def _first_to_go(candidates: Iterable[Node], protected: set[Node], now: float) -> Node | None:
    """The unprotected candidate to evict first: unpinned before pinned, then least recently
    used."""
    return min(
        (node for node in candidates if node not in protected),
        key=lambda node: (node.pinned(now), node.last_used),
        default=None,
    )
