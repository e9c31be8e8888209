"""One decode step's input: a scheduler plan written into a reusable `llama_batch`."""

from __future__ import annotations

import llama_cpp

from antiphon.engine.scheduler import StepItem


class DecodeBatch:
    """Owns a `llama_batch` sized for the step budget; engine thread only."""

    def __init__(self, capacity: int) -> None:
        self.handle = llama_cpp.llama_batch_init(capacity, 0, 1)
        self.capacity = capacity

    def fill(self, plan: list[StepItem]) -> list[tuple[int, StepItem]]:
        """Write every item's tokens with its positions and sequence id. Returns, for each item
        that wants a next token, the batch row whose logits to sample from."""
        total = sum(len(item.tokens) for item in plan)
        if total > self.capacity:  # checked before writing: the rows are a fixed C buffer
            raise ValueError(f"plan of {total} tokens exceeds the batch capacity {self.capacity}")
        batch = self.handle
        row = 0
        sample_rows: list[tuple[int, StepItem]] = []
        for item in plan:
            slot = item.sequence.slot
            last = len(item.tokens) - 1
            for offset, token in enumerate(item.tokens):
                wants = item.wants_logits and offset == last
                batch.token[row] = token
                batch.pos[row] = item.start_position + offset
                batch.n_seq_id[row] = 1
                batch.seq_id[row][0] = slot
                batch.logits[row] = wants
                if wants:
                    sample_rows.append((row, item))
                row += 1
        batch.n_tokens = row
        return sample_rows

    def free(self) -> None:
        llama_cpp.llama_batch_free(self.handle)
