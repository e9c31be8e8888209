"""The radix tree over token ids: matching, splitting where prompts diverge, lending cells,
pins and eviction order, on the fake KV cells."""

from __future__ import annotations

from antiphon.engine.prefix_cache import PrefixCache
from antiphon.engine.prefix_nodes import common_prefix
from tests.unit.fake_kv import FakeKv

SLOT = 0


def _cache(holders: int = 8) -> tuple[PrefixCache, FakeKv]:
    kv = FakeKv()
    return PrefixCache(range(1, 1 + holders), kv), kv


def _store(cache: PrefixCache, kv: FakeKv, tokens: tuple[int, ...], now: float = 0.0) -> None:
    """A sequence in SLOT computes `tokens` (sharing what the tree has) and hands them over."""
    match = cache.match(tokens)
    cache.lend(match, SLOT, match.length)
    kv.write(SLOT, match.length, len(tokens) - match.length)
    cache.insert(tokens, SLOT, now)
    kv.drop(SLOT, -1, -1)


def test_diverging_prompts_split_a_node_and_share_the_common_cells() -> None:
    cache, kv = _cache()
    _store(cache, kv, (1, 2, 3, 4, 5))
    _store(cache, kv, (1, 2, 3, 9, 9, 9))
    assert cache.node_count == 3 and cache.cells_used == 8 == kv.used
    match = cache.match((1, 2, 3, 4, 6))
    assert match.length == 4
    cache.lend(match, SLOT, 4)
    assert kv.positions(SLOT) == [0, 1, 2, 3]


def test_pins_cut_nodes_where_the_breakpoint_ends_and_survive_eviction_of_plain_leaves() -> None:
    cache, kv = _cache()
    _store(cache, kv, tuple(range(10)), now=1.0)
    assert cache.pin(tuple(range(10)), 6, until=100.0, seconds=50.0)
    assert cache.match(tuple(range(10))).pinned_ends(now=2.0) == [6]
    _store(cache, kv, (50, 51, 52), now=5.0)  # more recent, but not pinned
    cache.evict(cells=7, holders=0, protected=set(), now=10.0)
    # Unpinned leaves go first, least recently used first (the tail after the pin, then the
    # other prompt); the pinned prefix stays.
    assert cache.match((50, 51, 52)).length == 0
    assert cache.match(tuple(range(10))).length == 6
    cache.evict(cells=100, holders=0, protected=set(), now=200.0)
    assert cache.cells_used == 0 == kv.used and cache.free_holders == 8


def test_protected_nodes_are_never_evicted() -> None:
    cache, kv = _cache()
    _store(cache, kv, (1, 2, 3))
    protected = set(cache.match((1, 2, 3)).nodes)
    cache.evict(cells=10, holders=8, protected=protected, now=0.0)
    assert cache.match((1, 2, 3)).length == 3


def test_without_free_holders_nothing_is_inserted_and_nothing_breaks() -> None:
    cache, kv = _cache(holders=1)
    _store(cache, kv, (1, 2, 3))
    _store(cache, kv, (1, 2, 9))  # needs two holders: a split and a new node
    assert cache.match((1, 2, 9)).length == 2 and cache.cells_used == 3 == kv.used


def test_common_prefix() -> None:
    assert common_prefix((1, 2, 3), (1, 2, 4)) == 2
    assert common_prefix((), (1,)) == 0
    assert common_prefix(tuple(range(1000)), tuple(range(999)) + (5,)) == 999
