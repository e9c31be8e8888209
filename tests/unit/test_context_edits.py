"""Context edits on requests, with a stand-in token count (the characters of the messages'
JSON): which blocks each edit touches, when it holds back, and what it reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from antiphon.chat.context_edits import CLEARED_RESULT, edit_context
from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import CountTokensRequest


def count(request: CountTokensRequest) -> int:
    return len(json.dumps([message.model_dump(mode="json") for message in request.messages]))


def conversation(tools: list[str], thinking: bool = False) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for n, name in enumerate(tools):
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": f"t{n}", "name": name, "input": {"q": "x" * 20}}]
        if thinking:
            content.insert(0, {"type": "thinking", "thinking": f"plan {n}", "signature": "s"})
        turns.append({"role": "assistant", "content": content})
        turns.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": "r" * 200}]})
    return turns


def request(messages: list[dict[str, Any]], *edits: dict[str, Any]) -> CountTokensRequest:
    return CountTokensRequest.model_validate(
        {"model": "m", "messages": messages, "context_management": {"edits": list(edits)}}, strict=False)


def results(edited: CountTokensRequest) -> list[Any]:
    return [block.content for message in edited.messages if not isinstance(message.content, str)
            for block in message.content if block.type == "tool_result"]


def inputs(edited: CountTokensRequest) -> list[Any]:
    return [block.input for message in edited.messages if not isinstance(message.content, str)
            for block in message.content if block.type == "tool_use"]


CLEAR = {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 100}}


def test_without_edits_nothing_changes() -> None:
    original = CountTokensRequest.model_validate({"model": "m", "messages": conversation(["a"])}, strict=False)
    assert edit_context(original, count) == (original, None)


def test_all_but_the_newest_three_results_are_cleared_by_default() -> None:
    edited, context = edit_context(request(conversation(["a"] * 5), CLEAR), count)
    assert results(edited) == [CLEARED_RESULT] * 2 + ["r" * 200] * 3
    assert inputs(edited) == [{"q": "x" * 20}] * 5  # inputs stay unless asked
    assert context is not None
    (applied,) = context.applied
    assert applied.cleared_tool_uses == 2
    assert applied.cleared_input_tokens == count(request(conversation(["a"] * 5))) - count(edited)


def test_below_the_trigger_nothing_is_cleared() -> None:
    edit = {**CLEAR, "trigger": {"type": "tool_uses", "value": 6}}
    edited, context = edit_context(request(conversation(["a"] * 5), edit), count)
    assert results(edited) == ["r" * 200] * 5 and context is not None and context.applied == ()


def test_keep_exclusions_and_named_inputs() -> None:
    edit = {**CLEAR, "keep": {"type": "tool_uses", "value": 1}, "exclude_tools": ["keepme"],
            "clear_tool_inputs": ["b"]}
    edited, context = edit_context(request(conversation(["a", "keepme", "b", "a"]), edit), count)
    assert results(edited) == [CLEARED_RESULT, "r" * 200, CLEARED_RESULT, "r" * 200]
    assert inputs(edited) == [{"q": "x" * 20}, {"q": "x" * 20}, {}, {"q": "x" * 20}]
    assert context is not None and context.applied[0].cleared_tool_uses == 2


def test_clear_at_least_holds_back_a_small_edit() -> None:
    edit = {**CLEAR, "clear_at_least": {"type": "input_tokens", "value": 10_000}}
    edited, context = edit_context(request(conversation(["a"] * 5), edit), count)
    assert results(edited) == ["r" * 200] * 5 and context is not None and context.applied == ()


def test_thinking_is_dropped_from_all_but_the_newest_turn() -> None:
    messages = conversation(["a"] * 3, thinking=True)
    edited, context = edit_context(request(messages, {"type": "clear_thinking_20251015"}), count)
    thinking = [sum(block.type == "thinking" for block in message.content)
                for message in edited.messages if message.role == "assistant"]
    assert thinking == [0, 0, 1]
    assert context is not None and context.applied[0].cleared_thinking_turns == 2
    kept, context = edit_context(request(messages, {"type": "clear_thinking_20251015", "keep": "all"}), count)
    assert kept.messages == request(messages).messages and context is not None and context.applied == ()


def test_edits_apply_in_order_each_on_the_last_ones_result() -> None:
    messages = conversation(["a"] * 4, thinking=True)
    edited, context = edit_context(request(messages, {"type": "clear_thinking_20251015"}, CLEAR), count)
    assert context is not None and [edit.type for edit in context.applied] == [
        "clear_thinking_20251015", "clear_tool_uses_20250919"]
    assert sum(edit.cleared_input_tokens for edit in context.applied) == count(request(messages)) - count(edited)


def test_keep_all_thinking_counts_nothing() -> None:
    def refuse(_: CountTokensRequest) -> int:
        raise AssertionError("counted")

    edit = {"type": "clear_thinking_20251015", "keep": "all"}  # as Claude Code sends it
    edited, context = edit_context(request(conversation(["a"], thinking=True), edit), refuse)
    assert context is not None and context.applied == ()


def test_compaction_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="compact_20260112"):
        edit_context(request(conversation(["a"]), {"type": "compact_20260112"}), count)
