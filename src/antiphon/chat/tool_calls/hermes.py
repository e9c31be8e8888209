"""Tool calls through the model's own chat template (Hermes / Qwen style).

Templates that know tools take them as a `tools` variable of OpenAI-style function specs,
assistant messages with `tool_calls`, and `role: "tool"` messages for results; the model then
writes each call as `<tool_call>{"name": …, "arguments": …}</tool_call>`.

Client data inside those structures is serialized by the template (`tojson`), so it cannot be
held as a plain placeholder: each string is replaced by a placeholder of its JSON-escaped
form, which `tojson` passes through untouched and which becomes correctly escaped JSON when
swapped back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from antiphon.chat.conversation import TURN_JOINER, Turn
from antiphon.chat.tool_calls.base import Hold, TemplateInput
from antiphon.chat.tool_calls.generic import CLOSE_TAG, OPEN_TAG
from antiphon.chat.tool_specs import ToolSpec


def template_knows_tools(source: str) -> bool:
    """A template that renders `tools` and `tool_calls` itself (Qwen 2.5/3, Hermes, …)."""
    return "tools" in source and "tool_calls" in source and OPEN_TAG in source


def hold_json(value: Any, hold: Hold) -> Any:
    """`value` with every string (keys too) held as its JSON-escaped form."""
    if isinstance(value, str):
        return hold(json.dumps(value, ensure_ascii=False)[1:-1])
    if isinstance(value, dict):
        return {hold_json(key, hold): hold_json(item, hold) for key, item in value.items()}
    if isinstance(value, list):
        return [hold_json(item, hold) for item in value]
    return value


def _function(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.input_schema),
        },
    }


class HermesToolFormat:
    name = "hermes"
    open_tag = OPEN_TAG
    close_tag = CLOSE_TAG
    calls_in_list = False

    def template_input(
        self,
        system: str | None,
        turns: Sequence[Turn],
        tools: Sequence[ToolSpec],
        hold: Hold,
        notes: Sequence[str] = (),
    ) -> TemplateInput:
        system_text = TURN_JOINER.join(([hold(system)] if system else []) + list(notes))
        messages: list[dict[str, Any]] = []
        if system_text:
            messages.append({"role": "system", "content": system_text})
        for turn in turns:
            messages.extend(self._messages(turn, hold))
        variables = {"tools": hold_json([_function(tool) for tool in tools], hold)} if tools else {}
        return TemplateInput(messages, variables)

    def _messages(self, turn: Turn, hold: Hold) -> list[dict[str, Any]]:
        if turn.role == "assistant":
            message: dict[str, Any] = {"role": "assistant", "content": hold(turn.content)}
            if turn.thinking:
                message["reasoning_content"] = hold(turn.thinking)
            if turn.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": hold_json(dict(call.input), hold)},
                    }
                    for call in turn.tool_calls
                ]
            return [message]
        results = [
            {
                "role": "tool",
                "tool_call_id": result.tool_use_id,
                "name": result.name,
                "content": hold(("Error: " if result.is_error else "") + result.content),
            }
            for result in turn.tool_results
        ]
        if turn.content or not results:
            results.append({"role": turn.role, "content": hold(turn.content)})
        return results
