"""Legacy Text Completions: validation, JSON, and both streaming dialects."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import Server
from tests.e2e.reference_model import reference_answer, reference_continuation, same_opening
from tests.e2e.sse_reader import read_events

PROMPT = "\n\nHuman: What is the capital of France? Answer in one sentence.\n\nAssistant:"
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
BODY = {"model": "smollm2-135m-instruct", "prompt": PROMPT, "max_tokens_to_sample": 24, "temperature": 0}


def complete(server: Server, body: dict, version: str = "2023-06-01") -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/complete", json=body, headers=server.headers(version), timeout=60)


def stream_events(server: Server, body: dict, version: str) -> list[tuple[str | None, str]]:
    with httpx.stream("POST", f"{server.base_url}/v1/complete", json={**body, "stream": True},
                      headers=server.headers(version), timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(read_events(response))


def test_completion_json_shape(server: Server) -> None:
    response = complete(server, BODY)
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "completion" and body["id"].startswith("compl_")
    assert body["model"] == "smollm2-135m-instruct"
    assert same_opening(body["completion"], reference_answer(QUESTION, 24)), body["completion"]
    assert body["stop_reason"] in ("stop_sequence", "max_tokens")
    assert "\n\nHuman:" not in body["completion"]


def test_max_tokens_to_sample_is_the_limit(server: Server) -> None:
    body = {**BODY, "prompt": "\n\nHuman: Write a long poem about autumn.\n\nAssistant:", "max_tokens_to_sample": 3}
    result = complete(server, body).json()
    assert result["stop_reason"] == "max_tokens" and result["stop"] is None


def test_user_stop_sequences(server: Server) -> None:
    full = complete(server, BODY).json()["completion"]
    stop = full.split()[2]
    result = complete(server, {**BODY, "stop_sequences": [stop]}).json()
    assert result["stop_reason"] == "stop_sequence" and result["stop"] == stop
    assert result["completion"] == full[: full.index(stop)]


def test_incremental_named_events_for_2023_06_01(server: Server) -> None:
    events = stream_events(server, BODY, "2023-06-01")
    completions = [json.loads(data) for name, data in events if name == "completion"]
    assert all(name in ("completion", "ping") for name, _ in events)
    assert all(c["type"] == "completion" for c in completions)
    assert all(c["stop_reason"] is None for c in completions[:-1])
    assert completions[-1]["stop_reason"] in ("stop_sequence", "max_tokens")
    text = "".join(c["completion"] for c in completions)
    assert text == complete(server, BODY).json()["completion"]


def test_cumulative_data_events_and_done_for_2023_01_01(server: Server) -> None:
    events = stream_events(server, BODY, "2023-01-01")
    assert all(name is None for name, _ in events)  # the original format names no events
    data = [raw for name, raw in events if not raw.startswith(":")]
    assert data[-1] == "[DONE]"
    snapshots = [json.loads(raw) for raw in data[:-1]]
    texts = [s["completion"] for s in snapshots]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert snapshots[-1]["stop_reason"] in ("stop_sequence", "max_tokens")
    assert texts[-1] == complete(server, BODY, "2023-01-01").json()["completion"]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "must not be empty"),
        ("Hello there", 'must start with "\\n\\nHuman:" turn'),
        ("Human: hi\n\nAssistant:", 'exactly two newlines ("\\n\\n") must come before "Human:"'),
        ("\n\nHuman: hi", 'must contain an "\\n\\nAssistant:" turn'),
        ("\n\nHuman: hi\n\nAssistant: a\n\nHuman: more", 'must end with "\\n\\nAssistant:" turn'),
        ("\n\nHuman: hi\n\nHuman: again\n\nAssistant:", 'two "\\n\\nHuman:" turns in a row'),
        ("\n\nHuman:\n\nAssistant:", "is empty"),
    ],
)
def test_malformed_prompts_are_400_with_a_precise_message(server: Server, prompt: str, message: str) -> None:
    response = complete(server, {**BODY, "prompt": prompt})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert message in response.json()["error"]["message"]


def test_missing_max_tokens_to_sample_is_named(server: Server) -> None:
    body = {k: v for k, v in BODY.items() if k != "max_tokens_to_sample"}
    response = complete(server, body)
    assert response.status_code == 400
    assert "max_tokens_to_sample: Field required" in response.json()["error"]["message"]


def test_an_assistant_prefill_is_continued(server: Server) -> None:
    prompt = "\n\nHuman: What is the capital of France?\n\nAssistant: The capital of France is"
    result = complete(server, {**BODY, "prompt": prompt}).json()
    question = [{"role": "user", "content": "What is the capital of France?"}]
    expected = reference_continuation(question, "The capital of France is", 24)
    assert same_opening(result["completion"], expected), (result["completion"], expected)
