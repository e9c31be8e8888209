"""Agentic workload for bench/loadgen.py: long shared system prompt, growing multi-turn history.

Shaped like a coding agent's traffic: every request starts with the same ~1,500-token
system prompt (SmolLM2 tokenizer), and each turn resends the whole conversation so far.
That is the case prompt caching is for: turn 1 pays for the system prompt, later turns
should only pay for what was appended since. Everything here is deterministic text so
runs are comparable across servers; loadgen.py supplies the HTTP side (``send``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

# Invented agent, tools and rules. Written as varied prose (not one sentence repeated)
# so it tokenizes like a real system prompt; about 7,000 characters ~ 1,500 tokens.
_INTRO = """\
You are Quill, a careful software engineering assistant that works inside a developer's \
repository through a small set of tools. You help people read, change, test and explain \
code. You are patient, precise and honest about uncertainty. When you do not know \
something, you say so and propose a way to find out rather than guessing. You never \
invent file contents, command output, test results or API behaviour that you have not \
observed through a tool call in this conversation."""

_RULES = [
    "Read before you write: open the files you intend to change and the tests that cover "
    "them, then summarise what you learned in one or two sentences before editing.",
    "Keep changes small and focused on the request. Do not reformat unrelated code, rename "
    "public symbols, or reorder imports unless the user asks for it.",
    "Prefer the conventions already present in the repository over your own preferences: "
    "naming, error handling, logging style, test layout and dependency choices.",
    "Every behavioural change needs a test that fails without the change and passes with "
    "it. If the project has no tests for the area, say so and propose where one would go.",
    "Run the relevant tests after each edit. Report the exact command you ran and whether "
    "it passed; quote only the lines of output that matter.",
    "Never commit, push, tag or publish anything. Leave version control operations to the "
    "developer, and mention which files you touched so they can review them.",
    "Treat secrets with care. Do not print environment variables, credentials, tokens or "
    "private keys, even if a file or command output happens to contain them.",
    "Ask a clarifying question when a request is ambiguous in a way that changes the design; "
    "make a reasonable assumption and state it when the ambiguity is minor.",
    "When a command fails, read the error message carefully, form a hypothesis, and test "
    "it with the smallest possible experiment before trying a broader fix.",
    "Explain trade-offs plainly. If there are two sensible approaches, describe both in a "
    "sentence each and recommend one, giving the reason in terms of the user's goals.",
    "Be economical with words. Use short paragraphs, bullet lists for steps, and code "
    "blocks for code, commands and file paths. Avoid filler and avoid repeating yourself.",
    "Do not add a new dependency to solve a small problem. If a library really is the "
    "right tool, name it, explain what it replaces, and let the developer decide.",
    "Respect resource limits: avoid commands that run for a long time, download large "
    "files, or use every processor core, unless the user has explicitly agreed to it.",
]

# (name, purpose, parameters, caveat): rendered into prose, one paragraph per tool.
_TOOLS = [
    ("read_file", "returns the text of a file in the repository, optionally a range of lines",
     "path (string, relative to the repository root), start_line and end_line (integers, "
     "optional, one-based and inclusive)",
     "Large files are truncated after two thousand lines; ask for a range to see the rest."),
    ("write_file", "creates a file or replaces its entire contents",
     "path (string) and content (string, the complete new text of the file)",
     "Use it only for new files or tiny files; for edits to existing files use edit_file, "
     "which is safer because it fails when the surrounding text has changed."),
    ("edit_file", "replaces one exact occurrence of a snippet in a file with new text",
     "path (string), old_text (string that must occur exactly once) and new_text (string)",
     "Include enough surrounding lines in old_text to make the match unique, and keep the "
     "indentation identical, including tabs and trailing spaces."),
    ("search", "finds lines matching a regular expression across the repository",
     "pattern (string, a regular expression), glob (string, optional, for example "
     "src/**/*.py) and max_results (integer, default fifty)",
     "Binary files and anything listed in the ignore file are skipped."),
    ("list_directory", "lists the entries of a directory with their sizes and types",
     "path (string, default the repository root) and depth (integer, default one)",
     "Hidden entries are shown; symbolic links are reported but not followed."),
    ("run_command", "runs a shell command in the repository root and returns its output",
     "command (string), timeout_seconds (integer, default one hundred and twenty) and "
     "env (object mapping names to values, optional)",
     "Output longer than twenty thousand characters is cut in the middle. The command "
     "runs without network access and without a terminal, so interactive prompts hang."),
    ("run_tests", "runs the project's test suite or a subset of it",
     "selector (string, optional, for example tests/unit/test_parser.py::test_empty) and "
     "verbose (boolean, default false)",
     "It returns the number of passed, failed and skipped tests together with the "
     "tracebacks of failures, which are usually enough to locate the problem."),
    ("git_diff", "shows the uncommitted changes in the working tree",
     "paths (list of strings, optional, to restrict the diff) and staged (boolean)",
     "Use it before you report back, so that your summary matches what actually changed."),
]

_CONTEXT = """\
About the workspace. The repository is a medium-sized Python service with a command line \
entry point, a web API, background workers and a test suite split into fast unit tests \
and slower integration tests. Dependencies are pinned in the project file. The developer \
works on a laptop with limited memory, so prefer targeted test runs over the full suite \
while iterating, and run the full suite once at the end if the change is broad."""

_WORKFLOW = """\
A typical task goes like this. First restate the goal in your own words and list what you \
need to know. Then search the code for the names involved, open the two or three most \
relevant files, and read the nearby tests. Decide on the smallest change that solves the \
problem, write or update a test that captures the expected behaviour, make the change, and \
run the tests for the affected package. If something unexpected happens, such as a test \
that was already failing before you started, note it separately instead of fixing it \
silently. When the work is done, look at the diff once more, check that nothing unrelated \
slipped in, and write a short report. For questions that need no code change, such as \
explaining a module, still cite the files and line ranges your answer is based on, so the \
developer can check your reading against the source."""

_CLOSING = """\
Answer format. Begin with a one-sentence answer to the question that was asked. Follow \
with the details: what you looked at, what you changed and why, how you verified it, and \
anything that remains open. When you show code, show only the relevant part and name the \
file it belongs to. When you are unsure whether a change is safe, stop and ask instead of \
pressing on. Remember that the developer will read your work later, possibly in a hurry, \
so make the important facts easy to find and the reasoning easy to follow."""


def _render_tools() -> str:
    lines = ["You can call the following tools. Each call returns a result that you must "
             "read before deciding on the next step."]
    for name, purpose, params, caveat in _TOOLS:
        lines.append(f"The {name} tool {purpose}. Parameters: {params}. {caveat}")
    return "\n\n".join(lines)


def _render_rules() -> str:
    numbered = [f"{i}. {rule}" for i, rule in enumerate(_RULES, 1)]
    return "Follow these rules in every conversation:\n" + "\n".join(numbered)


SYSTEM_PROMPT: str = "\n\n".join([_INTRO, _CONTEXT, _render_rules(), _render_tools(), _WORKFLOW,
                                  _CLOSING])

# One opening request per conversation, so conversations diverge right after the system
# prompt (a server may not share anything past it between conversations).
FIRST_MESSAGES: list[str] = [
    "The function parse_config in src/config.py crashes when the file is empty. How should "
    "I fix it?",
    "Our CI started failing on the integration tests this morning. Where should I start "
    "looking?",
    "Please explain what the retry decorator in utils/retry.py does and whether it is safe "
    "for non-idempotent calls.",
    "I want to add a --verbose flag to the command line tool. Which files will I need to "
    "touch?",
    "The cache module leaks memory under load. What are the usual causes of that in Python?",
    "Can you review the new pagination code in api/list.py for off-by-one errors?",
    "How would you split the 900-line handlers.py into smaller modules without breaking "
    "imports?",
    "Write a unit test for the slugify helper that covers unicode input.",
    "Why might a SQLite database report 'database is locked' in our worker processes?",
    "We need to deprecate the old export endpoint. What is a gentle way to do that?",
    "The date parsing tests fail only on the build server. What could cause that?",
    "Suggest a plan to add type hints to the storage package incrementally.",
    "How do I make the logging output of this service structured as JSON?",
    "Our Docker image is 2 GB. Which steps usually shrink a Python image the most?",
    "Explain the difference between the two queue implementations in workers/.",
    "Is it safe to run the database migrations while the old version is still serving?",
]

# Later turns: the developer follows up on the answer, as in a real session.
FOLLOW_UPS: list[str] = [
    "Thanks. Show me the exact change you would make, as a short code snippet.",
    "What test would you add to make sure this does not come back?",
    "Run through the edge cases once more: what happens with very large inputs?",
    "Good. Could this change affect any other callers? How would we check?",
    "Summarise what we decided so far in three bullet points.",
    "One more thing: how would you document this for the rest of the team?",
    "What would you do differently if performance mattered more than clarity?",
    "Are there any risks in shipping this today? Be brief.",
]

# An assistant message with no text is rejected by the Messages API; a turn whose
# answer came back empty (immediate end of turn) is resent with this stand-in.
EMPTY_ANSWER = "(no answer)"


def first_message(conversation: int) -> str:
    return FIRST_MESSAGES[conversation % len(FIRST_MESSAGES)]


def follow_up(conversation: int, turn: int) -> str:
    """User message for turn >= 2; offset by conversation so they do not all say the same."""
    return FOLLOW_UPS[(conversation + turn - 2) % len(FOLLOW_UPS)]


def user_message(conversation: int, turn: int) -> str:
    """Turn numbers start at 1, like the per-turn report."""
    return first_message(conversation) if turn == 1 else follow_up(conversation, turn)


def turn_messages(conversation: int, answers: Sequence[str]) -> list[dict]:
    """Full message list for the next turn, given the answers received so far.

    Turn n = len(answers) + 1 resends every earlier user message and answer exactly as
    received, then appends the new user message.
    """
    messages: list[dict] = []
    for turn, answer in enumerate(answers, 1):
        messages.append({"role": "user", "content": user_message(conversation, turn)})
        messages.append({"role": "assistant", "content": answer or EMPTY_ANSWER})
    messages.append({"role": "user", "content": user_message(conversation, len(answers) + 1)})
    return messages


def system_prompt(conversation: int, own: bool = False) -> str:
    """The shared system prompt, or with `own` one that differs from its first line on
    (each conversation another project), so that no two conversations share a prefix."""
    if not own:
        return SYSTEM_PROMPT
    return f"Project {conversation}: repository number {conversation * 7919}.\n{SYSTEM_PROMPT}"


def with_cache_breakpoints(
    messages: list[dict], system_text: str = SYSTEM_PROMPT
) -> tuple[list[dict], list[dict]]:
    """The system prompt and messages with `cache_control` where Claude Code puts it: on the
    system prompt and on the last message. Servers without prompt caching ignore it."""
    mark = {"type": "ephemeral"}
    system = [{"type": "text", "text": system_text, "cache_control": mark}]
    last = messages[-1]
    marked_last = {**last, "content": [{"type": "text", "text": last["content"], "cache_control": mark}]}
    return system, [*messages[:-1], marked_last]


class TurnResult(Protocol):
    ok: bool
    text: str


# send(conversation, turn, messages) posts one turn and returns its result.
Send = Callable[[int, int, list[dict]], Awaitable[TurnResult]]


async def run_conversation(send: Send, conversation: int, turns: int) -> list[TurnResult]:
    """Turns one after another, each resending the whole history so far."""
    answers: list[str] = []
    results: list[TurnResult] = []
    for turn in range(1, turns + 1):
        res = await send(conversation, turn, turn_messages(conversation, answers))
        results.append(res)
        if not res.ok:
            break  # later turns would resend a history the server never produced
        answers.append(res.text)
    return results


async def run_conversations(send: Send, conversations: int, turns: int) -> list:
    """All conversations at once, so `conversations` requests are in flight at a time."""
    done = await asyncio.gather(*(run_conversation(send, k, turns) for k in range(conversations)))
    return [r for conv in done for r in conv]
