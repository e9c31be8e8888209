"""antiphon's generic tool-call format, for models whose chat template knows no tools.

Everything goes through ordinary messages, so any template renders it:
- the system message ends with a section listing the tools (name, description, JSON schema
  of the input) and how to call them;
- a call is written by the assistant as a JSON list of `{"name", "arguments"}` objects between
  `<tool_call>` tags, the format SmolLM2 and other small models learned from APIGen data;
- results come back in the user turn, each in a `<tool_response>` element that says which
  tool it answers and whether it is an error;
- earlier thinking of the current tool loop is written back as `<think>…</think>`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from antiphon.chat.conversation import TURN_JOINER, Turn
from antiphon.chat.message_blocks import ToolResult
from antiphon.chat.thinking_tags import THINK_CLOSE, THINK_OPEN
from antiphon.chat.tool_calls.base import Hold, TemplateInput
from antiphon.chat.tool_specs import ToolSpec

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"

PREAMBLE = """# Tools

You can call tools. They are listed here with the JSON schema of their arguments:
<tools>{tools}</tools>

To call a tool, reply with a JSON list of calls between <tool_call> and </tool_call>, and nothing else. For example:
<tool_call>[{{"name": "{example}", "arguments": {example_arguments}}}]</tool_call>
Each result comes back in a <tool_response> element."""


def _tool_listing(tools: Sequence[ToolSpec]) -> str:
    listed = [
        {"name": tool.name, "description": tool.description, "parameters": tool.input_schema}
        for tool in tools
    ]
    return json.dumps(listed, ensure_ascii=False)


def _preamble(tools: Sequence[ToolSpec], hold: Hold) -> str:
    """The tools section, with an example call of the first tool: small models copy an
    example far more reliably than they follow a description of a format."""
    example = tools[0]
    properties = example.input_schema.get("properties") or {}
    required = example.input_schema.get("required") or list(properties)[:1]
    arguments = {name: "..." for name in required if isinstance(name, str)}
    return PREAMBLE.format(
        tools=hold(_tool_listing(tools)),
        example=hold(example.name),
        example_arguments=hold(json.dumps(arguments, ensure_ascii=False)),
    )


def _result_element(result: ToolResult, hold: Hold) -> str:
    error = ' is_error="true"' if result.is_error else ""
    return (
        f'<tool_response name="{hold(result.name)}"{error}>\n'
        f"{hold(result.content)}\n</tool_response>"
    )


def thinking_prefix(turn: Turn, hold: Hold) -> str:
    if not turn.thinking:
        return ""
    return f"{THINK_OPEN}\n{hold(turn.thinking)}\n{THINK_CLOSE}\n\n"


class GenericToolFormat:
    name = "generic"
    open_tag = OPEN_TAG
    close_tag = CLOSE_TAG
    calls_in_list = True

    def template_input(
        self,
        system: str | None,
        turns: Sequence[Turn],
        tools: Sequence[ToolSpec],
        hold: Hold,
        notes: Sequence[str] = (),
    ) -> TemplateInput:
        system_parts = [_preamble(tools, hold)] if tools else []
        if system:
            system_parts.append(hold(system))
        system_parts.extend(notes)
        messages: list[dict[str, Any]] = []
        if system_parts:
            messages.append({"role": "system", "content": TURN_JOINER.join(system_parts)})
        messages.extend({"role": turn.role, "content": self._content(turn, hold)} for turn in turns)
        return TemplateInput(messages)

    def _content(self, turn: Turn, hold: Hold) -> str:
        if turn.role == "assistant":
            parts = [thinking_prefix(turn, hold) + hold(turn.content)]
            if turn.tool_calls:
                calls = [{"name": call.name, "arguments": call.input} for call in turn.tool_calls]
                parts.append(f"{OPEN_TAG}{hold(json.dumps(calls, ensure_ascii=False))}{CLOSE_TAG}")
            return "\n".join(part for part in parts if part)
        results = [_result_element(result, hold) for result in turn.tool_results]
        return "\n".join([*results, hold(turn.content)] if turn.content else results)
