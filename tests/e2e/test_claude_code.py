"""Claude Code (the real CLI, pinned, from npm) as a new user runs it, against `antiphon serve`
with its defaults on the embedded SmolLM2-135M.

Nothing is trimmed: all of Claude Code's built-in tools, its own system prompt, adaptive
thinking and `context_management`, about 12,000 tokens before the user has said anything
(13,500 in interactive mode). The only settings are the ones a person makes: the base URL
and key, a fresh HOME and project folder, and no self-update of the pinned release. Offline,
interactive Claude Code needs `"hasCompletedOnboarding": true` in `~/.claude.json` (on its
first start it otherwise checks api.anthropic.com and stops: a known Claude Code behaviour
behind any gateway, see the README).

A 135M model cannot do the task; what is tested is that Claude Code gets a complete answer
to every request (no API error, no retry) and ends with its result in bounded time. The
first request prefills the whole prompt (~70 s on two cores); a later session finds the
system prompt and tools in the prefix cache.

Skipped, with the reason, when npm cannot provide the pinned release or tmux is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.e2e.claude_code import Transcript, plain_env, run_claude
from tests.e2e.terminal import Terminal

NOTE = "The pelican's name is Bartholomew.\n"
# Prefill of ~12,000 tokens, then an answer that ends on its own, at the loop stop, or at the
# 4,096-token output limit (then Claude Code asks it to go on, up to three times).
RUN_TIMEOUT = 900.0
# The log line of a request: `"POST /v1/messages?beta=true HTTP/1.1" 200 OK`.
REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1.1" (?P<status>\d{3})')


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One person's HOME, for both print-mode sessions (Claude Code's system prompt names
    paths under it, so a second person would not share the first one's cached prompt)."""
    return tmp_path_factory.mktemp("claude-home")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("claude-code-project")
    (folder / "notes.txt").write_text(NOTE)
    return folder


def requests_seen(server: Server) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request the server logged so far."""
    log = server.log_path.read_text()
    return [(m["method"], m["path"], int(m["status"])) for m in REQUEST_LINE.finditer(log)]


def print_mode(executable: Path, server: Server, project: Path, home: Path,
               prompt: str) -> Transcript:
    env = plain_env(server.base_url, server.api_key, home)
    command = [str(executable), "-p", prompt, "--output-format", "stream-json", "--verbose"]
    transcript = run_claude(command, cwd=project, env=env, timeout=RUN_TIMEOUT)
    transcript.server_log = server.log_path
    return transcript


def assert_answered(transcript: Transcript, requests: list[tuple[str, str, int]]) -> dict:
    """Claude Code's own result, a success, every request of the run answered with 200."""
    context = transcript.summary()
    result = transcript.result
    assert transcript.returncode == 0 and result is not None, context
    assert result["subtype"] == "success" and not result["is_error"], context
    assert result.get("terminal_reason") == "completed", context
    assert "API Error" not in str(result.get("result", "")), context
    posts = [status for method, path, status in requests if method == "POST"]
    assert posts and all(status == 200 for status in posts), (requests, context)
    return result


def test_print_mode_answers_with_claude_codes_defaults(
    claude_executable: Path, claude_server: Server, project: Path, home: Path
) -> None:
    before = len(requests_seen(claude_server))
    transcript = print_mode(
        claude_executable, claude_server, project, home, "What does notes.txt say?"
    )
    result = assert_answered(transcript, requests_seen(claude_server)[before:])
    assert result["num_turns"] >= 1 and isinstance(result["result"], str), transcript.summary()
    usage = result["usage"]
    prompt = (usage["input_tokens"] + usage["cache_creation_input_tokens"]
              + usage["cache_read_input_tokens"])
    assert prompt > 8192, usage  # the whole default prompt, past SmolLM2's training context


def test_a_second_session_reads_the_system_prompt_and_tools_from_the_cache(
    claude_executable: Path, claude_server: Server, project: Path, home: Path
) -> None:
    """Another session, another question: only what follows the question is prefilled (the
    ~2,500-token environment message Claude Code places after it)."""
    before = len(requests_seen(claude_server))
    transcript = print_mode(
        claude_executable, claude_server, project, home, "Who is the pelican in notes.txt?"
    )
    result = assert_answered(transcript, requests_seen(claude_server)[before:])
    first_request = next(e for e in transcript.events if e.get("type") == "assistant")
    usage = first_request["message"]["usage"]
    assert usage["cache_read_input_tokens"] >= 9000, usage  # system prompt and ~20 tools
    assert result["usage"]["cache_read_input_tokens"] >= 9000, result["usage"]


def choose(terminal: Terminal, option: str) -> None:
    """Move a Claude Code menu's cursor (❯) to the option, then confirm."""
    for _ in range(6):
        selected = [line for line in terminal.screen().splitlines() if "❯" in line]
        if selected and option in selected[-1]:
            terminal.press("Enter")
            return
        terminal.press("Down")
    raise AssertionError(f"no menu option {option!r}:\n{terminal.screen()}")


@pytest.mark.skipif(not Terminal.available(), reason="tmux is not installed")
def test_interactive_claude_code_answers_and_exits(
    claude_executable: Path, claude_server: Server, project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("claude-home-tty")
    (home / ".claude.json").write_text('{"hasCompletedOnboarding": true}\n')
    env = {**plain_env(claude_server.base_url, claude_server.api_key, home),
           "TERM": "xterm-256color"}
    before = len(requests_seen(claude_server))
    terminal = Terminal([str(claude_executable)], cwd=project, env=env)
    try:
        terminal.wait_for(lambda s: "trust this folder" in s, 60, "folder trust question")
        choose(terminal, "Yes, I trust this folder")
        terminal.wait_for(lambda s: "use this API key" in s, 60, "API key question")
        choose(terminal, "Yes")
        terminal.wait_for(lambda s: "shift+tab to cycle" in s, 60, "prompt box")
        terminal.type("What does notes.txt say?")
        terminal.press("Enter")
        # Claude Code marks the model's text (or a tool call) with ● once it streams in.
        terminal.wait_for(lambda s: re.search(r"● \S", s) is not None, 600, "answer")
        try:  # let it finish; a person who has read enough presses Esc
            terminal.wait_for(lambda s: "esc to interrupt" not in s, 20, "end of the answer")
        except AssertionError:
            terminal.press("Escape")
            terminal.wait_for(lambda s: "esc to interrupt" not in s, 30, "interruption")
        terminal.type("/exit")
        terminal.press("Enter")
        screen = terminal.wait_for(lambda s: terminal.exit_status() is not None, 60, "exit")
        assert terminal.exit_status() == 0, screen
        assert "API Error" not in screen, screen
    finally:
        terminal.close()
    posts = [status for method, _, status in requests_seen(claude_server)[before:]
             if method == "POST"]
    assert posts and all(status == 200 for status in posts), posts
