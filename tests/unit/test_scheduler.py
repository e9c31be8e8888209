"""The scheduler's policies, without a model: admission, chunking, priorities, the KV budget,
prefix reuse and prompt-caching accounting. `FakeKv` plays llama.cpp's cells, so every test
can also check that the budget the scheduler keeps matches the cells really held."""

from __future__ import annotations

import random

from antiphon.engine.base import CacheBreakpoint, Priority
from antiphon.engine.prefix_cache import PrefixCache
from antiphon.engine.scheduler import Phase, Scheduler, Sequence, StepItem
from tests.unit.fake_kv import FakeKv

SLOTS = 4


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _scheduler(
    slots: int = SLOTS, batch_tokens: int = 64, kv_cells: int = 4096, window: int = 1024,
    clock: Clock | None = None,
) -> tuple[Scheduler, FakeKv]:
    kv = FakeKv()
    cache = PrefixCache(range(slots, slots + 32), kv)
    scheduler = Scheduler(slots, batch_tokens, kv_cells, window, cache, kv, clock or Clock())
    return scheduler, kv


def _seq(name: str, prompt: tuple[int, ...] | int, max_new: int = 4, **kwargs: object) -> Sequence:
    tokens = tuple(range(prompt)) if isinstance(prompt, int) else prompt
    return Sequence(name, tokens, max_new, **kwargs)  # type: ignore[arg-type]


def _step(scheduler: Scheduler, kv: FakeKv, token: int = 7) -> list[str]:
    """One engine step: decode the plan into the fake cells, sample, finish what is done.
    Checks the accounting invariants; returns the ids finished."""
    plan = scheduler.schedule()
    for item in plan:
        kv.write(item.sequence.slot, item.start_position, len(item.tokens))
    scheduler.commit(plan)
    done = [sequence for sequence in scheduler.prewarmed]
    scheduler.prewarmed.clear()
    for item in plan:
        sequence = item.sequence
        if item.wants_logits:
            scheduler.append_token(sequence, token)
            if len(sequence.generated) >= sequence.max_new_tokens:
                done.append(sequence)
    for sequence in done:
        scheduler.finish(sequence)
    scheduler.admitted.clear()
    assert kv.used == scheduler.cells_used <= scheduler.kv_cells
    for sequence in scheduler.running:
        assert kv.positions(sequence.slot) == list(range(sequence.cells_written))
    return [sequence.request_id for sequence in done]


def _plan_and_run(scheduler: Scheduler, kv: FakeKv) -> list[StepItem]:
    """Like _step, returning the prompt chunks of the plan."""
    plan = scheduler.schedule()
    chunks = [item for item in plan if item.sequence.phase is Phase.PREFILL]
    for item in plan:
        kv.write(item.sequence.slot, item.start_position, len(item.tokens))
    scheduler.commit(plan)
    for item in plan:
        if item.wants_logits:
            scheduler.append_token(item.sequence, 7)
            if len(item.sequence.generated) >= item.sequence.max_new_tokens:
                scheduler.finish(item.sequence)
    return chunks


def _run(scheduler: Scheduler, kv: FakeKv) -> list[str]:
    finished: list[str] = []
    while scheduler.has_work:
        finished += _step(scheduler, kv)
    return finished


def test_admits_only_as_many_as_there_are_slots() -> None:
    scheduler, _ = _scheduler(slots=2)
    for name in "abc":
        scheduler.add(_seq(name, 4))
    scheduler.schedule()
    assert [s.request_id for s in scheduler.running] == ["a", "b"]
    assert [s.request_id for s in scheduler.waiting] == ["c"]


def test_prefill_is_chunked_and_the_last_prompt_token_goes_alone_for_its_logits() -> None:
    scheduler, kv = _scheduler(slots=1, batch_tokens=8)
    scheduler.add(_seq("a", 20))
    sizes, logits = [], []
    while True:
        plan = scheduler.schedule()
        (item,) = plan
        sizes.append(len(item.tokens))
        logits.append(item.wants_logits)
        kv.write(item.sequence.slot, item.start_position, len(item.tokens))
        scheduler.commit(plan)
        if item.wants_logits:
            break
    assert sizes == [8, 8, 3, 1] and logits == [False, False, False, True]


def test_decode_tokens_go_first_and_prefill_gets_the_rest_of_the_budget() -> None:
    scheduler, kv = _scheduler(slots=2, batch_tokens=10)
    scheduler.add(_seq("a", 3))
    _step(scheduler, kv)  # the prompt but its last token
    _step(scheduler, kv, token=42)
    scheduler.add(_seq("b", tuple(range(100, 130))))
    plan = scheduler.schedule()
    assert plan[0].sequence.request_id == "a"
    assert plan[0].tokens == (42,) and plan[0].start_position == 3 and plan[0].wants_logits
    assert plan[1].sequence.request_id == "b" and len(plan[1].tokens) == 9


def test_interactive_requests_start_before_batch_work_that_came_first() -> None:
    scheduler, kv = _scheduler(slots=1)
    scheduler.add(_seq("running", 4))
    _step(scheduler, kv)
    scheduler.add(_seq("batch", (50, 51), priority=Priority.BATCH))
    scheduler.add(_seq("chat-1", (60, 61)))
    scheduler.add(_seq("chat-2", (70, 71)))
    order = [s.request_id for s in scheduler.waiting]
    assert order == ["chat-1", "chat-2", "batch"]
    assert _run(scheduler, kv) == ["running", "chat-1", "chat-2", "batch"]


def test_a_resent_conversation_reuses_the_cached_prefix_and_its_answer() -> None:
    scheduler, kv = _scheduler()
    first = _seq("turn-1", 300)
    scheduler.add(first)
    _run(scheduler, kv)
    answer = tuple(first.generated[:-1])
    second = _seq("turn-2", tuple(range(300)) + answer + (900, 901, 902))
    scheduler.add(second)
    _step(scheduler, kv)
    assert second.reused == 300 + len(answer)
    assert second.cache.reused_tokens == second.reused and second.cache.read_tokens == 0
    _run(scheduler, kv)


def test_an_identical_prompt_still_decodes_its_last_token_for_logits() -> None:
    scheduler, kv = _scheduler()
    scheduler.add(_seq("a", 50))
    _run(scheduler, kv)
    again = _seq("b", 50)
    scheduler.add(again)
    (item,) = scheduler.schedule()
    assert again.reused == 49 and item.tokens == (49,) and item.wants_logits


def test_requests_sharing_a_prompt_being_prefilled_wait_and_then_reuse_it() -> None:
    scheduler, kv = _scheduler(batch_tokens=128)
    system = tuple(range(1000, 1600))
    first, second = _seq("a", system + (1,)), _seq("b", system + (2,))
    scheduler.add(first)
    scheduler.add(second)
    plan = scheduler.schedule()
    assert [item.sequence.request_id for item in plan] == ["a"]  # b waits for a's prefill
    _run(scheduler, kv)
    assert second.reused == len(system)


def test_a_request_waits_until_the_kv_budget_has_room_for_its_whole_future() -> None:
    scheduler, kv = _scheduler(kv_cells=1024, window=1024)
    big, small = _seq("big", 600, max_new=300), _seq("small", tuple(range(2000, 2200)), 10)
    scheduler.add(big)
    scheduler.add(small)
    scheduler.schedule()
    assert [s.request_id for s in scheduler.running] == ["big"]  # 900 reserved; 200 + 10 > 124
    assert _run(scheduler, kv) == ["big", "small"]


def test_cached_prefixes_are_evicted_for_new_work_but_never_under_a_running_sequence() -> None:
    scheduler, kv = _scheduler(slots=2, kv_cells=1024, window=1024)
    for name, start in (("old-1", 0), ("old-2", 5000)):
        scheduler.add(_seq(name, tuple(range(start, start + 300))))
        _run(scheduler, kv)
    assert scheduler.cache.cells_used > 600
    runner = _seq("runner", tuple(range(0, 300)) + (77,), max_new=100)
    scheduler.add(runner)
    _step(scheduler, kv)
    newcomer = _seq("new", tuple(range(9000, 9400)), max_new=100)
    scheduler.add(newcomer)
    _step(scheduler, kv)  # old-2's cells go; old-1's prefix is shared with runner, so stays
    assert newcomer.phase is not Phase.WAITING
    assert scheduler.cache.match(tuple(range(300))).length == 300
    assert scheduler.cache.match(tuple(range(5000, 5300))).length == 0
    _run(scheduler, kv)


def test_unpinned_prefixes_are_evicted_before_pinned_ones_until_the_pin_expires() -> None:
    clock = Clock()
    scheduler, kv = _scheduler(slots=1, kv_cells=1024, window=1024, clock=clock)
    pinned = tuple(range(400))
    scheduler.add(_seq("pinned", pinned + (1,), breakpoints=(CacheBreakpoint(400, 300.0),)))
    _run(scheduler, kv)
    clock.now += 10
    scheduler.add(_seq("plain", tuple(range(5000, 5400))))
    _run(scheduler, kv)  # the more recently used of the two
    scheduler.add(_seq("needs-room", tuple(range(8000, 8300)), max_new=10))
    _run(scheduler, kv)
    assert scheduler.cache.match(pinned).length == 400
    assert scheduler.cache.match(tuple(range(5000, 5400))).length == 0
    clock.now += 400  # the pin has expired: now it is the least recently used
    scheduler.add(_seq("more", tuple(range(9000, 9700)), max_new=10))
    _run(scheduler, kv)
    assert scheduler.cache.match(pinned).length < 400


def test_breakpoints_are_written_then_read_and_expire_with_their_ttl() -> None:
    clock = Clock()
    scheduler, kv = _scheduler(clock=clock)
    prompt = tuple(range(500))
    marks = (CacheBreakpoint(200, 3600.0, "1h"), CacheBreakpoint(450, 300.0, "5m"))

    def send() -> Sequence:
        sequence = _seq(f"r{clock.now}", prompt, breakpoints=marks)
        scheduler.add(sequence)
        _run(scheduler, kv)
        return sequence

    first = send()
    assert (first.cache.read_tokens, first.cache.created_tokens) == (0, (200, 250))
    clock.now += 200
    second = send()
    assert (second.cache.read_tokens, second.cache.created_tokens) == (450, (0, 0))
    clock.now += 299  # the read refreshed the 5m pin: still there
    assert send().cache.read_tokens == 450
    clock.now += 301  # the 5m pin expired, the 1h one holds
    fourth = send()
    assert (fourth.cache.read_tokens, fourth.cache.created_tokens) == (200, (0, 250))
    assert fourth.cache.reused_tokens == 499  # the cells were still there: free speed


def test_max_new_tokens_zero_prefills_into_the_cache_and_generates_nothing() -> None:
    scheduler, kv = _scheduler()
    warm = _seq("warm", 100, max_new=0, breakpoints=(CacheBreakpoint(90, 300.0),))
    scheduler.add(warm)
    plan = scheduler.schedule()
    assert not any(item.wants_logits for item in plan)
    _run(scheduler, kv)
    assert warm.generated == [] and warm.phase is Phase.FINISHED
    again = _seq("again", 100, breakpoints=(CacheBreakpoint(90, 300.0),))
    scheduler.add(again)
    _run(scheduler, kv)
    assert again.cache.read_tokens == 90


def test_abort_keeps_what_was_computed_and_frees_the_slot() -> None:
    scheduler, kv = _scheduler(slots=1, batch_tokens=16)
    scheduler.add(_seq("a", 40))
    scheduler.add(_seq("b", tuple(range(500, 510))))
    _step(scheduler, kv)
    assert scheduler.abort("b") is not None and not scheduler.waiting
    sequence = scheduler.abort("a")
    assert sequence is not None and sequence.phase is Phase.FINISHED
    assert kv.positions(0) == [] and scheduler.cache.match(tuple(range(40))).length == 16
    assert kv.used == scheduler.cells_used and scheduler.abort("a") is None


def test_accounting_matches_the_cells_held_under_a_random_workload() -> None:
    rng = random.Random(7)
    scheduler, kv = _scheduler(slots=3, batch_tokens=48, kv_cells=2048, window=1024)
    systems = [tuple(range(base, base + rng.randint(50, 300))) for base in (0, 10_000, 20_000)]
    for index in range(60):
        prompt = rng.choice(systems) + tuple(rng.randint(30_000, 30_050) for _ in range(rng.randint(1, 80)))
        marks = (CacheBreakpoint(rng.randint(1, len(prompt) - 1), 300.0),) if rng.random() < 0.3 else ()
        scheduler.add(_seq(f"r{index}", prompt, rng.choice((0, 3, 40)), breakpoints=marks))
        for _ in range(rng.randint(0, 6)):
            _step(scheduler, kv)
        if rng.random() < 0.1 and scheduler.running:
            scheduler.abort(rng.choice(scheduler.running).request_id)
    _run(scheduler, kv)
    assert kv.used == scheduler.cache.cells_used


def test_one_prompt_per_step_the_shortest_first_and_a_long_one_is_not_starved() -> None:
    scheduler, kv = _scheduler(batch_tokens=64)
    scheduler.add(_seq("long", tuple(range(1000, 1300))))
    _step(scheduler, kv)
    scheduler.add(_seq("short", tuple(range(5000, 5020))))
    plan = scheduler.schedule()
    # Beside another sequence the short prompt goes whole, last token included.
    assert [(item.sequence.request_id, len(item.tokens)) for item in plan] == [("short", 20)]
    assert plan[0].wants_logits
    for item in plan:
        kv.write(item.sequence.slot, item.start_position, len(item.tokens))
    scheduler.commit(plan)
    scheduler.append_token(plan[0].sequence, 7)
    # A stream of short prompts: the long one still gets its turn after a few steps.
    served: list[str] = []
    for index in range(12):
        scheduler.add(_seq(f"s{index}", tuple(range(6000 + 100 * index, 6030 + 100 * index)), 1))
        served += [item.sequence.request_id for item in _plan_and_run(scheduler, kv)]
    assert "long" in served
