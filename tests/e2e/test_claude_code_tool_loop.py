"""Claude Code's tool loop against a real `antiphon serve`: Claude Code streams a request, runs
the `tool_use` it gets back, and sends the `tool_result` in the next request.

`test_claude_code.py` runs Claude Code as people do; there SmolLM2-135M answers in text and
never elects to call a tool (0 calls in 50 sampled answers to this very prompt with
`tool_choice` auto). This test adds the round trip: it asks for a call on every turn through
Claude Code's own `CLAUDE_CODE_EXTRA_BODY` (`tool_choice: any`), so the call is made and
guaranteed valid by the grammar; Claude Code reads the file, sends the result back, and the
next (forced) call meets `--max-turns 2`, which ends the run on Claude Code's turn limit,
never on an API error. The flags in `claude_code.SHRINK_FLAGS` keep the request small
(~430 tokens instead of ~12,000), so the loop takes seconds.

Skipped, with the reason, when npm cannot provide the pinned release (offline, no npm).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.e2e.claude_code import Transcript, claude_env, run_print_mode

MODEL = "smollm2-135m-instruct"
SECRET = "The pelican's name is Bartholomew."
SYSTEM_PROMPT = (
    "You answer questions about files. Call the Read tool with the file's path, "
    "then answer in one short sentence."
)
# Two model turns: the call, and the turn that reads its result.
MAX_TURNS = 2
# Output tokens per request: enough for the answer to end on its own (a turn that stops at
# max_tokens makes Claude Code ask for a continuation, up to three times, then fail).
MAX_OUTPUT_TOKENS = 1024
RUN_TIMEOUT = 170.0


@pytest.fixture(scope="module")
def transcript(claude_executable: Path, claude_server: Server,
               tmp_path_factory: pytest.TempPathFactory) -> Transcript:
    """One Claude Code run, shared by the tests below (it takes most of their time)."""
    root = tmp_path_factory.mktemp("claude-code-run")
    # The file is named relative to Claude Code's working directory: 135M parameters copy a
    # short name reliably, a deep temporary path much less so.
    work = root / "work"
    work.mkdir()
    note = work / "note.txt"
    note.write_text(SECRET + "\n")
    env = claude_env(
        claude_server.base_url, claude_server.api_key, root / "home",
        CLAUDE_CODE_MAX_OUTPUT_TOKENS=str(MAX_OUTPUT_TOKENS),
        # merged into every request body: greedy decoding (a reproducible run), and a call
        # on every turn, which this model would not make on its own
        CLAUDE_CODE_EXTRA_BODY=json.dumps(
            {"temperature": 0, "tool_choice": {"type": "any", "disable_parallel_tool_use": True}}
        ),
    )
    prompt = "Use the Read tool to read the file note.txt and tell me what it says."
    transcript = run_print_mode(
        claude_executable, prompt, cwd=work, env=env, model=MODEL,
        system_prompt=SYSTEM_PROMPT, max_turns=MAX_TURNS, timeout=RUN_TIMEOUT,
    )
    transcript.server_log = claude_server.log_path
    return transcript


def test_claude_code_runs_a_tool_round_trip_without_an_api_error(transcript: Transcript) -> None:
    context = transcript.summary()
    result = transcript.result
    assert result is not None, context
    # The run ends on Claude Code's own turn limit (the forced second call), not on an error
    # from the server: every request was answered and parsed.
    assert result.get("terminal_reason") != "api_error", context
    assert "API Error" not in str(result.get("result", "")), context
    assert result["subtype"] == "error_max_turns" and result["num_turns"] >= 2, context
    reads = [use for use in transcript.tool_uses if use.get("name") == "Read"]
    assert len(reads) >= 2, context  # the first call, and the one after reading its result
    assert all(use["id"].startswith("toolu_") for use in reads), context
    assert all(isinstance(use["input"].get("file_path"), str) for use in reads), context
    answered = {block.get("tool_use_id") for block in transcript.tool_results}
    assert reads[0]["id"] in answered, context
    log = transcript.server_log.read_text() if transcript.server_log else ""
    statuses = [line.rsplit('" ', 1)[-1] for line in log.splitlines() if "POST /v1/messages" in line]
    assert len(statuses) >= 2 and all(status.startswith("200") for status in statuses), log


def test_the_tool_call_read_the_file_the_test_wrote(transcript: Transcript) -> None:
    """The model wrote the path from the prompt into the call, so Read returned the file."""
    context = transcript.summary()
    texts = [transcript.tool_result_text(block) for block in transcript.tool_results]
    assert any(SECRET in text for text in texts), context
