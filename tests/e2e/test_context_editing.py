"""Context editing through the official SDK's beta API: an agent's history that no longer
fits the model's window is answered once `clear_tool_uses` thins it out, and the response,
the stream and token counting report what was cleared.

The main test server's window is 2,048 tokens; the history holds eight `ls` calls with
results of about 290 tokens each (3,100 tokens in all; about 1,150 once all but the newest
result are cleared)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m-instruct"
BASH = {"type": "bash_20250124", "name": "bash"}
LISTING = "\n".join(f"report-{n:03d}.csv  {n * 37 % 900 + 100} bytes" for n in range(24))
WINDOW = 2048


def history(calls: int = 8) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = [{"role": "user", "content": "Look through the folders one by one."}]
    for n in range(calls):
        call_id = f"toolu_ls{n}"
        turns.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": call_id, "name": "bash", "input": {"command": f"ls data/{n}"}}]})
        turns.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id, "content": LISTING}]})
    turns[-1]["content"].append({"type": "text", "text": "Which folder had the most files?"})
    return turns


def clear_old_results(**overrides: Any) -> dict[str, Any]:
    edit = {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 1000},
            "keep": {"type": "tool_uses", "value": 1}, **overrides}
    return {"edits": [edit]}


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def create(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    return client.beta.messages.create(model=MODEL, max_tokens=16, tools=[BASH], messages=history(),
                                       betas=["context-management-2025-06-27"], **kwargs)


def test_the_history_overflows_the_window_without_editing(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        create(client)


def test_clearing_old_tool_results_rescues_it(client: anthropic.Anthropic) -> None:
    message = create(client, context_management=clear_old_results())
    assert message.stop_reason in ("end_turn", "max_tokens", "tool_use")
    (applied,) = message.context_management.applied_edits
    assert applied.type == "clear_tool_uses_20250919"
    assert applied.cleared_tool_uses == 7  # all but the newest one
    counted = client.beta.messages.count_tokens(
        model=MODEL, tools=[BASH], messages=history(), context_management=clear_old_results(),
        betas=["context-management-2025-06-27"])
    assert counted.context_management.original_input_tokens > WINDOW > counted.input_tokens
    assert applied.cleared_input_tokens == counted.context_management.original_input_tokens - counted.input_tokens
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens + \
        message.usage.cache_creation_input_tokens == counted.input_tokens


def test_the_stream_reports_the_edit_in_message_delta(client: anthropic.Anthropic) -> None:
    with client.beta.messages.stream(model=MODEL, max_tokens=16, tools=[BASH], messages=history(),
                                     context_management=clear_old_results(),
                                     betas=["context-management-2025-06-27"]) as stream:
        deltas = [event for event in stream if event.type == "message_delta"]
        final = stream.get_final_message()
    (delta,) = deltas
    assert delta.context_management.applied_edits[0].cleared_tool_uses == 7
    assert final.context_management.applied_edits[0].cleared_tool_uses == 7


def test_an_edit_that_would_clear_too_little_is_not_applied(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        create(client, context_management=clear_old_results(clear_at_least={"type": "input_tokens", "value": 5000}))


def test_excluded_tools_keep_their_results(client: anthropic.Anthropic) -> None:
    counted = client.beta.messages.count_tokens(
        model=MODEL, tools=[BASH], messages=history(), context_management=clear_old_results(exclude_tools=["bash"]),
        betas=["context-management-2025-06-27"])
    assert counted.input_tokens == counted.context_management.original_input_tokens


def test_no_edit_below_the_trigger(client: anthropic.Anthropic) -> None:
    message = client.beta.messages.create(
        model=MODEL, max_tokens=8, tools=[BASH], messages=history(calls=1),
        context_management=clear_old_results(keep={"type": "tool_uses", "value": 0}, trigger={"type": "tool_uses", "value": 2}),
        betas=["context-management-2025-06-27"])
    assert message.context_management.applied_edits == []


def test_compaction_is_refused_by_name(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="compact_20260112"):
        create(client, context_management={"edits": [{"type": "compact_20260112"}]})
