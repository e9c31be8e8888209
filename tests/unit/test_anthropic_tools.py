"""The table of Anthropic-defined client tools against the newest `anthropic` SDK's own types:
every tool type the SDK defines is either served from the table (under the name the SDK
fixes for it) or classified as a server or screenshot tool, so a refusal says which; every
table schema is one the grammar enforces exactly and that the SDK's own tool code accepts."""

from __future__ import annotations

import typing

import jsonschema
import pytest
from anthropic.types.beta import BetaToolUnionParam
from anthropic.types.beta.beta_memory_tool_20250818_command import BetaMemoryTool20250818Command
from pydantic import TypeAdapter

from antiphon.chat.anthropic_tools import (
    CLIENT_TOOLS,
    SCREENSHOT_TOOL_FAMILIES,
    SERVER_TOOL_FAMILIES,
    SERVER_TOOLS,
    tool_family,
)
from antiphon.chat.constraints import check_enforceable
from antiphon.chat.tool_specs import canonical_json, read_tools
from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import Tool


def _sdk_tool_types() -> dict[str, str | None]:
    """Each versioned tool type of the SDK's tool union, with the name it must carry."""
    types: dict[str, str | None] = {}
    for param in typing.get_args(BetaToolUnionParam):
        hints = typing.get_type_hints(param, include_extras=False)
        if "type" not in hints:
            continue
        names = _literals(hints["name"]) if "name" in hints else []
        for tool_type in _literals(hints["type"]):
            if tool_type != "custom":
                types[tool_type] = names[0] if names else None
    return types


def _literals(hint: object) -> list[str]:
    """The strings of a `Literal[...]` hint (inside Optional, if so)."""
    if typing.get_origin(hint) is typing.Literal:
        return [str(value) for value in typing.get_args(hint)]
    return [value for arg in typing.get_args(hint) for value in _literals(arg)]


SDK_TYPES = _sdk_tool_types()


def test_the_sdk_defines_the_tools_the_issue_names() -> None:
    assert {"bash_20250124", "text_editor_20250728", "memory_20250818", "computer_20251124"} <= set(SDK_TYPES)


@pytest.mark.parametrize("tool_type", sorted(SDK_TYPES))
def test_every_sdk_tool_type_is_served_or_classified(tool_type: str) -> None:
    family = tool_family(tool_type)
    served = CLIENT_TOOLS.get(tool_type) or SERVER_TOOLS.get(tool_type)
    assert served or family in SERVER_TOOL_FAMILIES or family in SCREENSHOT_TOOL_FAMILIES, tool_type
    if served:
        assert served.name == SDK_TYPES[tool_type]


def test_the_table_holds_only_types_the_sdk_defines() -> None:
    assert set(CLIENT_TOOLS) | set(SERVER_TOOLS) <= set(SDK_TYPES)
    assert {"web_fetch_20250910", "web_fetch_20260318"} <= set(SERVER_TOOLS)


SHOWN_TOOLS = {
    **{tool_type: tool for tool_type, tool in CLIENT_TOOLS.items()},
    **{f"{tool_type}:{shown.name}": shown for tool_type, server in SERVER_TOOLS.items() for shown in server.runs},
}


@pytest.mark.parametrize("tool_type", sorted(SHOWN_TOOLS))
def test_every_schema_is_valid_and_enforced_exactly(tool_type: str) -> None:
    schema = SHOWN_TOOLS[tool_type].input_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    check_enforceable(canonical_json(schema), f"{tool_type}.input_schema")  # raises if not


def test_memory_inputs_the_schema_admits_are_commands_the_sdk_parses() -> None:
    schema = CLIENT_TOOLS["memory_20250818"].input_schema
    samples = [
        {"command": "view", "path": "/memories"},
        {"command": "view", "path": "/memories/notes.md", "view_range": [1, 5]},
        {"command": "create", "path": "/memories/a.md", "file_text": "x"},
        {"command": "str_replace", "path": "/memories/a.md", "old_str": "x", "new_str": "y"},
        {"command": "insert", "path": "/memories/a.md", "insert_line": 0, "insert_text": "z"},
        {"command": "delete", "path": "/memories/a.md"},
        {"command": "rename", "old_path": "/memories/a.md", "new_path": "/memories/b.md"},
    ]
    parse = TypeAdapter(BetaMemoryTool20250818Command).validate_python
    for sample in samples:
        jsonschema.validate(sample, schema)
        assert parse(sample).command == sample["command"]
    for wrong in ({"command": "view"}, {"command": "view", "path": "/etc/passwd"},
                  {"command": "delete", "path": "/memories/a", "file_text": "x"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def _read(tool: dict) -> str:
    with pytest.raises(InvalidRequest) as refused:
        read_tools([TypeAdapter(Tool).validate_python(tool)], "smollm2-135m-instruct")
    return str(refused.value)


def test_refusals_say_what_the_type_is() -> None:
    assert "must be named `bash`, not `shell`" in _read({"type": "bash_20250124", "name": "shell"})
    assert "server tool" in _read({"type": "web_search_20250305", "name": "web_search"})
    assert "must be named `web_fetch`" in _read({"type": "web_fetch_20250910", "name": "fetch"})
    assert "server tool" in _read({"type": "mcp_toolset", "name": "x"})
    assert "does not read images" in _read(
        {"type": "computer_20251124", "name": "computer", "display_width_px": 1024, "display_height_px": 768})
    unknown = _read({"type": "bash_20240101", "name": "bash"})
    assert "`bash_20240101` is not a tool type this server knows" in unknown and "`bash_20250124`" in unknown


def test_a_declared_tool_gets_the_table_description_and_schema() -> None:
    declared = TypeAdapter(Tool).validate_python(
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 500})
    (spec,) = read_tools([declared], "m")
    assert spec.strict and spec.input_schema is CLIENT_TOOLS["text_editor_20250728"].input_schema
    assert "at most 500 characters" in spec.description
