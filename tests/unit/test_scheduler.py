from antiphon.engine.scheduler import Phase, Scheduler, Sequence


def _seq(name: str, prompt_len: int, max_new: int = 4) -> Sequence:
    return Sequence(name, tuple(range(prompt_len)), max_new)


def test_admits_only_as_many_as_there_are_slots() -> None:
    scheduler = Scheduler(slots=2, batch_tokens=64)
    for name in "abc":
        scheduler.add(_seq(name, 4))
    plan = scheduler.schedule()
    assert [item.sequence.request_id for item in plan] == ["a", "b"]
    assert [s.request_id for s in scheduler.waiting] == ["c"]
    assert {s.slot for s in scheduler.running} == {0, 1}


def test_prefill_is_chunked_by_the_token_budget_and_asks_logits_at_the_end() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=8)
    scheduler.add(_seq("a", 20))
    sizes, logits = [], []
    while True:
        plan = scheduler.schedule()
        (item,) = plan
        sizes.append(len(item.tokens))
        logits.append(item.wants_logits)
        scheduler.commit(plan)
        if item.wants_logits:
            break
    assert sizes == [8, 8, 4]
    assert logits == [False, False, True]
    assert [0, 8, 16] == [8 * i for i in range(3)]


def test_decode_tokens_go_first_and_prefill_gets_the_rest_of_the_budget() -> None:
    scheduler = Scheduler(slots=2, batch_tokens=10)
    scheduler.add(_seq("a", 3))
    plan = scheduler.schedule()
    scheduler.commit(plan)
    scheduler.append_token(plan[0].sequence, 42)
    scheduler.add(_seq("b", 30))
    plan = scheduler.schedule()
    assert plan[0].sequence.request_id == "a"
    assert plan[0].tokens == (42,) and plan[0].start_position == 3 and plan[0].wants_logits
    assert plan[1].sequence.request_id == "b" and len(plan[1].tokens) == 9


def test_positions_continue_after_the_prompt() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=16)
    sequence = _seq("a", 5)
    scheduler.add(sequence)
    scheduler.commit(scheduler.schedule())
    for expected_position, token in zip((5, 6, 7), (10, 11, 12)):
        scheduler.append_token(sequence, token)
        (item,) = scheduler.schedule()
        assert item.start_position == expected_position and item.tokens == (token,)
        scheduler.commit([item])


def test_finish_frees_the_slot_for_the_next_waiting_request() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=16)
    first, second = _seq("a", 2), _seq("b", 2)
    scheduler.add(first)
    scheduler.add(second)
    scheduler.schedule()
    assert scheduler.finish(first) == 0 and first.phase is Phase.FINISHED
    plan = scheduler.schedule()
    assert [item.sequence.request_id for item in plan] == ["b"] and second.slot == 0


def test_abort_removes_waiting_and_running_sequences() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=16)
    scheduler.add(_seq("a", 2))
    scheduler.add(_seq("b", 2))
    scheduler.schedule()
    sequence, slot = scheduler.abort("b")
    assert sequence is not None and slot is None and not scheduler.waiting
    sequence, slot = scheduler.abort("a")
    assert sequence is not None and slot == 0 and not scheduler.has_work
    assert scheduler.abort("missing") == (None, None)


def _run_to_end(scheduler: Scheduler, sequence: Sequence, generated: list[int]) -> int:
    """Prefill, then 'sample' the given tokens; returns the freed slot."""
    while sequence.phase is not Phase.DECODE:
        plan = scheduler.schedule()
        scheduler.commit(plan)
        if any(item.wants_logits for item in plan):
            break
    for token in generated:
        scheduler.append_token(sequence, token)
        scheduler.commit(scheduler.schedule())
    return scheduler.finish(sequence)


def test_a_new_prompt_reuses_the_slot_holding_its_longest_prefix() -> None:
    scheduler = Scheduler(slots=2, batch_tokens=64)
    first, other = Sequence("a", (1, 2, 3, 4), 8), Sequence("b", (9, 9), 8)
    scheduler.add(first)
    scheduler.add(other)
    slot_a = _run_to_end(scheduler, first, [5, 6, 7])
    _run_to_end(scheduler, other, [8])
    scheduler.admitted.clear()
    # The conversation goes on: the old prompt, the answer, a new turn.
    follow_up = Sequence("c", (1, 2, 3, 4, 5, 6, 10, 11), 8)
    scheduler.add(follow_up)
    plan = scheduler.schedule()
    assert follow_up.slot == slot_a and follow_up.reused == 6  # 7 was sampled, never fed
    assert scheduler.admitted == [follow_up]
    assert plan[0].tokens == (10, 11) and plan[0].start_position == 6


def test_an_identical_prompt_still_decodes_its_last_token_for_logits() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=64)
    first = Sequence("a", (1, 2, 3), 8)
    scheduler.add(first)
    _run_to_end(scheduler, first, [4])
    again = Sequence("b", (1, 2, 3), 8)
    scheduler.add(again)
    plan = scheduler.schedule()
    assert again.reused == 2 and plan[0].tokens == (3,) and plan[0].wants_logits


def test_an_aborted_prefill_caches_only_what_was_decoded_and_forget_clears() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=2)
    first = Sequence("a", (1, 2, 3, 4, 5), 8)
    scheduler.add(first)
    scheduler.commit(scheduler.schedule())  # tokens 1, 2 are in the cache
    scheduler.abort("a")
    second = Sequence("b", (1, 2, 3, 4, 5), 8)
    scheduler.add(second)
    scheduler.schedule()
    assert second.reused == 2
    scheduler.abort("b")
    scheduler.forget(second.slot if second.slot >= 0 else 0)
    third = Sequence("c", (1, 2, 3), 8)
    scheduler.add(third)
    scheduler.schedule()
    assert third.reused == 0
