"""The prefix cache's host-memory tier, through the scheduler: prefixes no running sequence
shares leave the KV pool (a decode step attends over every cell in it) and come back as a
copy when a prompt runs through them. `FakeKv` plays llama.cpp's cells and their state, so
each test also checks that the cells held are the cells accounted."""

from __future__ import annotations

import random

from antiphon.engine.base import CacheBreakpoint
from antiphon.engine.prefix_cache import PrefixCache
from antiphon.engine.prefix_nodes import Node
from antiphon.engine.scheduler import Scheduler, StepItem
from tests.unit.fake_kv import FakeKv
from tests.unit.test_scheduler import Clock, _run, _seq, _step

SLOTS = 4


def _scheduler(
    ram_bytes: int = 1 << 30, kv_cells: int = 4096, capacity: int | None = None,
    clock: Clock | None = None, spill_idle: bool = True,
) -> tuple[Scheduler, FakeKv]:
    kv = FakeKv(capacity)
    cache = PrefixCache(range(SLOTS, SLOTS + 32), kv, ram_bytes)
    scheduler = Scheduler(
        SLOTS, 64, kv_cells, 1024, cache, kv, clock or Clock(), spill_idle=spill_idle
    )
    return scheduler, kv


def _nodes(cache: PrefixCache) -> list[Node]:
    found: list[Node] = []
    stack = list(cache._root.children.values())  # noqa: SLF001
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children.values())
    return found


def _check_tiers(scheduler: Scheduler, kv: FakeKv) -> None:
    """Cells and bytes held are those accounted; a resident node's parent is resident."""
    cache = scheduler.cache
    nodes = _nodes(cache)
    assert kv.used == scheduler.cells_used
    assert cache.cells_used == sum(len(node.tokens) for node in nodes if node.resident)
    assert cache.ram.spilled_bytes == sum(len(node.state or b"") for node in nodes)
    assert cache.ram.spilled_cells == sum(len(node.tokens) for node in nodes if not node.resident)
    assert cache.ram.spilled_bytes <= cache.ram_bytes
    for node in nodes:
        if node.resident and node.parent is not None and node.parent.parent is not None:
            assert node.parent.resident
        if node.resident:
            assert kv.positions(node.holder) == list(range(node.start, node.end))


def _shared_by_running(scheduler: Scheduler) -> set[Node]:
    nodes: set[Node] = set()
    for sequence in scheduler.running:
        nodes.update(scheduler.cache.match(sequence.prompt[: sequence.on_tree]).nodes)
    return nodes


def test_a_finished_prompt_leaves_the_pool_and_is_loaded_back_for_the_next_turn() -> None:
    scheduler, kv = _scheduler()
    first = tuple(range(100))
    scheduler.add(_seq("a", first, 4))
    _run(scheduler, kv)
    scheduler.add(_seq("other", tuple(range(5000, 5040)), 20))
    _step(scheduler, kv)
    # While `other` runs the pool holds its cells only: a's prefix waits in host memory.
    assert kv.used == scheduler.running[0].cells_written
    assert scheduler.cache.ram.spilled_cells == 103  # its prompt and 3 of its 4 tokens
    _check_tiers(scheduler, kv)
    again = _seq("a2", first + tuple(range(200, 230)), 4)
    scheduler.add(again)
    _step(scheduler, kv)
    assert again.reused == 100 and kv.loaded >= 1
    assert scheduler.cache.ram.loaded_total >= 100
    _check_tiers(scheduler, kv)
    _run(scheduler, kv)
    _check_tiers(scheduler, kv)


def test_a_prefix_a_running_sequence_shares_stays_in_the_pool() -> None:
    scheduler, kv = _scheduler()
    system = tuple(range(300))
    scheduler.add(_seq("long", system + (1000,), 200))
    scheduler.add(_seq("short", system + (2000,), 2))
    for _ in range(12):
        _step(scheduler, kv)
    assert [s.request_id for s in scheduler.running] == ["long"]
    shared = _shared_by_running(scheduler)
    assert all(node.resident for node in shared)
    # Everything resident is shared by the running sequence: short's own suffix left.
    cache = scheduler.cache
    assert {node for node in _nodes(cache) if node.resident} <= shared
    assert cache.match(system + (2000,)).length == 301
    _check_tiers(scheduler, kv)


def test_a_pinned_breakpoint_read_from_host_memory_counts_as_read() -> None:
    clock = Clock()
    scheduler, kv = _scheduler(clock=clock)
    prompt = tuple(range(400))
    scheduler.add(_seq("a", prompt, 2, breakpoints=(CacheBreakpoint(300, 300.0),)))
    _run(scheduler, kv)
    scheduler.add(_seq("b", tuple(range(9000, 9100)), 4))
    _run(scheduler, kv)
    assert not scheduler.cache.match(prompt).nodes[0].resident
    again = _seq("c", prompt[:300] + (7,) * 10, 2, breakpoints=(CacheBreakpoint(300, 300.0),))
    clock.now += 10
    scheduler.add(again)
    _step(scheduler, kv)
    assert again.cache.read_tokens == 300 and again.reused == 300
    _check_tiers(scheduler, kv)


def test_the_host_tier_is_bounded_and_drops_the_least_recently_used() -> None:
    clock = Clock()
    scheduler, kv = _scheduler(ram_bytes=8 * 500, clock=clock)  # 500 positions of FakeKv state
    for index in range(6):
        clock.now += 1
        scheduler.add(_seq(f"r{index}", tuple(range(index * 1000, index * 1000 + 200)), 2))
        _run(scheduler, kv)
        _check_tiers(scheduler, kv)
    scheduler.add(_seq("last", (77,) * 10, 2))
    _run(scheduler, kv)
    cache = scheduler.cache
    assert cache.ram.dropped_total > 0 and cache.ram.spilled_bytes <= 8 * 500
    assert cache.match(tuple(range(5000, 5200))).length == 200  # the newest is kept
    assert cache.match(tuple(range(0, 200))).length == 0  # the oldest went
    _check_tiers(scheduler, kv)


def _cache_then_run_another(scheduler: Scheduler, kv: FakeKv, cached: int, other: int,
                            other_tokens: int) -> None:
    """Run a request of `cached` prompt tokens to the end, then start one step of another."""
    scheduler.add(_seq("cached", tuple(range(cached)), 2))
    _run(scheduler, kv)
    scheduler.add(_seq("other", tuple(range(3000, 3000 + other)), other_tokens))
    _step(scheduler, kv)


def test_without_room_to_load_the_rest_of_the_prompt_is_prefilled() -> None:
    scheduler, kv = _scheduler(capacity=150)
    _cache_then_run_another(scheduler, kv, 120, 40, 60)  # the first prefix leaves the pool
    scheduler.add(_seq("a2", tuple(range(120)) + (5,), 2))
    _step(scheduler, kv)
    a2 = next(s for s in scheduler.running if s.request_id == "a2")
    assert a2.reused == 0 and kv.loaded == 0  # 40 + 120 cells do not fit in 150
    _run(scheduler, kv)
    _check_tiers(scheduler, kv)


def test_with_the_tier_off_idle_prefixes_stay_in_the_pool() -> None:
    scheduler, kv = _scheduler(ram_bytes=0)
    _cache_then_run_another(scheduler, kv, 100, 20, 10)
    assert scheduler.cache.match(tuple(range(100))).resident_length == 100
    assert kv.saved == 0


def test_on_a_gpu_idle_prefixes_stay_in_the_pool_until_their_cells_are_needed() -> None:
    """All layers on GPUs: no eager copy out (a device-to-host copy per layer and run of
    cells); the host tier still takes what eviction pushes out, and gives it back."""
    scheduler, kv = _scheduler(spill_idle=False, kv_cells=1024)
    _cache_then_run_another(scheduler, kv, 100, 20, 10)
    assert scheduler.cache.match(tuple(range(100))).resident_length == 100
    assert kv.saved == 0
    _run(scheduler, kv)
    scheduler.add(_seq("big", tuple(range(7000, 7950)), 2))  # with the others' > 1024 cells
    _run(scheduler, kv)
    assert kv.saved >= 1 and scheduler.cache.ram.spilled_cells > 0
    _check_tiers(scheduler, kv)
    again = _seq("again", tuple(range(100)) + (9,), 2)
    scheduler.add(again)
    _run(scheduler, kv)
    assert again.reused == 100
    _check_tiers(scheduler, kv)


def test_accounting_holds_and_idle_prefixes_leave_under_a_random_workload() -> None:
    rng = random.Random(11)
    clock = Clock()
    scheduler, kv = _scheduler(ram_bytes=8 * 3000, kv_cells=2048, clock=clock)
    plan_step = scheduler.schedule

    def schedule_and_check() -> list[StepItem]:
        plan = plan_step()
        resident = {node for node in _nodes(scheduler.cache) if node.resident}
        assert resident <= _shared_by_running(scheduler)  # a step attends over what runs
        return plan

    scheduler.schedule = schedule_and_check  # type: ignore[method-assign]
    systems = [tuple(range(base, base + rng.randint(50, 300))) for base in (0, 10_000, 20_000)]
    conversations: list[tuple[int, ...]] = []
    for index in range(80):
        clock.now += rng.random()
        if conversations and rng.random() < 0.4:  # an agent's next turn: its history and more
            prompt = rng.choice(conversations) + tuple(rng.randint(40_000, 40_050) for _ in range(rng.randint(1, 40)))
        else:
            prompt = rng.choice(systems) + tuple(rng.randint(30_000, 30_050) for _ in range(rng.randint(1, 80)))
        prompt = prompt[:900]
        conversations.append(prompt)
        marks = (CacheBreakpoint(rng.randint(1, len(prompt) - 1), 300.0),) if rng.random() < 0.3 else ()
        scheduler.add(_seq(f"r{index}", prompt, rng.choice((0, 3, 40)), breakpoints=marks))
        for _ in range(rng.randint(0, 6)):
            _step(scheduler, kv)
            _check_tiers(scheduler, kv)
        if rng.random() < 0.1 and scheduler.running:
            scheduler.abort(rng.choice(scheduler.running).request_id)
    _run(scheduler, kv)
    _check_tiers(scheduler, kv)
    cache = scheduler.cache
    assert cache.ram.loaded_total > 0 and cache.ram.spilled_total > 0
    assert kv.used == cache.cells_used


def test_a_long_conversation_spilled_as_a_deep_chain_is_dropped_whole() -> None:
    kv = FakeKv()
    cache = PrefixCache(range(1, 1500), kv, ram_bytes=1 << 30)
    turns = 1200  # one node a turn: a chain deeper than Python's recursion limit
    kv.write(0, 0, turns + 2)
    for turn in range(2, turns + 2):
        cache.evict(0, cache.holders_to_keep(tuple(range(turn))), set(), 0.0)
        cache.insert(tuple(range(turn)), 0, float(turn))
    kv.drop(0, -1, -1)
    cache.spill_idle(set(), 10_000.0)
    assert cache.cells_used == 0 and cache.ram.spilled_nodes == turns
    kv.write(0, 0, 2)
    cache.insert((0, 99), 0, 20_000.0)  # leaves the first node midway: the chain below goes
    assert cache.ram.spilled_nodes == 0 and cache.ram.dropped_total == turns + 1
    assert kv.used == cache.cells_used == 2
