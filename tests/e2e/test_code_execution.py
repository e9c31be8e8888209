"""Code execution, the server tool, through the official SDK: an uploaded Skill's script runs
in a sandboxed container on an uploaded File, and the file it creates downloads by its id;
the container is reused by id; the file editor works on the same files.

The model is forced to call the tool and told the exact command (a 135M model copies it
faithfully at temperature 0); everything after the call is the server's own work: the
sandbox (bubblewrap), the skill mounted read-only under /skills, the upload placed in the
working directory, the created file stored through the Files API. The escape attempts are
tests/unit/test_sandbox_escapes.py."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m-instruct"
TOOL = {"type": "code_execution_20250825", "name": "code_execution"}
GREEDY = {"temperature": 0}
SKILL_MD = b"---\nname: shout\ndescription: Turn a text file into upper case.\n---\n\nRun: python3 /skills/shout/shout.py FILE\n"
SCRIPT = (
    b"import sys, pathlib\n"
    b"text = pathlib.Path(sys.argv[1]).read_text()\n"
    b"pathlib.Path('SHOUTED.txt').write_text(text.upper())\n"
    b"print('wrote SHOUTED.txt')\n"
)
COMMAND = "python3 /skills/shout/shout.py notes.txt"
pytestmark = pytest.mark.usefixtures("sandboxes_work")  # root and bubblewrap (tests/conftest.py)


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def _run(client: anthropic.Anthropic, tool: str, content: Any, **extra: Any) -> Any:
    return client.beta.messages.create(
        model=MODEL, max_tokens=160, tools=[TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": tool, "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": content}], extra_body=GREEDY, **extra,
    )


def _call_and_result(message: Any, name: str) -> tuple[Any, Any]:
    call, result = message.content[0], message.content[1]
    assert call.type == "server_tool_use" and call.name == name and call.id.startswith("srvtoolu_")
    assert result.tool_use_id == call.id, message.content
    return call, result.content


@pytest.fixture(scope="module")
def shouted(client: anthropic.Anthropic) -> Any:
    """A container made with the skill, the notes uploaded, the skill's script run on them."""
    skill = client.beta.skills.create(files=[("shout/SKILL.md", SKILL_MD), ("shout/shout.py", SCRIPT)])
    notes = client.beta.files.upload(file=("notes.txt", b"pelicans are large\n", "text/plain"))
    return _run(
        client, "bash_code_execution",
        [{"type": "container_upload", "file_id": notes.id}, {"type": "text", "text": f"Run this command: {COMMAND}"}],
        container={"skills": [{"type": "custom", "skill_id": skill.id, "version": "latest"}]},
    )


def test_a_skill_script_runs_on_an_uploaded_file_and_its_output_downloads(
    client: anthropic.Anthropic, shouted: Any
) -> None:
    call, result = _call_and_result(shouted, "bash_code_execution")
    assert call.input == {"command": COMMAND}, call.input
    assert result.type == "bash_code_execution_result", result
    assert (result.return_code, result.stdout, result.stderr) == (0, "wrote SHOUTED.txt\n", "")
    [created] = result.content
    assert client.beta.files.download(created.file_id).read() == b"PELICANS ARE LARGE\n"
    assert client.beta.files.retrieve_metadata(created.file_id).filename == "SHOUTED.txt"
    container = shouted.container
    assert container.id.startswith("container_") and container.expires_at is not None
    assert [skill.type for skill in container.skills] == ["custom"]


def test_the_container_is_reused_by_its_id(client: anthropic.Anthropic, shouted: Any) -> None:
    message = _run(client, "bash_code_execution", "Run this command: cat SHOUTED.txt", container=shouted.container.id)
    call, result = _call_and_result(message, "bash_code_execution")
    assert call.input == {"command": "cat SHOUTED.txt"}, call.input
    assert (result.return_code, result.stdout) == (0, "PELICANS ARE LARGE\n"), result
    assert result.content == []  # nothing new was created
    assert message.container.id == shouted.container.id


def test_a_streamed_turn_gives_the_same_blocks_and_its_container(
    client: anthropic.Anthropic, shouted: Any
) -> None:
    with client.beta.messages.stream(
        model=MODEL, max_tokens=120, tools=[TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "bash_code_execution", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Run this command: echo streamed"}],
        container=shouted.container.id, extra_body=GREEDY,
    ) as stream:
        kinds = [event.content_block.type for event in stream if event.type == "content_block_start"]
        message = stream.get_final_message()
    assert kinds[:2] == ["server_tool_use", "bash_code_execution_tool_result"], kinds
    call, result = _call_and_result(message, "bash_code_execution")
    assert call.input == {"command": "echo streamed"} and result.stdout == "streamed\n", result
    assert message.container is not None and message.container.id == shouted.container.id


def test_the_editor_works_on_the_containers_files(client: anthropic.Anthropic, shouted: Any) -> None:
    """Whatever file command the model writes, its result is what the file system says."""
    message = _run(
        client, "text_editor_code_execution", "View the file /home/user/SHOUTED.txt",
        container=shouted.container.id,
    )
    call, result = _call_and_result(message, "text_editor_code_execution")
    command, path = call.input["command"], call.input["path"]
    assert path.startswith("/"), call.input  # the grammar writes absolute paths only
    check = _run(client, "bash_code_execution", f"Command to run:\ncat {path}", container=shouted.container.id)
    _, seen = _call_and_result(check, "bash_code_execution")
    if result.type == "text_editor_code_execution_view_result":
        assert command == "view" and seen.return_code == 0
        assert result.content == seen.stdout.rstrip("\n") and result.total_lines == len(seen.stdout.splitlines())
    elif result.type == "text_editor_code_execution_create_result":
        assert command == "create" and seen.stdout == call.input["file_text"]
    elif result.type == "text_editor_code_execution_str_replace_result":
        assert command == "str_replace" and call.input["new_str"] in seen.stdout
    else:  # refused: the file is not there, or the text to replace is not there exactly once
        assert result.type == "text_editor_code_execution_tool_result_error", result
        assert seen.return_code != 0 or seen.stdout.count(call.input.get("old_str", "")) != 1, (call.input, result)


def test_an_unknown_container_is_a_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="no container with id"):
        _run(client, "bash_code_execution", "Run this command: ls", container="container_01nope")
