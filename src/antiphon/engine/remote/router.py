"""Which upstream serves a request: prefix affinity with bounded load.

An upstream engine keeps the KV state of the prompts it served, so a request whose prompt
starts like an earlier one (an agent's next turn, a shared system prompt) is cheapest where
that earlier one ran. The router remembers, per upstream, the prompt prefixes it sent there
as a chain of block hashes and picks the upstream holding the longest one, unless that
upstream carries more than its share of the load; then the least loaded one wins (SGLang's
cache-aware router and "consistent hashing with bounded loads" make the same trade).
Replicas sharing Redis add what the others sent where (`elsewhere`, shared_routes.py).

Pure and synchronous: the pool calls it on the event loop with each upstream's load.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

RoutingPolicy = Literal["affinity", "round-robin"]
BLOCK_TOKENS = 64  # prefixes are matched in whole blocks of this many tokens
MAX_BLOCKS = 1024  # per prompt: 64k tokens, beyond which affinity is decided already
LOAD_SLACK = 1.25  # an upstream may carry this much more than the average before it is passed over


def block_hashes(tokens: Sequence[int]) -> list[int]:
    """One hash per whole block, each covering every block before it: equal hashes at i mean
    equal prefixes of (i + 1) blocks. Tuples of ints hash the same in every process."""
    hashes: list[int] = []
    running = 0
    for start in range(0, min(len(tokens), BLOCK_TOKENS * MAX_BLOCKS) - BLOCK_TOKENS + 1,
                       BLOCK_TOKENS):
        running = hash((running, tuple(tokens[start:start + BLOCK_TOKENS])))
        hashes.append(running)
    return hashes


class SentPrefixes:
    """The prefix blocks sent to one upstream, least recently used first out."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._blocks: OrderedDict[int, None] = OrderedDict()
        self._capacity = capacity

    def matched_blocks(self, hashes: Sequence[int]) -> int:
        """How many leading blocks of a prompt this upstream has seen."""
        for index in range(len(hashes) - 1, -1, -1):
            if hashes[index] in self._blocks:
                return index + 1
        return 0

    def remember(self, hashes: Sequence[int]) -> None:
        for block in hashes:
            self._blocks[block] = None
            self._blocks.move_to_end(block)
        while len(self._blocks) > self._capacity:
            self._blocks.popitem(last=False)

    def forget(self) -> None:
        """The upstream restarted or failed: whatever it held is gone."""
        self._blocks.clear()


@dataclass(frozen=True)
class Candidate:
    """An upstream that can take one more request now."""

    index: int  # its place in the pool
    load: int  # requests it is running


@dataclass(frozen=True)
class Choice:
    index: int
    matched_tokens: int  # how much of the prompt the chosen upstream was sent before
    by_other_replicas: bool = False  # chosen for a longer prefix another replica sent it


class Router:
    def __init__(self, upstreams: int, policy: RoutingPolicy = "affinity") -> None:
        self.policy = policy
        self._memories = [SentPrefixes() for _ in range(upstreams)]
        self._turn = 0  # round-robin's next upstream, and the tie-breaker's start

    def choose(self, candidates: Sequence[Candidate], hashes: Sequence[int],
               total_load: int, elsewhere: Mapping[int, int] | None = None) -> Choice:
        """Pick one of `candidates` (not empty) for a prompt with these block hashes, given
        the load over the whole pool, and remember that it went there. `elsewhere`: the
        leading blocks of this prompt other replicas sent to each upstream (by index)."""
        elsewhere = elsewhere or {}
        if self.policy == "round-robin":
            chosen = self._round_robin(candidates).index
            local = {chosen: self._memories[chosen].matched_blocks(hashes)}
        else:  # each candidate's own match, once: the pick and the report both use it
            local = {c.index: self._memories[c.index].matched_blocks(hashes) for c in candidates}
            matched = {index: max(blocks, elsewhere.get(index, 0))
                       for index, blocks in local.items()}
            chosen = self._affine(candidates, matched, total_load).index
        others = elsewhere.get(chosen, 0)
        self._memories[chosen].remember(hashes)
        return Choice(chosen, max(local[chosen], others) * BLOCK_TOKENS, others > local[chosen])

    def forget(self, index: int) -> None:
        self._memories[index].forget()

    def _affine(self, candidates: Sequence[Candidate], matched: Mapping[int, int],
                total_load: int) -> Candidate:
        """`matched`: the leading blocks of the prompt each candidate was sent, by this
        replica or another."""
        share = math.ceil((total_load + 1) / len(self._memories) * LOAD_SLACK)
        # Past its share, an upstream is passed over: affinity must not pile a hot prefix
        # on one upstream.
        within = [candidate for candidate in candidates if candidate.load < max(share, 1)]
        most = max((matched[c.index] for c in within), default=0)
        if most == 0:
            return self._least_loaded(candidates)
        # Several may hold the same prefix (a system prompt every conversation shares): the
        # least loaded of them takes it, so that new conversations spread over them.
        return self._least_loaded([c for c in within if matched[c.index] == most])

    def _least_loaded(self, candidates: Sequence[Candidate]) -> Candidate:
        lowest = min(candidate.load for candidate in candidates)
        tied = [candidate for candidate in candidates if candidate.load == lowest]
        return self._round_robin(tied)

    def _round_robin(self, candidates: Sequence[Candidate]) -> Candidate:
        """The first candidate at or after the turn, so that ties spread over the pool."""
        ordered = sorted(candidates, key=lambda c: (c.index - self._turn) % len(self._memories))
        self._turn = (ordered[0].index + 1) % len(self._memories)
        return ordered[0]
