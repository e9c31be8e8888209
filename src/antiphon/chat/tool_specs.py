"""The request's `tools` and `tool_choice`, checked and reduced to what rendering needs.

Anthropic-defined client tools (bash, the text editor, memory) take their description and
schema from `anthropic_tools`. Refusals name the field: a server tool this server does not
run, a screenshot tool on a model that reads no images, a tool without an object input
schema, a schema that is not valid JSON Schema, duplicate or malformed names, a
`tool_choice` naming a tool that is not offered.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from antiphon.chat.anthropic_tools import (
    CLIENT_TOOLS,
    SCREENSHOT_TOOL_FAMILIES,
    SERVER_TOOL_FAMILIES,
    SERVER_TOOLS,
    tool_family,
    viewing_limit_note,
)
from antiphon.chat.grammar.json_schema import degenerate_problem, metaschema_problems
from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import CountTokensRequest, Tool

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
ToolMode = Literal["auto", "any", "tool", "none"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: Mapping[str, Any]
    strict: bool
    deferred: bool  # `defer_loading`: shown only once a tool_reference names it
    schema_key: str  # the schema as canonical JSON: the key of the per-schema caches
    server: bool = False  # run by this server (web fetch), not returned to the client

    def with_schema(self, schema: Mapping[str, Any]) -> ToolSpec:
        return replace(self, input_schema=schema, schema_key=canonical_json(schema))


@dataclass(frozen=True)
class ToolPolicy:
    mode: ToolMode
    parallel: bool
    forced_name: str | None = None  # with mode "tool"

    @property
    def must_call(self) -> bool:
        return self.mode in ("any", "tool")


NO_TOOLS = ToolPolicy("none", parallel=False)


def canonical_json(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True)


@functools.lru_cache(maxsize=4096)
def _schema_error(schema_json: str) -> str | None:
    """Why a tool's schema is refused, or None. Checking a schema against its metaschema
    takes milliseconds, and agents send the same tools with every request (dozens at once):
    each distinct schema is checked once."""
    schema = json.loads(schema_json)
    if problems := metaschema_problems(schema):
        return f"not a valid JSON Schema: {problems[0]}"
    if (degenerate := degenerate_problem(schema)) is not None:
        return f"no grammar can serve this schema: {degenerate}"
    return None


def _read_tool(tool: Tool, index: int, model_id: str) -> tuple[ToolSpec, ...]:
    path = f"tools.{index}"
    if tool.type not in (None, "custom"):
        return _anthropic_tool(tool, path, model_id)
    if not TOOL_NAME.match(tool.name):
        raise InvalidRequest(
            f"{path}.name: `{tool.name}` must be 1-128 letters, digits, `_` or `-`"
        )
    schema = tool.input_schema
    if schema is None:
        raise InvalidRequest(f"{path}.input_schema: a custom tool needs an input_schema")
    if schema.get("type") != "object":
        raise InvalidRequest(
            f'{path}.input_schema.type: a tool\'s input is an object; set `"type": "object"`'
        )
    key = canonical_json(schema)
    if (problem := _schema_error(key)) is not None:
        raise InvalidRequest(f"{path}.input_schema: {problem}")
    return (ToolSpec(
        name=tool.name,
        description=tool.description or "",
        input_schema=schema,
        strict=bool(tool.strict),
        deferred=bool(tool.defer_loading),
        schema_key=key,
    ),)


def _anthropic_tool(tool: Tool, path: str, model_id: str) -> tuple[ToolSpec, ...]:
    """A tool declared by its versioned `type`: the description and schema are the table's,
    enforced exactly (`strict`), since they are not the client's to get wrong. A server tool
    may run as several (code execution: its bash and its editor)."""
    assert tool.type is not None
    client = CLIENT_TOOLS.get(tool.type)
    server = SERVER_TOOLS.get(tool.type)
    name = client.name if client else server.name if server else None
    if name is None:
        raise InvalidRequest(f"{path}.type: {_refusal(tool.type, model_id)}")
    if tool.name != name:
        raise InvalidRequest(
            f"{path}.name: a `{tool.type}` tool must be named `{name}`, not `{tool.name}`"
        )
    shown = (client,) if client else server.runs if server else ()
    return tuple(
        ToolSpec(
            name=defined.name,
            description=defined.description + viewing_limit_note(tool.max_characters),
            input_schema=defined.input_schema,
            strict=True,
            deferred=bool(tool.defer_loading),
            schema_key=canonical_json(defined.input_schema),
            server=server is not None,
        )
        for defined in shown
    )


def _refusal(tool_type: str, model_id: str) -> str:
    family = tool_family(tool_type)
    if family in SERVER_TOOL_FAMILIES:
        return (
            f"`{tool_type}` is a server tool, which this server does not run (of the "
            f"server tools it runs {', '.join(f'`{name}`' for name in SERVER_TOOLS)}); "
            "define a custom tool with an input_schema instead"
        )
    if family in SCREENSHOT_TOOL_FAMILIES:
        return (
            f"`{tool_type}` works from screenshots, and model {model_id} does not read images"
        )
    known = ", ".join(f"`{name}`" for name in CLIENT_TOOLS)
    return (
        f"`{tool_type}` is not a tool type this server knows (retired, or newer than it); "
        f"the Anthropic-defined client tools it runs are {known}"
    )


def read_tools(tools: Sequence[Tool] | None, model_id: str) -> tuple[ToolSpec, ...]:
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for index, tool in enumerate(tools or ()):
        for spec in _read_tool(tool, index, model_id):
            if spec.name in seen:
                raise InvalidRequest(f"tools.{index}.name: `{spec.name}` is defined twice")
            seen.add(spec.name)
            specs.append(spec)
    return tuple(specs)


def read_tool_policy(request: CountTokensRequest, tools: Sequence[ToolSpec]) -> ToolPolicy:
    choice = request.tool_choice
    if choice is None:
        return ToolPolicy("auto", parallel=True) if tools else NO_TOOLS
    parallel = not getattr(choice, "disable_parallel_tool_use", False)
    if choice.type == "none":
        return ToolPolicy("none", parallel=False)
    if not tools:
        raise InvalidRequest(f"tool_choice: `{choice.type}` needs at least one tool in `tools`")
    if choice.type == "tool":
        if choice.name not in {tool.name for tool in tools}:
            raise InvalidRequest(
                f"tool_choice.name: `{choice.name}` is not one of the tools in `tools`"
            )
        return ToolPolicy("tool", parallel, choice.name)
    return ToolPolicy(choice.type, parallel)


def visible_tools(
    tools: Sequence[ToolSpec], references: Sequence[str], forced_name: str | None = None
) -> tuple[ToolSpec, ...]:
    """The tools the model is shown: all but deferred ones that no tool_reference has loaded
    (and that tool_choice does not name)."""
    loaded = {*references, forced_name}
    return tuple(tool for tool in tools if not tool.deferred or tool.name in loaded)
