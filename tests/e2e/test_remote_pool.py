"""A model served by a pool of real `llama-server` upstreams, through the official SDK: the
whole Messages surface keeps its guarantees (antiphon tokenizes, constrains and detokenizes;
the upstreams only sample), and usage, limits, batches and metrics work as on the embedded
engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_model_sources import run_cli
from tests.e2e.upstreams import LlamaServer, pool_spec, start_fleet

MODEL = "smol-pool"
UPSTREAM_KEY = "upstream-secret"  # these upstreams refuse calls without it
RECORD = {
    "name": "record_city",
    "description": "Record a city and its country.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "country": {"type": "string", "maxLength": 40},
            "population_millions": {"type": "integer", "minimum": 0, "maximum": 40},
        },
        "required": ["city", "country", "population_millions"],
        "additionalProperties": False,
    },
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 100}},
    "required": ["answer"],
    "additionalProperties": False,
}
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
GREEDY = {"temperature": 0}  # the newest SDK no longer takes temperature as an argument


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LlamaServer]]:
    upstreams = start_fleet(tmp_path_factory.mktemp("fleet"), 2, api_key=UPSTREAM_KEY)
    yield upstreams
    for upstream in upstreams:
        upstream.kill()


@pytest.fixture(scope="module")
def remote(fleet: list[LlamaServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    spec = pool_spec(MODEL, fleet, f"api-key={UPSTREAM_KEY}")
    process, server = start_server(tmp_path_factory.mktemp("remote"), "remote", ["--model", spec], MODEL)
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def client(remote: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=remote.base_url, api_key=remote.api_key, max_retries=0)


def test_the_pool_is_a_model_with_its_upstreams_window(
    client: anthropic.Anthropic, remote: Server, fleet: list[LlamaServer]
) -> None:
    model = client.models.retrieve(MODEL)
    assert model.max_input_tokens == 2047  # the upstreams' 2,048 positions per slot
    upstreams = remote.engine_stats()["upstreams"]
    assert [u["url"] for u in upstreams] == [f.url for f in fleet]
    assert all(u["healthy"] and u["limit"] == 2 for u in upstreams)


def test_text_and_its_usage_match_count_tokens(client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "Name three colours."}]
    message = client.messages.create(model=MODEL, max_tokens=40, messages=messages,  # type: ignore[arg-type]
                                     extra_body=GREEDY)
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    counted = client.messages.count_tokens(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert message.usage.input_tokens == counted.input_tokens
    assert 0 < message.usage.output_tokens <= 40


def test_greedy_answers_equal_the_embedded_engines(client: anthropic.Anthropic, server: Server) -> None:
    """Same prompt tokens, same model, temperature 0: the same answer as the embedded engine
    gives (the upstream samples from the ids antiphon sends, not from its own template)."""
    embedded = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ours = client.messages.create(model=MODEL, max_tokens=12, messages=messages,  # type: ignore[arg-type]
                                  extra_body=GREEDY)
    theirs = embedded.messages.create(model=server.model, max_tokens=12, messages=messages,  # type: ignore[arg-type]
                                      extra_body=GREEDY)
    assert ours.content[0].text == theirs.content[0].text  # type: ignore[union-attr]
    assert ours.usage.input_tokens == theirs.usage.input_tokens


def test_streaming_text_adds_up_to_the_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=30, extra_body=GREEDY,
                                messages=[{"role": "user", "content": "Say hello to Ada."}]) as stream:
        deltas = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert deltas and deltas == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0


def test_a_forced_tool_call_is_schema_valid(client: anthropic.Anthropic) -> None:
    for seed in (1, 2, 3):
        message = client.messages.create(
            model=MODEL, max_tokens=200, tools=[RECORD],  # type: ignore[list-item]
            tool_choice={"type": "tool", "name": "record_city"},
            messages=[{"role": "user", "content": "Record Paris."}], extra_body={"seed": seed},
        )
        calls = [block for block in message.content if block.type == "tool_use"]
        assert len(calls) == 1 and calls[0].name == "record_city"
        jsonschema.validate(calls[0].input, RECORD["input_schema"])
        assert message.stop_reason == "tool_use"


def test_structured_output_is_schema_valid(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=60, messages=QUESTION,  # type: ignore[arg-type]
        output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    )
    jsonschema.validate(json.loads(message.content[0].text), ANSWER_SCHEMA)  # type: ignore[union-attr]


def test_thinking_within_its_budget_then_the_answer(client: anthropic.Anthropic) -> None:
    budget = 1024
    message = client.messages.create(
        model=MODEL, max_tokens=1400, messages=QUESTION,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": budget},
        output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
        extra_body={"seed": 3},
    )
    assert [block.type for block in message.content] == ["thinking", "text"]
    thinking, text = message.content
    assert thinking.thinking.strip() and thinking.signature  # type: ignore[union-attr]
    jsonschema.validate(json.loads(text.text), ANSWER_SCHEMA)  # type: ignore[union-attr]
    thought = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": thinking.thinking}]  # type: ignore[union-attr]
    ).input_tokens
    assert thought <= budget + 32  # its text, tokenized again out of context


def test_a_stop_sequence_ends_the_answer_before_it(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=80, extra_body=GREEDY, stop_sequences=["."],
        messages=[{"role": "user", "content": "Write two sentences about cats."}],
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "."
    assert "." not in message.content[0].text  # type: ignore[union-attr]


def test_a_message_batch_runs_on_the_pool(client: anthropic.Anthropic) -> None:
    requests: Any = [
        {"custom_id": f"r{n}", "params": {
            "model": MODEL, "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": f"Say the number {n}."}]}}
        for n in range(3)
    ]
    batch = client.messages.batches.create(requests=requests)
    deadline = time.monotonic() + 120
    while batch.processing_status != "ended":
        assert time.monotonic() < deadline, batch
        time.sleep(0.3)
        batch = client.messages.batches.retrieve(batch.id)
    results = {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}
    assert sorted(results) == ["r0", "r1", "r2"]
    assert all(result.type == "succeeded" for result in results.values())
    assert all(r.message.usage.service_tier == "batch" for r in results.values())  # type: ignore[union-attr]


def test_metrics_per_upstream(client: anthropic.Anthropic, remote: Server, fleet: list[LlamaServer]) -> None:
    client.messages.create(model=MODEL, max_tokens=4, messages=QUESTION)  # type: ignore[arg-type]
    text = httpx.get(f"{remote.base_url}/metrics", timeout=10).text
    for upstream in fleet:
        labels = f'model="{MODEL}",upstream="{upstream.url}"'
        assert f"antiphon_upstream_healthy{{{labels}}} 1.0" in text
        assert f"antiphon_upstream_requests_total{{{labels}}}" in text
    served = sum(u["requests_total"] for u in remote.engine_stats()["upstreams"])
    assert served >= 8


def test_pools_that_cannot_serve_are_refused_at_start_up(
    tmp_path: Path, fleet: list[LlamaServer], gemma_path: Path
) -> None:
    data = {"ANTIPHON_DATA_DIR": str(tmp_path / "data")}
    nobody = run_cli("serve", "--model", "m=llama-server:http://127.0.0.1:9", env=data)
    assert nobody.returncode == 2 and "no upstream answered (http://127.0.0.1:9/props: " in nobody.stderr
    assert "Cannot connect to host 127.0.0.1:9" in nobody.stderr
    too_long = run_cli("serve", "--model", pool_spec("m", fleet, "ctx=4096", f"api-key={UPSTREAM_KEY}"),
                       env=data)
    assert too_long.returncode == 2 and "more than an upstream's window" in too_long.stderr
    keyless = run_cli("serve", "--model", pool_spec("m", fleet), env=data)
    assert keyless.returncode == 2 and "401" in keyless.stderr
    wrong_model = run_cli("serve", "--model", pool_spec("m", fleet, f"api-key={UPSTREAM_KEY}",
                                                         f"tokenizer={gemma_path}"), env=data)
    assert wrong_model.returncode == 2 and "tokenize a sample text differently" in wrong_model.stderr
    malformed = run_cli("serve", "--model", "m=llama-server:gpu1:8080", env=data)
    assert malformed.returncode == 2 and "must be an http:// or https:// URL" in malformed.stderr


def test_an_upstream_down_at_start_joins_once_it_answers(
    tmp_path: Path, fleet: list[LlamaServer]
) -> None:
    """With `ctx=` the pool starts though one upstream is not up yet; it is ejected until
    its health check passes, and requests go to the others meanwhile."""
    late = LlamaServer(tmp_path, api_key=UPSTREAM_KEY)
    spec = pool_spec(MODEL, [fleet[0], late], "ctx=2048", "health-interval=0.5",
                     f"api-key={UPSTREAM_KEY}", "tokenizer=embedded")
    process, server = start_server(tmp_path, "late", ["--model", spec], MODEL)
    try:
        assert "not answering yet" in server.log_path.read_text()
        client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
        client.messages.create(model=MODEL, max_tokens=4, messages=QUESTION)  # type: ignore[arg-type]
        first, second = server.engine_stats()["upstreams"]
        assert first["requests_total"] == 1 and not second["healthy"]
        late.start()
        deadline = time.monotonic() + 30
        while not server.engine_stats()["upstreams"][1]["healthy"]:
            assert time.monotonic() < deadline, "the late upstream never joined"
            time.sleep(0.2)
    finally:
        stop_server(process)
        late.kill()
