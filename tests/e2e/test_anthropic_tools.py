"""Anthropic-defined client tools (bash, the text editor, memory) through the official SDK,
declared by type and name only, as agents written for the hosted API declare them: the model
calls them, the client runs the calls, and the conversation goes on with the results.

Each call's input is checked against the tool's schema and against what the client needs to
run it; the clients here run every call for real (bash in a scratch directory with a
scrubbed environment, the editor on real files, memory with the SDK's own implementation)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from anthropic.tools.memory import BetaLocalFilesystemMemoryTool
from anthropic.types.beta.beta_memory_tool_20250818_command import BetaMemoryTool20250818Command
from pydantic import TypeAdapter

from antiphon.chat.anthropic_tools import CLIENT_TOOLS
from tests.conftest import Server

MODEL = "smollm2-135m-instruct"
BASH = {"type": "bash_20250124", "name": "bash"}
GREEDY = {"temperature": 0}
EDITOR = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 4000}


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def forced(name: str) -> Any:
    """One call of the named tool: a small model offered more keeps writing calls."""
    return {"type": "tool", "name": name, "disable_parallel_tool_use": True}


def only_call(message: Any, name: str) -> Any:
    calls = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and len(calls) == 1, message.content
    assert calls[0].name == name
    return calls[0]


def run_bash(command: str, directory: Path) -> tuple[str, bool]:
    """The client's bash: the model's command in a scratch directory, nothing inherited."""
    try:
        done = subprocess.run(["bash", "-c", command], cwd=directory, capture_output=True, text=True,
                              timeout=10, env={"PATH": "/usr/bin:/bin", "HOME": str(directory)})
    except subprocess.TimeoutExpired:
        return "timed out after 10 s", True
    return (done.stdout + done.stderr)[-4000:] or "(no output)", done.returncode != 0


def test_bash_round_trip(client: anthropic.Anthropic, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("buy milk\n")
    question = {"role": "user", "content": "List the files in the current directory."}
    first = client.messages.create(
        model=MODEL, max_tokens=80, tools=[BASH], tool_choice=forced("bash"),
        messages=[question], extra_body=GREEDY,
    )
    call = only_call(first, "bash")
    jsonschema.validate(call.input, CLIENT_TOOLS["bash_20250124"].input_schema)
    output, failed = (run_bash(call.input["command"], tmp_path) if "command" in call.input
                      else ("shell restarted", False))
    answer = client.messages.create(
        model=MODEL, max_tokens=60, tools=[BASH], extra_body=GREEDY,
        messages=[question, {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                "content": output, "is_error": failed}]}],
    )
    assert answer.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert answer.content and answer.usage.input_tokens > first.usage.input_tokens


def edit(directory: Path, command: dict[str, Any]) -> tuple[str, bool]:
    """The client's text editor over one directory (the model's absolute paths map into it)."""
    path = directory / Path(command["path"]).name
    match command["command"]:
        case "view":
            if not path.is_file():
                return f"{command['path']}: no such file", True
            lines = path.read_text().splitlines()
            return "\n".join(f"{number}\t{line}" for number, line in enumerate(lines, 1)), False
        case "create":
            path.write_text(command["file_text"])
            return f"created {command['path']}", False
        case "str_replace":
            text = path.read_text() if path.is_file() else ""
            if text.count(command["old_str"]) != 1:
                return "old_str must occur exactly once", True
            path.write_text(text.replace(command["old_str"], command["new_str"]))
            return "replaced", False
        case "insert":
            lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
            lines.insert(command["insert_line"], command["insert_text"] + "\n")
            path.write_text("".join(lines))
            return "inserted", False
    raise AssertionError(command)


def test_text_editor_round_trip(client: anthropic.Anthropic, tmp_path: Path) -> None:
    (tmp_path / "plan.txt").write_text("1. write tests\n2. ship\n")
    history: list[Any] = [{"role": "user", "content": "Show me /work/plan.txt, then add a line '3. rest'."}]
    for _ in range(2):  # two calls: each run by the client and answered with its result
        message = client.messages.create(
            model=MODEL, max_tokens=300, tools=[EDITOR], extra_body=GREEDY, messages=history,
            tool_choice=forced("str_replace_based_edit_tool"),
        )
        call = only_call(message, "str_replace_based_edit_tool")
        jsonschema.validate(call.input, CLIENT_TOOLS["text_editor_20250728"].input_schema)
        result, failed = edit(tmp_path, call.input)
        history += [{"role": "assistant", "content": message.content},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                  "content": result, "is_error": failed}]}]
    final = client.messages.create(model=MODEL, max_tokens=60, tools=[EDITOR], messages=history)
    assert final.stop_reason in ("end_turn", "max_tokens", "tool_use") and final.content


class RecordingMemory(BetaLocalFilesystemMemoryTool):
    """The SDK's local memory tool, noting each input it is asked to run."""

    def __init__(self, base_path: Path) -> None:
        super().__init__(base_path=str(base_path))
        self.inputs: list[object] = []

    def call(self, input: object) -> Any:
        self.inputs.append(input)
        return super().call(input)


def test_memory_with_the_sdks_own_tool_runner(client: anthropic.Anthropic, tmp_path: Path) -> None:
    """The SDK's tool runner and its local memory implementation: each call it receives is
    run against a real directory and answered before the next request."""
    memory = RecordingMemory(tmp_path)
    (tmp_path / "memories" / "preferences.md").write_text("The user drinks green tea.\n")
    runner = client.beta.messages.tool_runner(
        model=MODEL, max_tokens=120, tools=[memory], max_iterations=2, extra_body=GREEDY,
        tool_choice=forced("memory"),
        messages=[{"role": "user", "content": "Check your memory: what does the user drink?"}],
    )
    replies = list(runner)
    assert len(replies) == 2 and all(reply.stop_reason == "tool_use" for reply in replies)
    assert len(memory.inputs) == 2  # the second request carried the first call's result
    parse = TypeAdapter(BetaMemoryTool20250818Command).validate_python
    for called in memory.inputs:
        command = parse(called)  # the SDK's own command types accept every call
        paths = [getattr(command, field) for field in ("path", "old_path", "new_path") if hasattr(command, field)]
        assert paths and all(path.startswith("/memories") for path in paths)


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ({"type": "bash_20250124", "name": "shell"}, "tools.0.name: a `bash_20250124` tool must be named `bash`"),
        ({"type": "bash_20240101", "name": "bash"}, "tools.0.type: `bash_20240101` is not a tool type this server knows"),
        ({"type": "computer_20251124", "name": "computer", "display_width_px": 1280, "display_height_px": 800},
         "tools.0.type: `computer_20251124` works from screenshots, and model smollm2-135m-instruct does not read images"),
        ({"type": "web_search_20250305", "name": "web_search"}, "server tool, which this server does not run"),
    ],
)
def test_refusals_name_the_type(server: Server, tool: dict, expected: str) -> None:
    body = {"model": MODEL, "max_tokens": 10, "tools": [tool], "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{server.base_url}/v1/messages", json=body, headers=server.headers())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert expected in response.json()["error"]["message"]


def test_the_tool_reaches_the_prompt(client: anthropic.Anthropic) -> None:
    """The model is shown the tool's description and schema: counting tokens with the tool
    declared by type counts them, as a custom tool with the same definition would."""
    messages = [{"role": "user", "content": "hi"}]
    bare = client.messages.count_tokens(model=MODEL, messages=messages).input_tokens
    declared = client.messages.count_tokens(model=MODEL, messages=messages, tools=[EDITOR]).input_tokens
    table = CLIENT_TOOLS["text_editor_20250728"]
    custom = client.messages.count_tokens(model=MODEL, messages=messages, tools=[{
        "name": table.name, "input_schema": dict(table.input_schema),
        "description": table.description + " A view shows at most 4000 characters of a file."}]).input_tokens
    assert declared == custom > bare + 100
