"""One argmax over a step's logits picks what llama.cpp's greedy sampler picks, row by row."""

from __future__ import annotations

from collections.abc import Iterator

import llama_cpp
import pytest

from antiphon.engine.base import SamplingParams
from antiphon.engine.llamacpp_kv import create_context
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources
from antiphon.engine.sampling import build_sampler_chain, greedy_tokens

SEQUENCES = 16


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaModel]:
    loaded, _ = LlamaModel.load(resolve_sources(())[0])
    yield loaded
    loaded.free()


def test_greedy_tokens_match_the_greedy_sampler_on_every_row(model: LlamaModel) -> None:
    context = create_context(model, 1024, SEQUENCES, 64, 2)
    batch = llama_cpp.llama_batch_init(64, 0, 1)
    chain = build_sampler_chain(SamplingParams(temperature=0.0))
    try:
        # Each sequence: a few prompt tokens, logits only for its last one, as a step asks.
        row = 0
        for sequence in range(SEQUENCES):
            for position in range(3):
                batch.token[row] = 1000 + 37 * sequence + position
                batch.pos[row] = position
                batch.n_seq_id[row] = 1
                batch.seq_id[row][0] = sequence
                batch.logits[row] = position == 2
                row += 1
        batch.n_tokens = row
        assert llama_cpp.llama_decode(context, batch) == 0
        expected = [
            int(llama_cpp.llama_sampler_sample(chain, context, 3 * sequence + 2))
            for sequence in range(SEQUENCES)
        ]
        assert greedy_tokens(context, SEQUENCES, model.n_vocab) == expected
        assert len(set(expected)) > 1  # the rows differ: a mix-up of rows would show
    finally:
        llama_cpp.llama_sampler_free(chain)
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)
