"""Per-sequence sampler chains of llama.cpp's samplers, for the sequences a grammar governs:
the grammar needs llama.cpp's candidate array. Every other row's token is drawn from the same
distribution in numpy, with the rest of its step's (engine/row_sampling.py)."""

from __future__ import annotations

import ctypes
import random
import re
from collections.abc import Sequence

import llama_cpp

from antiphon.engine.base import Grammar, SamplingParams
from antiphon.errors import InternalError


def _new_chain() -> llama_cpp.llama_sampler_p:
    chain: llama_cpp.llama_sampler_p = llama_cpp.llama_sampler_chain_init(
        llama_cpp.llama_sampler_chain_default_params()
    )
    return chain


def grammar_sampler(vocab: llama_cpp.llama_vocab_p, grammar: Grammar) -> llama_cpp.llama_sampler_p:
    text = grammar.gbnf.encode("utf-8")
    sampler: llama_cpp.llama_sampler_p
    if not grammar.lazy_triggers:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, text, b"root")
    else:
        # A trigger word is a regex matched anywhere in the output; the grammar then applies
        # from the match (llama.cpp common/sampling.cpp does the same with its words).
        patterns = [re.escape(word).encode("utf-8") for word in grammar.lazy_triggers]
        array = (ctypes.c_char_p * len(patterns))(*patterns)
        sampler = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            vocab, text, b"root", array, len(patterns), None, 0
        )
    if not sampler:  # our grammars are generated, so this is a bug, not a client error
        raise InternalError("llama.cpp rejected a generated grammar")
    return sampler


def _banned_tokens_sampler(n_vocab: int, banned: Sequence[int]) -> llama_cpp.llama_sampler_p:
    biases = (llama_cpp.llama_logit_bias * len(banned))()
    for slot, token in zip(biases, banned):
        slot.token = token
        slot.bias = float("-inf")
    sampler: llama_cpp.llama_sampler_p = llama_cpp.llama_sampler_init_logit_bias(
        n_vocab, len(banned), biases
    )
    return sampler


def build_sampler_chain(
    params: SamplingParams, *, n_vocab: int = 0, banned_tokens: Sequence[int] = ()
) -> llama_cpp.llama_sampler_p:
    """[bans] → top-k → top-p → temperature → draw; temperature 0 is greedy decoding.

    A grammar is not part of the chain: `GrammarSampler` consults it around the chain. The
    caller owns the chain and frees it with `llama_sampler_free`."""
    chain = _new_chain()
    if banned_tokens:
        llama_cpp.llama_sampler_chain_add(chain, _banned_tokens_sampler(n_vocab, banned_tokens))
    if params.greedy:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    if params.top_k is not None and params.top_k > 0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(params.top_k))
    if params.top_p is not None and params.top_p < 1.0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(params.temperature))
    seed = params.seed if params.seed is not None else random.getrandbits(32)
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain
