"""The llama.cpp context and its KV cache: size, sequence ids, and the cell operations the
prefix cache needs.

One unified pool of cells serves every sequence (`kv_unified`): that is what lets sequences
share cells, so `seq_cp` is a metadata update rather than a copy of K and V. Sequence ids
0 … parallel-1 are the running slots; the ids above them hold the prefix cache's nodes.
"""

from __future__ import annotations

import ctypes
import re

import llama_cpp

from antiphon.engine.llamacpp_model import LlamaModel

LLAMA_MAX_SEQ = 256  # llama-cparams.h: the most sequence ids a context can have
DEFAULT_CELLS_PER_SEQUENCE = 8192
MIN_KV_CELLS = 256  # the smallest window (--ctx) there is
_KV_BYTES_PER_ELEMENT = 2  # f16 K and V, llama.cpp's default cache type
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|KB|MB|GB)\s*$", re.IGNORECASE)
_UNITS = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def create_context(
    model: LlamaModel, kv_cells: int, sequence_ids: int, batch_tokens: int, threads: int,
    yarn_factor: float = 1.0, unified: bool = True,
) -> llama_cpp.llama_context_p:
    """The context as the engine makes it; `unified=False` gives each sequence id a stream of
    its own, kv_cells / sequence_ids cells each (llama-server's slots; bench/ compares them)."""
    params = llama_cpp.llama_context_default_params()
    if yarn_factor > 1.0:
        # llama.cpp's `--rope-scaling yarn --rope-scale F`: the original context is the
        # model's own (0: its YaRN original if it was trained with one, else n_ctx_train),
        # and the ext/attn/beta factors keep their YaRN defaults.
        params.rope_scaling_type = llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN
        params.rope_freq_scale = model.rope_freq_scale_train / yarn_factor
        params.yarn_orig_ctx = 0
    # One pool of cells for all sequences, so that they can share a prefix's cells. In decode
    # steps flash attention (on by default) skips other sequences' cells by their mask; in
    # prompt chunks it skips only tiles masked whole, so a chunk costs about the same per
    # token as with one KV stream per sequence (BENCHMARKS.md).
    params.n_ctx = kv_cells
    params.n_seq_max = sequence_ids
    params.kv_unified = unified
    # Sliding-window layers (Gemma 3) would otherwise drop the cells of positions that left
    # the window, which a prefix reused later still needs.
    params.swa_full = True
    params.n_batch = params.n_ubatch = batch_tokens
    params.n_threads = params.n_threads_batch = threads
    params.no_perf = True
    context: llama_cpp.llama_context_p = llama_cpp.llama_init_from_model(model.handle, params)
    if not context:
        raise RuntimeError("llama.cpp could not create a context (out of memory?)")
    return context


class LlamaKvCells:
    """`KvCells` over a llama.cpp context's memory (engine thread only)."""

    def __init__(self, context: llama_cpp.llama_context_p) -> None:
        self._context = context
        self._memory = llama_cpp.llama_get_memory(context)

    def copy(self, source: int, target: int, start: int, end: int) -> None:
        llama_cpp.llama_memory_seq_cp(self._memory, source, target, start, end)

    def drop(self, sequence: int, start: int, end: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory, sequence, start, end)

    def save(self, sequence: int) -> bytearray | None:
        # Written in place into the bytearray that is kept: one copy out of the pool.
        size = llama_cpp.llama_state_seq_get_size(self._context, sequence)
        state = bytearray(size)
        buffer = (ctypes.c_uint8 * size).from_buffer(state)
        written = llama_cpp.llama_state_seq_get_data(self._context, buffer, size, sequence)
        del buffer  # a bytearray cannot shrink while a view of it exists
        if written == 0:
            return None
        del state[written:]
        return state

    def load(self, state: bytearray | memoryview, sequence: int) -> bool:
        # llama.cpp places the cells wherever the pool has free ones (find_slot, not
        # necessarily contiguous) and fails cleanly when it has too few.
        buffer = (ctypes.c_uint8 * len(state)).from_buffer(state)
        if llama_cpp.llama_state_seq_set_data(self._context, buffer, len(state), sequence):
            return True
        llama_cpp.llama_memory_seq_rm(self._memory, sequence, -1, -1)
        return False


def bytes_per_cell(model: LlamaModel) -> int:
    """K and V of one token in every layer (grouped-query heads counted once)."""
    handle = model.handle
    layers = int(llama_cpp.llama_model_n_layer(handle))
    heads = max(1, int(llama_cpp.llama_model_n_head(handle)))
    kv_heads = int(llama_cpp.llama_model_n_head_kv(handle)) or heads
    head_size = int(llama_cpp.llama_model_n_embd(handle)) // heads
    return 2 * layers * kv_heads * head_size * _KV_BYTES_PER_ELEMENT


def default_kv_cells(context_window: int, parallel: int) -> int:
    """One full window, and room for every parallel sequence to hold a few thousand tokens
    (up to a window each): a 128k-token window is not multiplied by the parallel count."""
    return max(context_window, parallel * min(context_window, DEFAULT_CELLS_PER_SEQUENCE))


def kv_cells(setting: str | None, model: LlamaModel, context_window: int, parallel: int) -> int:
    """The KV budget in cells: a count, a size such as "2GiB", or the default. It may be
    below the window; the caller decides whether the window shrinks or that is an error."""
    if setting is None:
        return default_kv_cells(context_window, parallel)
    text = setting.strip()
    if text.isdigit():
        cells = int(text)
    else:
        total = byte_size(text)
        if total is None:
            raise ValueError(f"kv_cache: {setting!r} is neither a cell count nor a size")
        cells = int(total // bytes_per_cell(model))
    if cells < MIN_KV_CELLS:
        raise ValueError(f"kv_cache: {setting} holds {cells} tokens; at least {MIN_KV_CELLS}")
    return cells


def byte_size(text: str) -> int | None:
    """Bytes in a size such as "2GiB" or "500MB"; None if it is not one."""
    size = _SIZE.match(text)
    return None if size is None else int(float(size.group(1)) * _UNITS[size.group(2).lower()])


def prefix_cache_supported(model: LlamaModel) -> bool:
    """Recurrent state (Mamba, RWKV, hybrids) cannot be cut at a position and shared."""
    handle = model.handle
    if llama_cpp.llama_model_is_recurrent(handle):
        return False
    is_hybrid = getattr(llama_cpp, "llama_model_is_hybrid", None)
    return not (is_hybrid is not None and is_hybrid(handle))
