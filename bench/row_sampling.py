"""Per-row cost of picking a token: llama.cpp's sampler chain (one row at a time) against the
engine's numpy picks (engine/row_sampling.py), on the embedded model's real logits.

    python bench/row_sampling.py        # prints one line per setting, µs a row

The rows are every position of a ~60-token prompt and the last position of a few others,
so both flat rows (a prompt's first tokens) and peaked ones are in it; what generation
gives is mostly the peaked kind.
"""

from __future__ import annotations

import time

import llama_cpp

from antiphon.engine.base import SamplingParams
from antiphon.engine.llamacpp_kv import create_context
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources
from antiphon.engine.row_sampling import RowSampler, pick_tokens, step_logits
from antiphon.engine.sampling import build_sampler_chain

TEXT = (
    "<|im_start|>user\nWrite a short story about a robot who learns to paint, and describe "
    "the colours.<|im_end|>\n<|im_start|>assistant\nOnce upon a time, in a small town, there "
    "lived a robot named Pixel. Pixel loved colours more than anything"
)
SETTINGS = (
    SamplingParams(temperature=0.7, top_p=0.9),
    SamplingParams(temperature=0.2, top_p=0.9),
    SamplingParams(temperature=1.0),
    SamplingParams(temperature=0.7, top_k=40, top_p=0.95),
    SamplingParams(temperature=0.0),
)
REPEATS = 5


def main() -> None:
    model, _ = LlamaModel.load(resolve_sources(())[0])
    tokens = model.tokenize(TEXT, False, True)[:64]
    context = create_context(model, 512, 1, 64, 2)
    batch = llama_cpp.llama_batch_init(64, 0, 1)
    for position, token in enumerate(tokens):
        batch.token[position], batch.pos[position] = token, position
        batch.n_seq_id[position], batch.seq_id[position][0] = 1, 0
        batch.logits[position] = True
    batch.n_tokens = len(tokens)
    assert llama_cpp.llama_decode(context, batch) == 0
    logits = step_logits(context, len(tokens), model.n_vocab)
    print(f"{len(tokens)} rows of {model.n_vocab} logits; µs a row, mean of {REPEATS} passes")
    for params in SETTINGS:
        chains = [build_sampler_chain(params) for _ in tokens]
        started = time.perf_counter()
        for _ in range(REPEATS):
            for row, chain in enumerate(chains):
                llama_cpp.llama_sampler_sample(chain, context, row)
        chain_us = (time.perf_counter() - started) / (REPEATS * len(tokens)) * 1e6
        samplers = [RowSampler.of(params) for _ in tokens]
        started = time.perf_counter()
        for _ in range(REPEATS):
            pick_tokens(logits, samplers)
        numpy_us = (time.perf_counter() - started) / (REPEATS * len(tokens)) * 1e6
        print(f"{params!r}: llama.cpp chain {chain_us:7.0f}   numpy {numpy_us:6.0f}   "
              f"({chain_us / numpy_us:.1f}x)")
        for chain in chains:
            llama_cpp.llama_sampler_free(chain)
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(context)
    model.free()


if __name__ == "__main__":
    main()
