"""A decode step's time in llama.cpp alone: one unified KV pool, as the engine creates it,
against one KV stream per sequence, as llama-server creates its slots.

    python bench/kv_layout.py            # 3 rounds, one line per layout: median ms a step
    python bench/kv_layout.py 32         # 32 sequences instead of 8

Eight sequences of a 40-token prompt decode 128 steps in lockstep (the chat benchmark's
shape at C = 16 on 8 slots). The unified pool runs three ways: alone, and beside 4,096 or
14,000 cells of other sequence ids, as the prefix cache keeps idle prefixes in the pool.
Flash attention on the CPU loops, for every query row and head, over every cell up to the
pool's highest used one and skips the cells its mask hides: the more of the pool is in use,
the longer a step, however few cells each sequence sees.
"""

from __future__ import annotations

import sys
import time

import llama_cpp

from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources

SEQUENCES = int(sys.argv[1]) if len(sys.argv) > 1 else 8
PROMPT, STEPS, POOL, ROUNDS = 40, 128, 32768, 3
CACHED_PREFIX = 64  # cells a filler sequence holds
LAYOUTS = ((False, 0), (True, 0), (True, 4096), (True, 14000))  # (unified, filler cells)


def make_context(model: LlamaModel, unified: bool, sequence_ids: int) -> llama_cpp.llama_context_p:
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_seq_max, params.kv_unified = POOL, sequence_ids, unified
    params.n_batch = params.n_ubatch = 512
    params.n_threads = params.n_threads_batch = 2
    params.no_perf = True
    return llama_cpp.llama_init_from_model(model.handle, params)


def prefill(context: llama_cpp.llama_context_p, batch: llama_cpp.llama_batch, sequence: int,
            count: int) -> None:
    batch.n_tokens = count
    for i in range(count):
        batch.token[i], batch.pos[i] = 100 + i % 50, i
        batch.n_seq_id[i], batch.seq_id[i][0], batch.logits[i] = 1, sequence, i == count - 1
    assert llama_cpp.llama_decode(context, batch) == 0


def median_step_ms(model: LlamaModel, unified: bool, filler_cells: int) -> float:
    fillers = filler_cells // CACHED_PREFIX
    context = make_context(model, unified, SEQUENCES + fillers)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    for filler in range(fillers):
        prefill(context, batch, SEQUENCES + filler, CACHED_PREFIX)
    for sequence in range(SEQUENCES):
        prefill(context, batch, sequence, PROMPT)
    steps: list[float] = []
    for step in range(STEPS):
        batch.n_tokens = SEQUENCES
        for s in range(SEQUENCES):
            batch.token[s], batch.pos[s] = 200 + step % 50, PROMPT + step
            batch.n_seq_id[s], batch.seq_id[s][0], batch.logits[s] = 1, s, True
        started = time.perf_counter()
        assert llama_cpp.llama_decode(context, batch) == 0
        steps.append(time.perf_counter() - started)
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(context)
    return sorted(steps)[len(steps) // 2] * 1e3


def main() -> None:
    model, _ = LlamaModel.load(resolve_sources(())[0])
    for round_ in range(1, ROUNDS + 1):
        for unified, filler in LAYOUTS:
            layout = f"unified pool, {filler:>5} other cells" if unified else "stream per sequence"
            print(f"round {round_}  {layout:<32} {median_step_ms(model, unified, filler):6.1f} ms",
                  flush=True)
    model.free()


if __name__ == "__main__":
    main()
