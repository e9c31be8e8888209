"""`--model` for a pool of upstream engines (engine/remote/source.py)."""

from __future__ import annotations

import pytest

from antiphon.engine.model_source import (
    EMBEDDED_MAX_OUTPUT_TOKENS,
    ModelSourceError,
    RemoteModelSource,
    embedded_model_path,
    parse_model_spec,
)
from antiphon.engine.sampling_defaults import SamplingChoice


def test_a_pool_spec_names_its_upstreams_and_options() -> None:
    source = parse_model_spec(
        "qwen=llama-server:http://gpu1:8081/, https://gpu2:8081;tokenizer=embedded;"
        "concurrency=6;routing=round-robin;health-interval=2.5;ctx=8192;temperature=0.6"
    )
    assert isinstance(source, RemoteModelSource)
    assert source.model_id == "qwen" and source.upstreams.kind == "llama-server"
    assert source.upstreams.urls == ("http://gpu1:8081", "https://gpu2:8081")
    options = source.options
    assert (options.tokenizer, options.concurrency, options.routing) == ("embedded", 6, "round-robin")
    assert options.health_interval == 2.5 and source.ctx == 8192
    assert source.sampling == SamplingChoice(temperature=0.6)


def test_without_an_id_or_options_the_defaults_apply() -> None:
    source = parse_model_spec("llama-server:http://127.0.0.1:8081")
    assert isinstance(source, RemoteModelSource)
    assert source.model_id is None and source.options.routing == "affinity"
    assert source.options.concurrency is None and source.options.tokenizer is None
    assert source.options.headers == {}
    keyed = parse_model_spec("llama-server:http://127.0.0.1:8081;api-key=s3cret")
    assert isinstance(keyed, RemoteModelSource)
    assert keyed.options.headers == {"Authorization": "Bearer s3cret"}


def test_the_shipped_file_as_tokenizer_brings_its_recommendations() -> None:
    source = parse_model_spec("m=llama-server:http://h:1;max-output-tokens=100")
    assert isinstance(source, RemoteModelSource)
    tokenizer = source.tokenizer_source(embedded_model_path())
    assert tokenizer.model_id == "m" and tokenizer.max_output_tokens == 100
    assert tokenizer.recommended_max_output_tokens == EMBEDDED_MAX_OUTPUT_TOKENS


@pytest.mark.parametrize(("spec", "message"), [
    ("m=llama-server:", "at least one upstream URL"),
    ("m=llama-server:gpu1:8080", "must be an http:// or https:// URL"),
    ("m=llama-server:http://a:1,http://a:1", "listed twice"),
    ("m=llama-server:http://a:1;concurrency=0", "concurrency must be a whole number"),
    ("m=llama-server:http://a:1;routing=random", "routing must be one of affinity, round-robin"),
    ("m=llama-server:http://a:1;health-interval=0", "health-interval must be"),
    ("m=llama-server:http://a:1;gpu-layers=3", "gpu-layers is the upstream engine's setting"),
    ("m=llama-server:http://a:1;colour=red", "unknown option 'colour'"),
])
def test_bad_pool_specs_are_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ModelSourceError, match=message):
        parse_model_spec(spec)
