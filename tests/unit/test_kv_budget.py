"""`--kv-cache`: a cell count or a size, converted with the model's own K/V shape; and the
default budget, which does not multiply a long window by the parallel count."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from antiphon.engine.llamacpp_kv import bytes_per_cell, default_kv_cells, kv_cells
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaModel]:
    loaded, _ = LlamaModel.load(resolve_sources(())[0])
    yield loaded
    loaded.free()


def test_default_is_one_window_and_room_for_every_parallel_sequence(model: LlamaModel) -> None:
    assert kv_cells(None, model, 2048, 4) == 8192  # short windows: one per sequence
    assert default_kv_cells(32768, 4) == 32768  # the embedded model's default: one window
    assert default_kv_cells(32768, 16) == 16 * 8192
    assert default_kv_cells(131072, 4) == 131072  # a long window is not multiplied


def test_a_count_or_a_size(model: LlamaModel) -> None:
    assert kv_cells("10000", model, 2048, 4) == 10000
    # SmolLM2-135M: 30 layers x 3 KV heads x 64 dims, K and V in f16.
    assert bytes_per_cell(model) == 30 * 3 * 64 * 2 * 2
    assert kv_cells("512MiB", model, 2048, 4) == 512 * 2**20 // bytes_per_cell(model)
    assert kv_cells("1000", model, 2048, 4) == 1000  # below the window: the caller decides


def test_budgets_that_cannot_work_are_refused(model: LlamaModel) -> None:
    with pytest.raises(ValueError, match="at least 256"):
        kv_cells("100", model, 2048, 4)
    with pytest.raises(ValueError, match="neither a cell count nor a size"):
        kv_cells("lots", model, 2048, 4)
