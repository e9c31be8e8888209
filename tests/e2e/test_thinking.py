"""Extended thinking end to end: a budget the engine enforces, signatures that round-trip,
and tampering refused."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import Server
from tests.e2e.sse_reader import named_events

MODEL = "smollm2-135m-instruct"
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 100}},
    "required": ["answer"],
    "additionalProperties": False,
}
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


@pytest.fixture(scope="module")
def thought(client: anthropic.Anthropic) -> anthropic.types.Message:
    """One answer that thinks, then answers in JSON (so the answer is short and certain)."""
    return client.messages.create(
        model=MODEL, max_tokens=1400, messages=QUESTION, thinking=THINKING,
        output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
        extra_body={"seed": 3},
    )


def test_thinking_comes_first_with_a_signature_then_the_answer(
    thought: anthropic.types.Message, client: anthropic.Anthropic
) -> None:
    kinds = [block.type for block in thought.content]
    assert kinds == ["thinking", "text"], kinds
    thinking, text = thought.content
    assert thinking.thinking.strip() and thinking.signature
    assert "</think>" not in thinking.thinking and "<think>" not in text.text
    import json

    import jsonschema

    jsonschema.validate(json.loads(text.text), ANSWER_SCHEMA)
    assert thought.stop_reason == "end_turn"


def test_the_budget_bounds_the_thinking(
    thought: anthropic.types.Message, client: anthropic.Anthropic
) -> None:
    thinking, text = thought.content
    # Output = thinking (at most the budget) + the close tag the engine writes when it is
    # spent (5 tokens) + the answer, which tokenizes a little differently out of context.
    answer_tokens = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": text.text}]
    ).input_tokens - client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": ""}]
    ).input_tokens
    assert thought.usage.output_tokens - answer_tokens <= THINKING["budget_tokens"] + 16


def follow_up(thinking_block: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "model": MODEL, "max_tokens": 20,
        "messages": [
            *QUESTION,
            {"role": "assistant", "content": [thinking_block, {"type": "text", "text": text}]},
            {"role": "user", "content": "Are you sure?"},
        ],
    }


def test_a_signed_block_sent_back_is_accepted_and_a_tampered_one_refused(
    thought: anthropic.types.Message, server: Server
) -> None:
    thinking, text = thought.content
    block = {"type": "thinking", "thinking": thinking.thinking, "signature": thinking.signature}
    url, headers = f"{server.base_url}/v1/messages", server.headers()
    assert httpx.post(url, json=follow_up(block, text.text), headers=headers, timeout=120).status_code == 200

    changed_text = {**block, "thinking": thinking.thinking + " (edited)"}
    flipped = "A" if thinking.signature[10] != "A" else "B"
    changed_signature = {**block, "signature": thinking.signature[:10] + flipped + thinking.signature[11:]}
    foreign = {**block, "signature": "EqQBCkYIBxgCKkA" + "x" * 80}
    for tampered, field in ((changed_text, "thinking"), (changed_signature, "signature"), (foreign, "signature")):
        response = httpx.post(url, json=follow_up(tampered, text.text), headers=headers, timeout=120)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].startswith(f"messages.1.content.0.{field}")


def test_omitted_display_sends_only_the_signature_and_it_still_round_trips(
    client: anthropic.Anthropic, server: Server
) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=1100, messages=QUESTION, extra_body={"seed": 5},
        thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
    )
    block = message.content[0]
    assert block.type == "thinking" and block.thinking == "" and block.signature
    sent_back = {"type": "thinking", "thinking": "", "signature": block.signature}
    response = httpx.post(
        f"{server.base_url}/v1/messages", json=follow_up(sent_back, "42"), headers=server.headers(), timeout=120
    )
    assert response.status_code == 200, response.text


def test_streamed_thinking_ends_with_one_signature_delta_before_its_stop(server: Server) -> None:
    body = {
        "model": MODEL, "max_tokens": 1400, "stream": True, "messages": QUESTION,
        "thinking": THINKING, "seed": 3,
        "output_config": {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    }
    with httpx.stream(
        "POST", f"{server.base_url}/v1/messages", json=body, headers=server.headers(), timeout=120
    ) as response:
        events = [data for _, data in named_events(response) if data["type"] != "ping"]
    start = events[1]
    assert start["type"] == "content_block_start"
    assert start["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    block = [e for e in events if e.get("index") == 0]
    deltas = [e["delta"] for e in block if e["type"] == "content_block_delta"]
    assert {d["type"] for d in deltas[:-1]} == {"thinking_delta"}
    assert deltas[-1]["type"] == "signature_delta" and deltas[-1]["signature"]
    assert block[-1]["type"] == "content_block_stop"


def test_redacted_thinking_sealed_with_the_server_secret_is_taken_back(server: Server) -> None:
    """A replica sharing the secret could have produced it: the test seals with the secret the
    server keeps in its data directory (started by conftest in the log's folder)."""
    from antiphon.services.thinking_seal import ThinkingSeal, load_or_create_secret

    secret = load_or_create_secret(server.log_path.parent / "main-data" / "secret")
    data = ThinkingSeal(secret).redact("6 times 7 is 42.")
    url, headers = f"{server.base_url}/v1/messages", server.headers()
    block = {"type": "redacted_thinking", "data": data}
    assert httpx.post(url, json=follow_up(block, "42"), headers=headers, timeout=60).status_code == 200
    tampered = {"type": "redacted_thinking", "data": data[:-6] + ("AAAAAA" if not data.endswith("AAAAAA") else "BBBBBB")}
    response = httpx.post(url, json=follow_up(tampered, "42"), headers=headers, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("messages.1.content.0.data")
