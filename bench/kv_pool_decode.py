"""What a decode step costs in one unified KV pool, by what else the pool holds (issue 14).

Straight on llama.cpp, the way the engine creates its context (engine/llamacpp_kv.py): one
pool of `--cells` cells for many sequence ids. For each amount of "cached" cells (other
sequence ids' tokens, as the prefix cache keeps them), one sequence with a prompt of
`--prompt` tokens decodes `--steps` tokens one at a time, and the median step is reported.

Two placements of the cached cells:
- before: written first, so the running sequence's cells come after them (what a server in
  use has: its prefix cache fills the low cells, new requests land above);
- after: the running sequence's prompt is written first, then the cached cells.

In both the step attends over n_kv = the highest used cell, masked to its own cells. If the
cost followed only the sequence's own context, every row would be the same.

    .venv/bin/python bench/kv_pool_decode.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import llama_cpp

from antiphon.engine.llamacpp_kv import create_context
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources

CHUNK = 512
RUNNING = 0  # the decoding sequence's id; cached cells use ids 1 …


def write(context: llama_cpp.llama_context_p, batch: llama_cpp.llama_batch, sequence: int,
          start: int, count: int, token: int = 100) -> None:
    """Prefill `count` tokens of `sequence` from position `start`, in chunks."""
    for offset in range(0, count, CHUNK):
        size = min(CHUNK, count - offset)
        batch.n_tokens = size
        for row in range(size):
            batch.token[row] = token + (offset + row) % 1000
            batch.pos[row] = start + offset + row
            batch.n_seq_id[row], batch.seq_id[row][0] = 1, sequence
            batch.logits[row] = False
        if llama_cpp.llama_decode(context, batch) != 0:
            raise RuntimeError("llama_decode failed while filling the pool")


def decode_steps(context: llama_cpp.llama_context_p, batch: llama_cpp.llama_batch,
                 start: int, steps: int) -> list[float]:
    seconds = []
    for step in range(steps):
        batch.n_tokens = 1
        batch.token[0], batch.pos[0] = 200 + step, start + step
        batch.n_seq_id[0], batch.seq_id[0][0] = 1, RUNNING
        batch.logits[0] = True
        began = time.perf_counter()
        if llama_cpp.llama_decode(context, batch) != 0:
            raise RuntimeError("llama_decode failed")
        seconds.append(time.perf_counter() - began)
    return seconds


def measure(model: LlamaModel, args: argparse.Namespace, cached: int, before: bool) -> float:
    context = create_context(model, args.cells, 64, CHUNK, args.threads)
    batch = llama_cpp.llama_batch_init(CHUNK, 0, 1)
    try:
        def fill_cache() -> None:
            for index, offset in enumerate(range(0, cached, args.entry)):
                write(context, batch, 1 + index, 0, min(args.entry, cached - offset), 300 + index)

        if before:
            fill_cache()
        write(context, batch, RUNNING, 0, args.prompt)
        if not before:
            fill_cache()
        times = decode_steps(context, batch, args.prompt, args.steps)
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)
    return statistics.median(times[args.steps // 4 :]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--cells", type=int, default=32768)
    parser.add_argument("--prompt", type=int, default=256, help="the decoding sequence's prompt")
    parser.add_argument("--entry", type=int, default=1024, help="tokens per cached sequence")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cached", default="0,4096,8192,16384,24576")
    args = parser.parse_args()
    model, _ = LlamaModel.load(resolve_sources((args.model,))[0])
    print(f"{args.cells}-cell pool, prompt {args.prompt}, {args.threads} threads, "
          f"median ms per decode step (one sequence):")
    print("| cached cells | cached before the sequence | cached after it |")
    print("|---|---|---|")
    for cached in (int(value) for value in args.cached.split(",")):
        before = measure(model, args, cached, True)
        after = measure(model, args, cached, False)
        print(f"| {cached} | {before:.1f} | {after:.1f} |", flush=True)
    model.free()


if __name__ == "__main__":
    main()
