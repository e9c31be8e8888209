"""What moving a cached prefix out of the KV pool and back costs, against prefilling it
(issue 14: "a restored prefix costs a copy, not a prefill").

Straight on llama.cpp, through the engine's own context and `LlamaKvCells`: a prefix of N
tokens is prefilled into one sequence id (timed), saved to host memory (`save`, llama.cpp's
per-sequence state), dropped from the pool, and loaded back under another id (`load`).
Medians of --repeat rounds.

    .venv/bin/python bench/prefix_copy.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import llama_cpp
from kv_pool_decode import CHUNK, write  # type: ignore[import-not-found]

from antiphon.engine.llamacpp_kv import LlamaKvCells, create_context
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="1024,4096,12288")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model, _ = LlamaModel.load(resolve_sources(("embedded",))[0])
    sizes = [int(size) for size in args.sizes.split(",")]
    context = create_context(model, max(sizes) * 2 + 512, 8, CHUNK, args.threads)
    cells = LlamaKvCells(context)
    batch = llama_cpp.llama_batch_init(CHUNK, 0, 1)
    print("| prefix tokens | prefill s | state MiB | save ms | load ms |")
    print("|---|---|---|---|---|")
    try:
        for size in sizes:
            prefill, save, load, mib = [], [], [], 0.0
            for _ in range(args.repeat):
                began = time.perf_counter()
                write(context, batch, 1, 0, size)
                prefill.append(time.perf_counter() - began)
                began = time.perf_counter()
                state = cells.save(1)
                save.append(time.perf_counter() - began)
                assert state is not None
                mib = len(state) / 2**20
                cells.drop(1, -1, -1)
                began = time.perf_counter()
                assert cells.load(state, 2)
                load.append(time.perf_counter() - began)
                cells.drop(2, -1, -1)
            print(f"| {size:,} | {statistics.median(prefill):.2f} | {mib:.0f} "
                  f"| {statistics.median(save) * 1000:.1f} | {statistics.median(load) * 1000:.1f} |")
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)
        model.free()


if __name__ == "__main__":
    main()
