import pytest

from antiphon.engine.decode_batch import DecodeBatch
from antiphon.engine.scheduler import Sequence, StepItem


def _item(name: str, slot: int, tokens: tuple[int, ...], wants_logits: bool = True) -> StepItem:
    sequence = Sequence(name, tokens, 4, slot=slot)
    return StepItem(sequence, tokens, 0, wants_logits)


def test_rows_hold_positions_slots_and_logits_flags() -> None:
    batch = DecodeBatch(16)
    try:
        rows = batch.fill([_item("a", 0, (5, 6, 7)), _item("b", 1, (8,))])
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
    plan = [_item("a", 0, tuple(range(8)))]
    batch = DecodeBatch(4)
    try:
        with pytest.raises(ValueError, match="exceeds the batch capacity"):
            batch.fill(plan)
        assert batch.handle.n_tokens == 0
    finally:
        batch.free()
