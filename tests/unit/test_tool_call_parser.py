"""The tagged tool-call parser, fed as a model streams: whole, per character, in random cuts."""

from __future__ import annotations

import json
import random

import pytest

from antiphon.chat.output_parser import OutputParser, coalesce
from antiphon.chat.thinking_tags import ThinkingSplitter
from antiphon.chat.tool_calls.events import (
    CallEnd,
    CallInput,
    CallStart,
    OutputEvent,
    TextOut,
    ThinkingOut,
)
from antiphon.chat.tool_calls.tagged_parser import TaggedCallParser


def cuts(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces, position = [], 0
    while position < len(text):
        step = rng.randint(1, 6)
        pieces.append(text[position : position + step])
        position += step
    return pieces


def run(pieces: list[str], thinking: bool = False, calls: bool = True) -> list[OutputEvent]:
    parser = OutputParser(ThinkingSplitter() if thinking else None, TaggedCallParser() if calls else None)
    events: list[OutputEvent] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.finish())
    return coalesce(events)


def summary(events: list[OutputEvent]) -> list[tuple[str, object]]:
    """Events with each call's fragments joined, which is what a client assembles."""
    out: list[tuple[str, object]] = []
    for event in events:
        if isinstance(event, CallInput) and out and out[-1][0] == "input":
            out[-1] = ("input", str(out[-1][1]) + event.fragment)
        elif isinstance(event, CallInput):
            out.append(("input", event.fragment))
        elif isinstance(event, TextOut):
            out.append(("text", event.text))
        elif isinstance(event, ThinkingOut):
            out.append(("thinking", event.text))
        elif isinstance(event, CallStart):
            out.append(("start", event.name))
        else:
            assert isinstance(event, CallEnd)
            out.append(("end", event.input))
    return out


LIST_CALL = 'Let me look.\n<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2], "note": "a \\"quoted\\" }"}}]</tool_call>'
EXPECTED = [
    ("text", "Let me look.\n"),
    ("start", "get_weather"),
    ("input", '{"city": "Paris", "days": [1, 2], "note": "a \\"quoted\\" }"}'),
    ("end", {"city": "Paris", "days": [1, 2], "note": 'a "quoted" }'}),
]


@pytest.mark.parametrize("seed", range(25))
def test_random_cuts_give_the_same_events(seed: int) -> None:
    assert summary(run(cuts(LIST_CALL, seed))) == EXPECTED


def test_character_by_character() -> None:
    assert summary(run(list(LIST_CALL))) == EXPECTED


def test_fragments_join_into_the_exact_input() -> None:
    events = run(list(LIST_CALL))
    joined = "".join(e.fragment for e in events if isinstance(e, CallInput))
    ends = [e for e in events if isinstance(e, CallEnd)]
    assert json.loads(joined) == ends[0].input


def test_hermes_single_object_and_several_tags() -> None:
    text = (
        '<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n'
        '<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>'
    )
    events = [e for e in summary(run(cuts(text, 3))) if e != ("text", "\n")]
    assert events == [
        ("start", "a"), ("input", '{"x": 1}'), ("end", {"x": 1}),
        ("start", "b"), ("input", "{}"), ("end", {}),
    ]


def test_parallel_calls_in_one_list() -> None:
    text = '<tool_call>[{"name": "a", "arguments": {"q": "x"}}, {"name": "b", "arguments": {"n": -2.5e3}}]</tool_call>'
    assert [e for e in summary(run(list(text))) if e[0] in ("start", "end")] == [
        ("start", "a"), ("end", {"q": "x"}), ("start", "b"), ("end", {"n": -2500.0}),
    ]


def test_arguments_before_name_are_announced_at_the_end() -> None:
    text = '<tool_call>{"arguments": {"k": true}, "name": "late"}</tool_call>'
    assert summary(run(list(text))) == [("start", "late"), ("input", '{"k": true}'), ("end", {"k": True})]


def test_arguments_as_a_json_string_are_unwrapped() -> None:
    text = '<tool_call>{"name": "s", "arguments": "{\\"a\\": 1}"}</tool_call>'
    assert summary(run(list(text)))[-1] == ("end", {"a": 1})


def test_a_lone_angle_bracket_is_text() -> None:
    text = "1 < 2 and <tool is not a tag> <tool_cal"
    assert summary(run(cuts(text, 1))) == [("text", text)]


def test_truncated_call_closes_with_what_arrived() -> None:
    text = '<tool_call>[{"name": "w", "arguments": {"city": "Par'
    assert summary(run(list(text)))[-1] == ("end", {"city": "Par"})


def test_truncated_before_a_name_yields_no_call() -> None:
    assert summary(run(list('<tool_call>[{"na'))) == []


def test_without_a_call_parser_tags_are_text() -> None:
    assert summary(run([LIST_CALL], calls=False)) == [("text", LIST_CALL)]


THOUGHT = "<think> ignored because the prompt opened it"


@pytest.mark.parametrize("seed", range(10))
def test_thinking_then_answer_then_call(seed: int) -> None:
    text = "\n  I should check the weather.\n</think>\n\n" + LIST_CALL
    assert summary(run(cuts(text, seed), thinking=True)) == [
        ("thinking", "I should check the weather."),
        *EXPECTED,
    ]


def test_thinking_cut_short_is_all_thinking() -> None:
    assert summary(run(list("step one\nstep two</thi"), thinking=True, calls=False)) == [
        ("thinking", "step one\nstep two</thi")
    ]
