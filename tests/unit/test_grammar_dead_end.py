"""A grammar that no token of the vocabulary can continue ends the sequence with an error
instead of aborting the process (llama.cpp aborts when such a grammar accepts a token)."""

from __future__ import annotations

import llama_cpp
import pytest

from antiphon.engine.base import Grammar, SamplingParams
from antiphon.engine.grammar_sampling import GrammarDeadEnd, GrammarSampler
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources
from antiphon.engine.sampling import build_sampler_chain


@pytest.fixture(scope="module")
def model_and_context() -> tuple[LlamaModel, llama_cpp.llama_context_p]:
    model, _ = LlamaModel.load(resolve_sources(())[0])
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_threads, params.n_threads_batch = 256, 64, 1, 1
    context = llama_cpp.llama_init_from_model(model.handle, params)
    tokens = model.tokenize("<|im_start|>user\nSay it<|im_end|>\n<|im_start|>assistant\n", True, True)
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    assert llama_cpp.llama_decode(context, llama_cpp.llama_batch_get_one(array, len(tokens))) == 0
    return model, context


def test_a_character_no_token_can_spell_is_a_dead_end(model_and_context) -> None:
    model, context = model_and_context
    # SmolLM2's byte-level vocabulary has no token for the UTF-8 lead byte F1 (U+40000…).
    sampler = GrammarSampler(model.vocab, Grammar('root ::= "\U00040000"'), model.n_vocab)
    chain = build_sampler_chain(SamplingParams(seed=1))
    try:
        with pytest.raises(GrammarDeadEnd):
            sampler.sample(chain, context, -1)
    finally:
        llama_cpp.llama_sampler_free(chain)
        sampler.free()


def test_a_refused_token_is_resampled_within_the_grammar(model_and_context) -> None:
    model, context = model_and_context
    sampler = GrammarSampler(model.vocab, Grammar('root ::= "zq"'), model.n_vocab)
    chain = build_sampler_chain(SamplingParams(seed=1))
    try:
        token = sampler.sample(chain, context, -1)
        assert "zq".startswith(model.piece(token).decode())
    finally:
        llama_cpp.llama_sampler_free(chain)
        sampler.free()
