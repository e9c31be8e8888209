"""Per-model options after `--model`, and where a model's sampling defaults come from."""

from __future__ import annotations

import pytest

from antiphon.engine.base import SamplingDefaults, ThinkingControl
from antiphon.engine.model_source import (
    EMBEDDED_MAX_OUTPUT_TOKENS,
    EMBEDDED_MODEL_ID,
    ModelSourceError,
    embedded_model_path,
    parse_model_spec,
)
from antiphon.engine.sampling_defaults import SamplingChoice, from_gguf, resolve_sampling
from antiphon.services.generation import thinking_within


def test_options_follow_the_location_after_semicolons() -> None:
    source = parse_model_spec(
        f"mine={embedded_model_path()};ctx=4096;max-output-tokens=512;top_k=20;gpu-layers=12"
    )
    assert (source.model_id, source.ctx, source.max_output_tokens) == ("mine", 4096, 512)
    assert source.gpu_layers == 12  # this model only; the others follow --gpu-layers
    assert parse_model_spec("embedded").gpu_layers is None
    assert source.sampling == SamplingChoice(top_k=20)
    assert source.recommended_sampling == SamplingChoice()  # a file we did not ship as such


def test_embedded_names_the_shipped_file_with_its_recommendations() -> None:
    source = parse_model_spec("embedded;temperature=0.7")
    assert source.path == embedded_model_path() and source.model_id == EMBEDDED_MODEL_ID
    assert source.recommended_max_output_tokens == EMBEDDED_MAX_OUTPUT_TOKENS
    assert source.recommended_sampling == SamplingChoice(temperature=0.2, top_p=0.9)
    assert source.sampling == SamplingChoice(temperature=0.7)


@pytest.mark.parametrize(("spec", "message"), [
    ("embedded;colour=red", "unknown option 'colour'"),
    ("embedded;ctx=100", "ctx must be a whole number at least 256"),
    ("embedded;temperature=1.5", "temperature must be a number from 0 to 1"),
    ("embedded;top-p=lots", "top-p must be a number from 0 to 1"),
    ("embedded;gpu-layers=-2", "gpu-layers must be a whole number at least -1"),
    ("bad id=embedded", "may hold only letters"),
])
def test_bad_options_are_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ModelSourceError, match=message):
        parse_model_spec(spec)


def test_each_sampling_parameter_comes_from_the_first_source_that_sets_it() -> None:
    gguf = from_gguf({"general.sampling.temp": "0.6", "general.sampling.top_k": "20",
                      "general.sampling.top_p": "not a number"}.get)
    assert gguf == SamplingChoice(temperature=0.6, top_k=20)
    defaults = resolve_sampling(
        ("set by --model", SamplingChoice(top_k=5)), ("from the GGUF file", gguf),
        ("from its model card", SamplingChoice(temperature=0.2, top_p=0.9)),
    )
    assert defaults == SamplingDefaults(
        temperature=0.6, top_k=5, top_p=0.9,
        origin="set by --model, from the GGUF file, from its model card",
    )
    assert resolve_sampling(("x", SamplingChoice())) == SamplingDefaults()  # the API's 1.0


def test_a_request_wins_parameter_by_parameter() -> None:
    defaults = SamplingDefaults(temperature=0.2, top_p=0.9)
    params = defaults.apply(temperature=1.0, top_k=None, top_p=None, seed=3)
    assert (params.temperature, params.top_k, params.top_p, params.seed) == (1.0, None, 0.9, 3)
    assert defaults.apply(None, 40, 1.0, None).temperature == 0.2


def test_a_thinking_budget_keeps_to_half_of_a_clamped_max_tokens() -> None:
    thinking = ThinkingControl("</think>", "\n</think>\n\n", budget_tokens=31999)
    assert thinking_within(thinking, 32000, 4096).budget_tokens == 2048  # type: ignore[union-attr]
    assert thinking_within(thinking, 32000, 32000) is thinking  # not clamped: as asked
    small = ThinkingControl("</think>", "\n</think>\n\n", budget_tokens=1500)
    assert thinking_within(small, 8000, 4096) is small  # already leaves room
    assert thinking_within(None, 32000, 4096) is None
