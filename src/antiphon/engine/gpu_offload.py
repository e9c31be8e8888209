"""Where a model's layers run: how many go to GPUs, how they are split, and what is there.

llama.cpp decides the placement from three model parameters (llama-server's `-ngl`, `-sm`,
`-mg`): the number of layers offloaded (the last ones first; -1: every layer), how several
GPUs share them (`layer`: whole layers by free memory, `row`: each matrix split by rows,
`none`: one GPU only) and which GPU holds what is not split. The KV cache of an offloaded
layer lives on that layer's GPU (`offload_kqv`, on by default), so it follows the layers.

The devices are read through ggml's backend registry (`ggml-backend.h`), the library the
bindings already load: a CPU-only build lists no GPU, and then nothing is offloaded.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import llama_cpp

from antiphon.engine.base import SplitMode

_SPLIT_MODES: dict[SplitMode, int] = {
    "none": llama_cpp.LLAMA_SPLIT_MODE_NONE,
    "layer": llama_cpp.LLAMA_SPLIT_MODE_LAYER,
    "row": llama_cpp.LLAMA_SPLIT_MODE_ROW,
}
# ggml_backend_dev_type (ggml-backend.h): CPU, GPU, integrated GPU, accelerator.
_GPU_TYPES = (1, 2)


@dataclass(frozen=True)
class GpuDevice:
    name: str  # ggml's: CUDA0, Vulkan0, Metal …
    description: str  # the card: "NVIDIA H100 80GB HBM3"
    free_bytes: int
    total_bytes: int

    def describe(self) -> str:
        return (
            f"{self.name} ({self.description}, {self.free_bytes / 2**30:.1f} of "
            f"{self.total_bytes / 2**30:.1f} GiB free)"
        )


@dataclass(frozen=True)
class GpuPlacement:
    """What the operator asked for (`--gpu-layers`, `--split-mode`, `--main-gpu`)."""

    layers: int = -1  # -1: every layer (none when there is no GPU)
    split_mode: SplitMode = "layer"
    main_gpu: int = 0

    def apply(self, params: llama_cpp.llama_model_params) -> None:
        params.n_gpu_layers = self.layers
        params.split_mode = _SPLIT_MODES[self.split_mode]
        params.main_gpu = self.main_gpu

    def check(self, devices: tuple[GpuDevice, ...]) -> None:
        """Reject a placement that names a GPU this machine does not have."""
        if devices and not 0 <= self.main_gpu < len(devices):
            raise ValueError(
                f"main_gpu: {self.main_gpu} is not a GPU here; there are {len(devices)} "
                f"({', '.join(device.name for device in devices)})"
            )

    def offloaded(self, layer_count: int, devices: tuple[GpuDevice, ...]) -> int:
        """Layers llama.cpp puts on GPUs, of `layer_count + 1` (it counts the output layer as
        one more: it offloads `n_layer + 1` for "every layer")."""
        if not devices:
            return 0
        total = layer_count + 1
        return total if self.layers < 0 else min(self.layers, total)

    def all_on_gpus(self, layer_count: int, devices: tuple[GpuDevice, ...]) -> bool:
        """Every layer, and so every layer's KV cache, on GPUs: no attention runs on the CPU."""
        return self.offloaded(layer_count, devices) == layer_count + 1

    def describe(self, layer_count: int, devices: tuple[GpuDevice, ...]) -> str:
        """Where the layers went, as llama.cpp places them."""
        total = layer_count + 1
        offloaded = self.offloaded(layer_count, devices)
        if offloaded == 0:
            return f"all {total} layers on the CPU"
        if self.split_mode == "none" or len(devices) == 1:
            used = devices[self.main_gpu] if self.main_gpu < len(devices) else devices[0]
            where = used.describe()
        else:
            how = "whole layers by free memory" if self.split_mode == "layer" else "rows of each matrix"
            where = f"{', '.join(device.describe() for device in devices)}; split: {how}"
        on_cpu = f", {total - offloaded} on the CPU" if offloaded < total else ""
        return f"{offloaded}/{total} layers on {where}{on_cpu}; KV cache with its layers"


@cache
def _ggml() -> ctypes.CDLL | None:
    """libggml beside the bindings' libllama (where its backends register), if found."""
    library_dir = Path(llama_cpp.llama_cpp._lib._name).parent
    for name in ("libggml.so", "libggml.dylib", "ggml.dll"):
        path = library_dir / name
        if path.exists():
            ggml = ctypes.CDLL(str(path))
            ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
            ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
            ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
            for function in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
                getattr(ggml, function).argtypes = [ctypes.c_void_p]
                getattr(ggml, function).restype = ctypes.c_char_p
            ggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
            ggml.ggml_backend_dev_type.restype = ctypes.c_int
            ggml.ggml_backend_dev_memory.argtypes = [
                ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)
            ]
            return ggml
    return None


def gpu_devices() -> tuple[GpuDevice, ...]:
    """The GPUs llama.cpp can offload to (none on a CPU-only build). Call after the backend
    is initialised (`llama_backend_init`)."""
    ggml = _ggml()
    if ggml is None or not llama_cpp.llama_supports_gpu_offload():
        return ()
    devices = []
    for index in range(ggml.ggml_backend_dev_count()):
        device = ggml.ggml_backend_dev_get(index)
        if ggml.ggml_backend_dev_type(device) not in _GPU_TYPES:
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        ggml.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
        devices.append(GpuDevice(
            ggml.ggml_backend_dev_name(device).decode(errors="replace"),
            ggml.ggml_backend_dev_description(device).decode(errors="replace"),
            free.value, total.value,
        ))
    return tuple(devices)
