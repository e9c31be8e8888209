import pytest

from antiphon.engine.decode_batch import DecodeBatch
from antiphon.engine.scheduler import Scheduler, Sequence


def test_rows_hold_positions_slots_and_logits_flags() -> None:
    scheduler = Scheduler(slots=2, batch_tokens=16)
    scheduler.add(Sequence("a", (5, 6, 7), 4))
    scheduler.add(Sequence("b", (8,), 4))
    batch = DecodeBatch(16)
    try:
        rows = batch.fill(scheduler.schedule())
        handle = batch.handle
        assert handle.n_tokens == 4
        assert [handle.token[i] for i in range(4)] == [5, 6, 7, 8]
        assert [handle.pos[i] for i in range(4)] == [0, 1, 2, 0]
        assert [handle.seq_id[i][0] for i in range(4)] == [0, 0, 0, 1]
        assert [handle.logits[i] for i in range(4)] == [0, 0, 1, 1]
        assert [(row, item.sequence.request_id) for row, item in rows] == [(2, "a"), (3, "b")]
    finally:
        batch.free()


def test_an_oversized_plan_is_refused_before_anything_is_written() -> None:
    scheduler = Scheduler(slots=1, batch_tokens=8)
    scheduler.add(Sequence("a", tuple(range(8)), 4))
    plan = scheduler.schedule()
    batch = DecodeBatch(4)
    try:
        with pytest.raises(ValueError, match="exceeds the batch capacity"):
            batch.fill(plan)
        assert batch.handle.n_tokens == 0
    finally:
        batch.free()
