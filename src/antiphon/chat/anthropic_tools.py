"""Anthropic-defined client tools: versioned tool types whose calls the client executes.

A request declares one by `type` and `name` alone (`{"type": "bash_20250124", "name":
"bash"}`); the hosted API gives the model the tool's description and input schema itself.
This table does the same, so the model is shown what the tool does and its calls come back
as ordinary `tool_use` blocks whose input fits the schema: the schemas are ours, so they are
enforced exactly, as `strict` tools are.

Each command of a tool is one branch of an `anyOf` with the command as a `const`, so the
grammar admits exactly the fields that command takes (a `view` cannot carry `file_text`).
The field names are those of the hosted tools: the SDK's memory command types, and the
text editor and bash parameters that clients (Claude Code, the computer-use demo) execute.

The types are those the newest `anthropic` SDK defines. Web fetch is a server tool that
this server runs itself (`SERVER_TOOLS`). Of the others it defines, server tools it does not
run and the screenshot tools (computer use, the browser) are told apart so that a refusal
can say which it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class ClientTool:
    """An Anthropic-defined tool as the model is shown it (client or server-run)."""

    name: str  # the one name the hosted API accepts for this type
    description: str
    input_schema: Schema


def _string(description: str) -> Schema:
    return {"type": "string", "description": description}


def _command(name: str, fields: Mapping[str, Schema], required: Sequence[str]) -> Schema:
    """One command's input: `command` fixed to its name, then its own fields."""
    return {
        "type": "object",
        "properties": {"command": {"const": name}, **fields},
        "required": ["command", *required],
        "additionalProperties": False,
    }


def _commands(*branches: Schema) -> Schema:
    return {"type": "object", "anyOf": list(branches)}


_PATH = _string("Absolute path of the file or directory.")
_VIEW_RANGE: Schema = {
    "type": "array",
    "items": {"type": "integer"},
    "minItems": 2,
    "maxItems": 2,
    "description": "First and last line to show, 1-based; -1 as the last means to the end.",
}
_LINE: Schema = {
    "type": "integer",
    "minimum": 0,
    "description": "The line after which to insert (0: at the start of the file).",
}
_FILE_TEXT = _string("The whole content of the new file.")
_OLD = _string("Text that occurs exactly once in the file, whitespace included.")
_NEW = _string("The text that replaces it.")


def _file_commands(path: Schema, insert_field: str) -> list[Schema]:
    """view, create, str_replace and insert: what the editor and the memory tool share."""
    return [
        _command("view", {"path": path, "view_range": _VIEW_RANGE}, ["path"]),
        _command("create", {"path": path, "file_text": _FILE_TEXT}, ["path", "file_text"]),
        _command(
            "str_replace",
            {"path": path, "old_str": _OLD, "new_str": _NEW},
            ["path", "old_str", "new_str"],
        ),
        _command(
            "insert",
            {"path": path, "insert_line": _LINE, insert_field: _string("The text to insert.")},
            ["path", "insert_line", insert_field],
        ),
    ]


def _editor_commands(insert_field: str, undo: bool) -> Schema:
    branches = _file_commands(_PATH, insert_field)
    if undo:
        branches.append(_command("undo_edit", {"path": _PATH}, ["path"]))
    return _commands(*branches)


_BASH = ClientTool(
    name="bash",
    description=(
        "Run a command in a persistent bash shell and read its output. State (the working "
        "directory, variables, files) persists between calls. Avoid commands that wait for "
        "input or never end. Set `restart` to true to start a fresh shell."
    ),
    input_schema={
        "type": "object",
        "anyOf": [
            {
                "type": "object",
                "properties": {"command": _string("The bash command to run.")},
                "required": ["command"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"restart": {"const": True}},
                "required": ["restart"],
                "additionalProperties": False,
            },
        ],
    },
)

_EDITOR_DESCRIPTION = (
    "View, create and edit text files. `view` shows a file with line numbers (or lists a "
    "directory); `create` writes a new file; `str_replace` replaces text that occurs exactly "
    "once in the file; `insert` adds text after a line.{undo} Paths are absolute."
)


def _editor(name: str, insert_field: str, undo: bool) -> ClientTool:
    note = " `undo_edit` reverts the last edit of a file." if undo else ""
    return ClientTool(name, _EDITOR_DESCRIPTION.format(undo=note), _editor_commands(insert_field, undo))


# The hosted memory tool keeps everything under /memories (the SDK's client refuses other
# paths), so the grammar writes no other.
_MEMORY_PATH: Schema = {
    "type": "string",
    "pattern": "^/memories(/[A-Za-z0-9._-]+)*$",
    "description": "A path under /memories.",
}

_MEMORY = ClientTool(
    name="memory",
    description=(
        "A memory directory that outlasts this conversation, under /memories. Look at it "
        "before starting a task (`view`), and record progress and what you learn as you go: "
        "`create`, `str_replace`, `insert`, `delete` and `rename` files there."
    ),
    input_schema=_commands(
        *_file_commands(_MEMORY_PATH, "insert_text"),
        _command("delete", {"path": _MEMORY_PATH}, ["path"]),
        _command(
            "rename",
            {"old_path": _MEMORY_PATH, "new_path": _MEMORY_PATH},
            ["old_path", "new_path"],
        ),
    ),
)

# The older editor (`str_replace_editor`) inserts `new_str` and can undo; the newer one
# (`str_replace_based_edit_tool`) inserts `insert_text` and has no undo.
_OLDER_EDITOR = _editor("str_replace_editor", "new_str", undo=True)
_NEWER_EDITOR = _editor("str_replace_based_edit_tool", "insert_text", undo=False)
CLIENT_TOOLS: Mapping[str, ClientTool] = {
    "bash_20241022": _BASH,
    "bash_20250124": _BASH,
    "text_editor_20241022": _OLDER_EDITOR,
    "text_editor_20250124": _OLDER_EDITOR,
    "text_editor_20250429": _NEWER_EDITOR,
    "text_editor_20250728": _NEWER_EDITOR,
    "memory_20250818": _MEMORY,
}


# Server tools this server runs itself: the model calls them like any tool, the server
# executes the call and continues the turn (services/server_tools.py). A declared tool may
# run as several: code execution is the model's bash and file editor in a container.
@dataclass(frozen=True)
class ServerTool:
    name: str  # the declared tool's name
    runs: tuple[ClientTool, ...]  # what the model is shown and calls (server_tool_use names)


# The URL is one the conversation holds: the grammar narrows it to those
# (chat/fetchable_urls.py).
_WEB_FETCH = ClientTool(
    name="web_fetch",
    description=(
        "Fetch the content of a web page or PDF document at a URL and read it. Only a URL "
        "that already appears in the conversation (given by the user or found in an earlier "
        "result) can be fetched. Use it when the answer depends on what that page says."
    ),
    input_schema={
        "type": "object",
        "properties": {"url": _string("The URL to fetch, exactly as it appears in the conversation.")},
        "required": ["url"],
        "additionalProperties": False,
    },
)
_CONTAINER_BASH = ClientTool(
    name="bash_code_execution",
    description=(
        "Run a bash command in a sandboxed Linux container (Python 3 and the usual command "
        "line tools, no network) and read its stdout, stderr and return code. Files persist "
        "between commands; the working directory is /home/user, where uploaded files are, and "
        "skills are under /skills. Files the command creates are returned to the user."
    ),
    input_schema={
        "type": "object",
        "properties": {"command": _string("The bash command to run.")},
        "required": ["command"],
        "additionalProperties": False,
    },
)
_CONTAINER_PATH: Schema = {
    "type": "string",
    "pattern": "^/.*$",
    "description": "Absolute path in the container, e.g. /home/user/notes.txt.",
}
_CONTAINER_EDITOR = ClientTool(
    name="text_editor_code_execution",
    description=(
        "View, create and edit text files in the code execution container. `view` shows a "
        "file with line numbers; `create` writes a file; `str_replace` replaces text that "
        "occurs exactly once in the file."
    ),
    input_schema=_commands(*_file_commands(_CONTAINER_PATH, "insert_text")[:3]),
)
_FETCHING = ServerTool("web_fetch", (_WEB_FETCH,))
_CODE_EXECUTION = ServerTool("code_execution", (_CONTAINER_BASH, _CONTAINER_EDITOR))
SERVER_TOOLS: Mapping[str, ServerTool] = {
    "web_fetch_20250910": _FETCHING,
    "web_fetch_20260209": _FETCHING,
    "web_fetch_20260309": _FETCHING,
    "web_fetch_20260318": _FETCHING,
    "code_execution_20250825": _CODE_EXECUTION,
    "code_execution_20260120": _CODE_EXECUTION,
    "code_execution_20260521": _CODE_EXECUTION,
}


# Families by the type's name before its date (`web_fetch_20250910` -> `web_fetch`).
SERVER_TOOL_FAMILIES = frozenset(
    {"web_search", "web_fetch", "code_execution", "tool_search_tool_regex",
     "tool_search_tool_bm25", "advisor", "mcp_toolset"}
)
SCREENSHOT_TOOL_FAMILIES = frozenset({"computer", "computer_toolset", "browser_toolset"})


def tool_family(tool_type: str) -> str:
    family, _, version = tool_type.rpartition("_")
    return family if version.isdigit() and len(version) == 8 else tool_type


def viewing_limit_note(max_characters: int | None) -> str:
    """What the text editor's `max_characters` means to the model: views are cut there."""
    if max_characters is None:
        return ""
    return f" A view shows at most {max_characters} characters of a file."
