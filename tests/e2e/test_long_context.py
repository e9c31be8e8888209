"""A model extended with YaRN reads past its training context.

SmolLM2-135M was trained on 8,192 tokens; served by default, its window is 32,768, reached
with YaRN ×4 (engine/model_limits.py). This scores the model's own next-token predictions
on text at positions 11,600-12,000 — past the training context — in a context made exactly
as the engine makes it, and compares them with the same tokens read after only 1,200 tokens
of context, well inside the training range. With YaRN the far reading is nearly as good
(measured: 2.49 against 2.31 nats per token); with plain positions it collapses (3.70),
because the model never saw rotations that large.

The text is the Python reference's topics as the standard library ships them
(`pydoc_data.topics`): prose that stays put. It used to be this repository's README, whose
scored window moved with every edit above it, and YaRN's cost moves with the text (0.03
nats on one window of the README, 0.29 on another).
"""

from __future__ import annotations

import math
import pydoc_data.topics as topics
from collections.abc import Iterator

import llama_cpp
import numpy as np
import pytest

from antiphon.engine.llamacpp_kv import create_context
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_limits import plan_context_window
from antiphon.engine.model_source import resolve_sources

TOTAL_TOKENS = 12_000
SCORED_TOKENS = 400
NEAR_CONTEXT = 1_200
CHUNK = 512


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaModel]:
    loaded, _ = LlamaModel.load(resolve_sources(())[0])
    yield loaded
    loaded.free()


def mean_surprise(model: LlamaModel, tokens: list[int], yarn_factor: float) -> float:
    """Mean negative log-likelihood (nats) of the last SCORED_TOKENS tokens, each predicted
    from everything before it, in a context created as the engine creates its own."""
    context = create_context(model, len(tokens), 1, CHUNK, 2, yarn_factor)
    batch = llama_cpp.llama_batch_init(CHUNK, 0, 1)
    surprises: list[float] = []
    first_scored = len(tokens) - SCORED_TOKENS
    try:
        for start in range(0, len(tokens), CHUNK):
            chunk = tokens[start : start + CHUNK]
            batch.n_tokens = len(chunk)
            for row, token in enumerate(chunk):
                position = start + row
                batch.token[row], batch.pos[row] = token, position
                batch.n_seq_id[row], batch.seq_id[row][0] = 1, 0
                batch.logits[row] = first_scored - 1 <= position < len(tokens) - 1
            assert llama_cpp.llama_decode(context, batch) == 0
            for row in range(len(chunk)):
                if batch.logits[row]:
                    logits = np.ctypeslib.as_array(
                        llama_cpp.llama_get_logits_ith(context, row), shape=(model.n_vocab,)
                    ).astype(np.float64)
                    top = logits.max()
                    log_total = top + math.log(float(np.exp(logits - top).sum()))
                    surprises.append(log_total - logits[tokens[start + row + 1]])
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)
    assert len(surprises) == SCORED_TOKENS
    return sum(surprises) / len(surprises)


def test_yarn_reads_past_the_training_context_as_well_as_within_it(model: LlamaModel) -> None:
    window = plan_context_window(model.n_ctx_train, None, 32768, model.rope_scalable)
    assert (window.tokens, window.trained, window.yarn_factor) == (32768, 8192, 4.0)
    text = "\n\n".join(topics.topics[name] for name in sorted(topics.topics))
    tokens = model.tokenize(text, add_bos=False, parse_control=False)
    assert len(tokens) >= TOTAL_TOKENS, "the reference got shorter than the test needs"
    tokens = tokens[:TOTAL_TOKENS]
    assert TOTAL_TOKENS - SCORED_TOKENS > 1.4 * window.trained  # scored well past training

    far = mean_surprise(model, tokens, window.yarn_factor)
    near = mean_surprise(model, tokens[-(NEAR_CONTEXT + SCORED_TOKENS) :], 1.0)
    assert far < near + 0.25, f"past the training context {far:.2f} nats/token, within {near:.2f}"
