"""Anthropic's legacy Text Completions prompt format, as taken by `POST /v1/complete`.

That endpoint receives one string instead of a list of messages:

    "\\n\\nHuman: Hello\\n\\nAssistant: Hi!\\n\\nHuman: Tell me a joke\\n\\nAssistant:"

The turns are delimited by the markers `"\\n\\nHuman:"` and `"\\n\\nAssistant:"`; the prompt must
start with a Human turn, alternate, and end with an Assistant turn, whose text (usually empty)
is a prefill that the answer continues. Parsing it into turns lets the server render the
conversation with the model's own chat template, exactly as it does for the Messages API.

Every malformation gets its own client-facing message, worded as the hosted API worded them
(markers quoted with their escapes, e.g. `"\\n\\nHuman:"`), because a client porting old code
needs to see precisely which rule its prompt broke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from antiphon.errors import InvalidRequest

# Names as exported by the anthropic SDK, whose users built prompts with `f"{HUMAN_PROMPT} ..."`.
HUMAN_PROMPT = "\n\nHuman:"
AI_PROMPT = "\n\nAssistant:"

# A marker needs the two newlines: "\nHuman:" or "Human:" inside a turn is ordinary text.
# More newlines are fine mid-prompt: the extra ones belong to the previous turn's text.
_MARKER = re.compile(r"\n\n(Human|Assistant):")

Role = Literal["user", "assistant"]

_ROLE_OF_NAME: dict[str, Role] = {"Human": "user", "Assistant": "assistant"}
_MARKER_OF_ROLE: dict[Role, str] = {"user": HUMAN_PROMPT, "assistant": AI_PROMPT}


@dataclass(frozen=True)
class LegacyTurn:
    """One turn of a legacy prompt.

    `text` is the content after the marker with surrounding whitespace stripped: the single
    space conventionally written after the colon (and the newlines before the next marker)
    are formatting, not content.
    """

    role: Role
    text: str


def parse_legacy_prompt(prompt: str) -> list[LegacyTurn]:
    """Split a legacy prompt into turns.

    Raises InvalidRequest with a precise message for each way it can be malformed.
    The last turn is always the assistant's; its text is a prefill when non-empty.
    """
    if not prompt.strip():
        raise InvalidRequest("prompt must not be empty")
    _check_start(prompt)
    turns = _split_turns(prompt)
    # Structural rules first, content rules last: "this turn is empty" is a confusing
    # answer when the real problem is that the prompt does not end with an Assistant turn.
    _check_has_assistant_turn(prompt, turns)
    _check_alternation(turns)
    _check_ends_with_assistant(turns)
    _check_human_turns_not_empty(turns)
    return turns


def _quote(text: str) -> str:
    """Quote text for an error message with newlines escaped: the client sees `"\\n\\nHuman:"`."""
    return '"' + text.replace("\n", "\\n") + '"'


def _check_start(prompt: str) -> None:
    if prompt.startswith(HUMAN_PROMPT):
        return
    expected = f"prompt must start with {_quote(HUMAN_PROMPT)} turn"
    newlines = len(prompt) - len(prompt.lstrip("\n"))
    if prompt[newlines:].startswith("Human:"):
        # The commonest mistake: "Human: ..." or "\nHuman: ..." (or one newline too many).
        found = _quote(prompt[:newlines] + "Human:")
        raise InvalidRequest(
            f"{expected}, but it starts with {found}; exactly two newlines "
            f'({_quote(chr(10) * 2)}) must come before "Human:"'
        )
    if prompt.startswith(AI_PROMPT):
        raise InvalidRequest(f"{expected}, but it starts with {_quote(AI_PROMPT)}")
    if HUMAN_PROMPT in prompt:
        first = _quote(HUMAN_PROMPT)
        raise InvalidRequest(f"{expected}, but there is text before the first {first}")
    raise InvalidRequest(expected)


def _split_turns(prompt: str) -> list[LegacyTurn]:
    """Cut the prompt at each marker; the caller has checked that it starts with one."""
    markers = list(_MARKER.finditer(prompt))
    ends = [m.start() for m in markers[1:]] + [len(prompt)]
    return [
        LegacyTurn(role=_ROLE_OF_NAME[m.group(1)], text=prompt[m.end() : end].strip())
        for m, end in zip(markers, ends, strict=True)
    ]


def _missing_newlines_hint(text: str, name: str) -> str:
    """Point at `name:` written without its two newlines, the usual cause of a missing turn."""
    if f"{name}:" in text:
        return f'; "{name}:" appears, but not preceded by two newlines ({_quote(chr(10) * 2)})'
    return ""


def _check_has_assistant_turn(prompt: str, turns: list[LegacyTurn]) -> None:
    if any(turn.role == "assistant" for turn in turns):
        return
    raise InvalidRequest(
        f"prompt must contain an {_quote(AI_PROMPT)} turn"
        + _missing_newlines_hint(prompt, "Assistant")
    )


def _check_alternation(turns: list[LegacyTurn]) -> None:
    for number, (previous, current) in enumerate(pairwise(turns), start=2):
        if previous.role == current.role:
            marker = _quote(_MARKER_OF_ROLE[current.role])
            raise InvalidRequest(
                f"prompt has two {marker} turns in a row (turns {number - 1} and {number}); "
                f"{_quote(HUMAN_PROMPT)} and {_quote(AI_PROMPT)} turns must alternate"
            )


def _check_ends_with_assistant(turns: list[LegacyTurn]) -> None:
    last = turns[-1]
    if last.role == "assistant":
        return
    raise InvalidRequest(
        f"prompt must end with {_quote(AI_PROMPT)} turn"
        + _missing_newlines_hint(last.text, "Assistant")
    )


def _check_human_turns_not_empty(turns: list[LegacyTurn]) -> None:
    for number, turn in enumerate(turns, start=1):
        if turn.role == "user" and not turn.text:
            raise InvalidRequest(
                f"prompt turn {number} ({_quote(HUMAN_PROMPT)}) is empty; "
                f"every {_quote(HUMAN_PROMPT)} turn must contain text"
            )
