"""A model served by a real vLLM upstream (its CPU build, from PyPI): the same Messages
surface as on llama-server pools — the generic tests of `test_remote_pool` run here against
vLLM — plus what differs with vLLM: its structured outputs carry our grammars, its prompt
cache counts arrive last, and a client that leaves aborts its request.

Opt-in (vLLM takes ~1 minute to start and ~5 minutes for these tests on two cores):

    bash bench/setup_vllm.sh && .venv/bin/pytest -m vllm tests/e2e/test_remote_vllm.py
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from pydantic import TypeAdapter

from antiphon.chat.constraints import answer_grammar
from antiphon.chat.grammar.gbnf import render_grammar
from antiphon.chat.grammar.json_schema import schema_grammar
from antiphon.chat.tool_calls.generic import GenericToolFormat
from antiphon.chat.tool_calls.hermes import HermesToolFormat
from antiphon.chat.tool_specs import ToolPolicy, read_tools
from antiphon.protocol.messages import Tool
from tests.conftest import Server, start_server, stop_server
from tests.e2e.sse_reader import named_events
from tests.e2e.test_model_sources import run_cli
from tests.e2e.test_remote_failures import body, unique_text, wait_for
from tests.e2e.test_remote_pool import (  # run here against vLLM, with this module's fixtures
    MODEL,
    test_a_forced_tool_call_is_schema_valid,
    test_a_message_batch_runs_on_the_pool,
    test_a_stop_sequence_ends_the_answer_before_it,
    test_streaming_text_adds_up_to_the_final_message,
    test_structured_output_is_schema_valid,
    test_text_and_its_usage_match_count_tokens,
    test_thinking_within_its_budget_then_the_answer,
)
from tests.e2e.upstreams import VLLM_CACHE, VLLM_CONTEXT, VllmServer
from tests.unit.test_json_schema_grammar import SUPPORTED

FIXTURES = Path(__file__).parents[1] / "fixtures/claude_code"

pytestmark = pytest.mark.vllm

__all__ = [
    "test_a_forced_tool_call_is_schema_valid", "test_a_message_batch_runs_on_the_pool",
    "test_a_stop_sequence_ends_the_answer_before_it",
    "test_streaming_text_adds_up_to_the_final_message", "test_structured_output_is_schema_valid",
    "test_text_and_its_usage_match_count_tokens", "test_thinking_within_its_budget_then_the_answer",
]


@pytest.fixture(scope="module")
def vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    upstream = VllmServer(tmp_path_factory.mktemp("vllm")).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def remote(vllm: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    spec = f"{MODEL}=vllm:{vllm.url};tokenizer=embedded"
    process, server = start_server(tmp_path_factory.mktemp("remote"), "remote", ["--model", spec], MODEL)
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def client(remote: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=remote.base_url, api_key=remote.api_key, max_retries=0)


def test_the_model_has_vllms_window(client: anthropic.Anthropic, remote: Server) -> None:
    assert client.models.retrieve(MODEL).max_input_tokens == VLLM_CONTEXT - 1
    [upstream] = remote.engine_stats()["upstreams"]
    assert upstream["healthy"] and upstream["limit"] == 256  # vLLM's default max_num_seqs


def test_a_cached_prefix_is_read_from_vllms_cache(client: anthropic.Anthropic) -> None:
    """vLLM counts whole 128-token blocks on CPU: the second request reads the blocks of
    the pinned system prompt that the first one wrote, and says so in its usage — also in
    a stream, where the count arrives with the last event."""
    system = [{"type": "text", "text": unique_text(time.time_ns(), 600),
               "cache_control": {"type": "ephemeral"}}]
    question = [{"role": "user", "content": "What is this about?"}]
    first = client.messages.create(model=MODEL, max_tokens=4, system=system,  # type: ignore[arg-type]
                                   messages=question)  # type: ignore[arg-type]
    assert first.usage.cache_read_input_tokens == 0
    with client.messages.stream(model=MODEL, max_tokens=4, system=system,  # type: ignore[arg-type]
                                messages=question) as stream:  # type: ignore[arg-type]
        second = stream.get_final_message()
    read = second.usage.cache_read_input_tokens or 0
    assert read >= 128 and read % 128 == 0
    total = first.usage.input_tokens + (first.usage.cache_creation_input_tokens or 0)
    assert read + second.usage.input_tokens + (second.usage.cache_creation_input_tokens or 0) == total


def test_a_client_that_disconnects_aborts_the_vllm_request(remote: Server, vllm: VllmServer) -> None:
    long_answer = {"type": "object", "properties": {"story": {"type": "string", "minLength": 3000}},
                   "required": ["story"], "additionalProperties": False}
    request = body([{"role": "user", "content": "Tell me a long story."}], 1500, MODEL, stream=True,
                   output_config={"format": {"type": "json_schema", "schema": long_answer}})
    with httpx.Client(base_url=remote.base_url, headers=remote.headers(), timeout=120) as client:
        with client.stream("POST", "/v1/messages", json=request) as response:
            for name, _ in named_events(response):
                if name == "content_block_delta" and vllm.requests_running() > 0:
                    break  # vLLM is generating: leave now
            else:
                raise AssertionError("the answer ended before vLLM was seen generating")
    wait_for(lambda: vllm.requests_running() == 0, "vLLM to abort the request", timeout=10)
    remote.wait_idle()
    assert remote.engine_stats()["aborted_total"] >= 1


def test_a_tokenizer_that_is_not_the_upstreams_model_is_refused(
    tmp_path: Path, vllm: VllmServer, gemma_path: Path
) -> None:
    data = {"ANTIPHON_DATA_DIR": str(tmp_path / "data")}
    wrong = run_cli("serve", "--model", f"m=vllm:{vllm.url};tokenizer={gemma_path}", env=data)
    assert wrong.returncode == 2 and "tokenize a sample text differently" in wrong.stderr
    hugging_face_folder = run_cli("serve", "--model", f"m=vllm:{vllm.url}", env=data)
    assert hugging_face_folder.returncode == 2 and ";tokenizer=PATH.gguf" in hugging_face_folder.stderr


def antiphons_grammars() -> list[str]:
    """Grammars antiphon writes: Claude Code's real tool set (its captured first turn) as a
    lazy call grammar, a forced call and with parallel calls, and every schema of the
    grammar unit tests."""
    body = json.loads((FIXTURES / "main_turn.json").read_text())["body"]
    tools = read_tools([TypeAdapter(Tool).validate_python(tool) for tool in body["tools"]], "test-model")
    texts = []
    for policy in (ToolPolicy("auto", True), ToolPolicy("any", False),
                   ToolPolicy("tool", True, tools[0].name)):
        for tool_format in (HermesToolFormat(), GenericToolFormat()):
            grammar = answer_grammar(tool_format, tools, policy, None)
            assert grammar is not None
            texts.append(grammar.gbnf)
    for schema in SUPPORTED:
        rules = schema_grammar(schema, "answer", strict=False)
        texts.append(render_grammar(rules.entry, [rules]))
    return texts


def test_every_grammar_antiphon_writes_compiles_under_xgrammar() -> None:
    """vLLM and SGLang constrain with xgrammar, which reads llama.cpp's GBNF with small
    differences (it refused an empty alternative): each grammar compiles with vLLM's
    xgrammar against the model's vocabulary."""
    compile_all = (
        "import json, sys, xgrammar as xg\n"
        "from transformers import AutoTokenizer\n"
        "tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "compiler = xg.GrammarCompiler(xg.TokenizerInfo.from_huggingface(tokenizer))\n"
        "failed = []\n"
        "for index, text in enumerate(json.load(sys.stdin)):\n"
        "    try:\n"
        "        compiler.compile_grammar(text)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{index}: {error}')\n"
        "print(json.dumps(failed))\n"
    )
    grammars = antiphons_grammars()
    result = subprocess.run(
        [str(VLLM_CACHE / "vllm-venv/bin/python"), "-c", compile_all, str(VLLM_CACHE / "smollm2-hf")],
        input=json.dumps(grammars), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert len(grammars) > 20
