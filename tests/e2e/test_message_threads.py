"""Message Threads with the newest SDK: the server holds the conversation between turns, so
a continued request sends only its new messages, without `system` and `tools`.

Each check compares a threaded turn with the same conversation sent whole: the prompt the
model reads must be the same, token for token (usage.input_tokens), and so must a greedy
answer."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m-instruct"
GREEDY = {"temperature": 0}
SYSTEM = "You are a terse assistant for a weather service."
WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
FIRST = {"role": "user", "content": "Say hello."}
SECOND = {"role": "user", "content": "Now say goodbye."}


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def create(client: anthropic.Anthropic, messages: list[Any], thread: dict | None = None, **fields: Any) -> Any:
    extra = {**GREEDY, **({"thread": thread} if thread else {})}
    return client.beta.messages.create(model=MODEL, max_tokens=12, messages=messages,
                                       extra_body=extra, betas=["message-threads-2026-08-12"], **fields)


def test_a_continued_turn_reads_exactly_the_whole_conversation(client: anthropic.Anthropic) -> None:
    first = create(client, [FIRST], {"type": "create"}, system=SYSTEM, tools=[WEATHER])
    continued = create(client, [SECOND], {"type": "continue", "previous_message_id": first.id})
    whole_history = [FIRST, {"role": "assistant", "content": [b.model_dump() for b in first.content]}, SECOND]
    whole = create(client, whole_history, system=SYSTEM, tools=[WEATHER])
    assert continued.usage.input_tokens + continued.usage.cache_read_input_tokens == \
        whole.usage.input_tokens + whole.usage.cache_read_input_tokens
    assert [b.model_dump() for b in continued.content] == [b.model_dump() for b in whole.content]
    # and the thread goes on from the newest reply
    third = create(client, [{"role": "user", "content": "Thanks."}],
                   {"type": "continue", "previous_message_id": continued.id})
    assert third.usage.input_tokens + third.usage.cache_read_input_tokens > \
        continued.usage.input_tokens + continued.usage.cache_read_input_tokens


def test_each_reply_is_continued_once(client: anthropic.Anthropic) -> None:
    first = create(client, [FIRST], {"type": "create"})
    create(client, [SECOND], {"type": "continue", "previous_message_id": first.id})
    with pytest.raises(anthropic.BadRequestError) as again:
        create(client, [SECOND], {"type": "continue", "previous_message_id": first.id})
    assert again.value.error_code == "thread_already_continued"


def test_unknown_ids_are_thread_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        create(client, [SECOND], {"type": "continue", "previous_message_id": "msg_01nothinghere"})
    assert missing.value.error_code == "thread_not_found"


def test_a_failed_turn_leaves_the_reply_to_continue(client: anthropic.Anthropic) -> None:
    first = create(client, [FIRST], {"type": "create"})
    orphan = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}
    with pytest.raises(anthropic.BadRequestError, match="matches no tool_use block"):
        create(client, [orphan], {"type": "continue", "previous_message_id": first.id})
    assert create(client, [SECOND], {"type": "continue", "previous_message_id": first.id}).content


def test_fixed_fields_cannot_change(client: anthropic.Anthropic) -> None:
    first = create(client, [FIRST], {"type": "create"}, system=SYSTEM)
    with pytest.raises(anthropic.BadRequestError) as changed:
        create(client, [SECOND], {"type": "continue", "previous_message_id": first.id}, system="Other.")
    assert changed.value.error_code == "thread_fingerprint_mismatch" and "system" in str(changed.value)
    # the same value is no change
    assert create(client, [SECOND], {"type": "continue", "previous_message_id": first.id}, system=SYSTEM).content


def test_a_streamed_reply_is_stored_before_message_stop(client: anthropic.Anthropic) -> None:
    with client.beta.messages.stream(model=MODEL, max_tokens=12, messages=[FIRST], extra_body={
            **GREEDY, "thread": {"type": "create"}}, betas=["message-threads-2026-08-12"]) as stream:
        first = stream.get_final_message()
    assert create(client, [SECOND], {"type": "continue", "previous_message_id": first.id}).content


def test_the_sdks_thread_sends_only_new_messages(server: Server) -> None:
    """`client.beta.messages.thread()` as people use it, with the bodies it sends recorded."""
    sent: list[dict] = []
    hooks = {"request": [lambda request: sent.append(json.loads(request.content))]}
    with httpx2.Client(event_hooks=hooks, timeout=60) as recording:
        client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0,
                                     http_client=recording)
        thread = client.beta.messages.thread(model=MODEL, max_tokens=12, system=SYSTEM, tools=[WEATHER],
                                             extra_body=GREEDY)
        first = thread.send(FIRST)
        second = thread.send(SECOND)
    assert first.id != second.id and second.content
    assert sent[0]["thread"] == {"type": "create"} and "tools" in sent[0] and "system" in sent[0]
    assert sent[1]["thread"] == {"type": "continue", "previous_message_id": first.id}
    assert "tools" not in sent[1] and "system" not in sent[1] and sent[1]["messages"] == [SECOND]


def test_batches_refuse_thread(server: Server) -> None:
    body = {"requests": [{"custom_id": "a", "params": {"model": MODEL, "max_tokens": 5, "messages": [FIRST],
                                                        "thread": {"type": "create"}}}]}
    response = httpx.post(f"{server.base_url}/v1/messages/batches", json=body, headers=server.headers())
    assert response.status_code == 400 and "thread" in response.json()["error"]["message"]
