"""Per-sequence sampler chains, built from llama.cpp's samplers so sampling stays in C."""

from __future__ import annotations

import random

import llama_cpp

from antiphon.engine.base import SamplingParams


def build_sampler_chain(params: SamplingParams) -> llama_cpp.llama_sampler_p:
    """top-k → top-p → temperature → draw; temperature 0 is plain greedy decoding.

    The caller owns the chain and frees it with `llama_sampler_free`."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
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
