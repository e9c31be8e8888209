"""Layer placement: what is asked of llama.cpp, what start-up says, and loading's progress."""

from __future__ import annotations

import threading

import llama_cpp
import pytest

from antiphon.engine.gpu_offload import GpuDevice, GpuPlacement, gpu_devices
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources

H100 = GpuDevice("CUDA0", "NVIDIA H100 80GB HBM3", 80 * 2**30, 80 * 2**30)
SECOND = GpuDevice("CUDA1", "NVIDIA H100 80GB HBM3", 40 * 2**30, 80 * 2**30)


def test_the_placement_is_what_llama_cpp_is_asked_for() -> None:
    params = llama_cpp.llama_model_default_params()
    GpuPlacement(layers=12, split_mode="row", main_gpu=1).apply(params)
    assert (params.n_gpu_layers, params.split_mode, params.main_gpu) == (
        12, llama_cpp.LLAMA_SPLIT_MODE_ROW, 1)
    GpuPlacement().apply(params)  # the default: every layer, split by layer, GPU 0
    assert (params.n_gpu_layers, params.split_mode, params.main_gpu) == (
        -1, llama_cpp.LLAMA_SPLIT_MODE_LAYER, 0)


def test_start_up_says_where_the_layers_went() -> None:
    assert GpuPlacement().describe(30, ()) == "all 31 layers on the CPU"
    assert GpuPlacement(layers=0).describe(30, (H100,)) == "all 31 layers on the CPU"
    every = GpuPlacement().describe(30, (H100,))
    assert every.startswith("31/31 layers on CUDA0 (NVIDIA H100 80GB HBM3, 80.0 of 80.0 GiB free)")
    assert "KV cache with its layers" in every
    some = GpuPlacement(layers=10).describe(30, (H100,))
    assert some.startswith("10/31 layers on CUDA0") and "21 on the CPU" in some
    split = GpuPlacement().describe(30, (H100, SECOND))
    assert "CUDA0" in split and "CUDA1" in split and "whole layers by free memory" in split
    assert "CUDA1" in GpuPlacement(split_mode="none", main_gpu=1).describe(30, (H100, SECOND))
    assert "CUDA0" not in GpuPlacement(split_mode="none", main_gpu=1).describe(30, (H100, SECOND))


def test_only_a_model_wholly_on_gpus_keeps_idle_prefixes_in_the_pool() -> None:
    """The engine copies idle prefixes out of the pool each step only where some attention
    runs on the CPU (Scheduler's `spill_idle`)."""
    assert GpuPlacement().all_on_gpus(30, (H100,))
    assert GpuPlacement(layers=99).all_on_gpus(30, (H100, SECOND))
    assert not GpuPlacement(layers=30).all_on_gpus(30, (H100,))  # the output layer stays
    assert not GpuPlacement().all_on_gpus(30, ())


def test_a_main_gpu_the_machine_lacks_is_refused() -> None:
    GpuPlacement(main_gpu=1).check((H100, SECOND))
    with pytest.raises(ValueError, match="main_gpu: 2 is not a GPU here; there are 2"):
        GpuPlacement(main_gpu=2).check((H100, SECOND))
    GpuPlacement(main_gpu=5).check(())  # a CPU build offloads nothing: nothing to check


def test_this_cpu_build_lists_no_gpu() -> None:
    assert gpu_devices() == ()


def test_loading_reports_progress_on_the_calling_thread_only() -> None:
    """llama.cpp calls its progress callback from inside the loader: the caller's display
    (a live terminal, on a thread of its own) must never be drawn from there."""
    seen: list[tuple[float, threading.Thread]] = []
    model, _ = LlamaModel.load(
        resolve_sources(())[0], lambda fraction: seen.append((fraction, threading.current_thread()))
    )
    try:
        assert seen and {thread for _, thread in seen} == {threading.current_thread()}
        fractions = [fraction for fraction, _ in seen]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        assert model.layer_count == 30
    finally:
        model.free()
