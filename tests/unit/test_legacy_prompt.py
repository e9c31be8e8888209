"""Parsing of the legacy Text Completions prompt ("\\n\\nHuman: ...\\n\\nAssistant:")."""

from __future__ import annotations

import pytest

from antiphon.chat.legacy_prompt import (
    AI_PROMPT,
    HUMAN_PROMPT,
    LegacyTurn,
    parse_legacy_prompt,
)
from antiphon.errors import InvalidRequest

# How markers appear inside error messages: escaped, as the hosted API wrote them.
HUMAN_Q = '"\\n\\nHuman:"'
AI_Q = '"\\n\\nAssistant:"'


def _error(prompt: str) -> str:
    with pytest.raises(InvalidRequest) as caught:
        parse_legacy_prompt(prompt)
    return caught.value.message


# --- valid prompts ---------------------------------------------------------------------------


def test_markers_match_the_sdk_constants() -> None:
    assert HUMAN_PROMPT == "\n\nHuman:"
    assert AI_PROMPT == "\n\nAssistant:"


def test_single_exchange() -> None:
    assert parse_legacy_prompt("\n\nHuman: Hello there\n\nAssistant:") == [
        LegacyTurn(role="user", text="Hello there"),
        LegacyTurn(role="assistant", text=""),
    ]


def test_sdk_style_f_string() -> None:
    prompt = f"{HUMAN_PROMPT} Why is the sky blue?{AI_PROMPT}"
    assert parse_legacy_prompt(prompt)[0].text == "Why is the sky blue?"


def test_multi_turn() -> None:
    prompt = (
        "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?"
        "\n\nHuman: Tell me a joke.\n\nAssistant:"
    )
    assert parse_legacy_prompt(prompt) == [
        LegacyTurn("user", "Hi"),
        LegacyTurn("assistant", "Hello! How can I help?"),
        LegacyTurn("user", "Tell me a joke."),
        LegacyTurn("assistant", ""),
    ]


def test_prefill_is_kept_as_last_assistant_text() -> None:
    turns = parse_legacy_prompt('\n\nHuman: Give me JSON\n\nAssistant: {')
    assert turns[-1] == LegacyTurn("assistant", "{")


def test_trailing_whitespace_after_final_marker_is_not_a_prefill() -> None:
    turns = parse_legacy_prompt("\n\nHuman: Hi\n\nAssistant: \n ")
    assert turns[-1] == LegacyTurn("assistant", "")


def test_text_is_stripped_but_inner_newlines_kept() -> None:
    turns = parse_legacy_prompt("\n\nHuman:   line one\nline two\n\n\n\nAssistant:")
    assert turns[0].text == "line one\nline two"


def test_single_newline_role_names_are_ordinary_text() -> None:
    prompt = "\n\nHuman: Quote:\nAssistant: not a turn\nHuman: still me\n\nAssistant:"
    turns = parse_legacy_prompt(prompt)
    assert len(turns) == 2
    assert turns[0].text == "Quote:\nAssistant: not a turn\nHuman: still me"


def test_extra_newlines_before_a_mid_prompt_marker_belong_to_the_previous_turn() -> None:
    prompt = "\n\nHuman: Hi\n\n\nAssistant: Yo\n\n\n\nHuman: Again\n\nAssistant:"
    turns = parse_legacy_prompt(prompt)
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert [t.text for t in turns] == ["Hi", "Yo", "Again", ""]


def test_turns_are_frozen() -> None:
    turn = parse_legacy_prompt("\n\nHuman: Hi\n\nAssistant:")[0]
    with pytest.raises(AttributeError):
        turn.text = "changed"  # type: ignore[misc]


# --- malformed prompts -----------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["", " ", "\n\n", " \t\n "])
def test_empty_prompt(prompt: str) -> None:
    assert _error(prompt) == "prompt must not be empty"


def test_must_start_with_human() -> None:
    message = _error("Hello\n\nHuman: Hi\n\nAssistant:")
    assert message.startswith(f"prompt must start with {HUMAN_Q} turn")
    assert "text before the first" in message


def test_must_start_with_human_no_marker_at_all() -> None:
    assert _error("Just some text") == f"prompt must start with {HUMAN_Q} turn"


def test_starting_with_assistant() -> None:
    message = _error("\n\nAssistant: Hi\n\nHuman: Hello\n\nAssistant:")
    assert message == f"prompt must start with {HUMAN_Q} turn, but it starts with {AI_Q}"


@pytest.mark.parametrize(
    ("prompt", "found"),
    [
        ("Human: Hi\n\nAssistant:", '"Human:"'),
        ("\nHuman: Hi\n\nAssistant:", '"\\nHuman:"'),
        ("\n\n\nHuman: Hi\n\nAssistant:", '"\\n\\n\\nHuman:"'),
    ],
)
def test_wrong_number_of_newlines_before_first_human(prompt: str, found: str) -> None:
    message = _error(prompt)
    assert message.startswith(f"prompt must start with {HUMAN_Q} turn, but it starts with {found}")
    assert 'exactly two newlines ("\\n\\n") must come before "Human:"' in message


def test_no_assistant_turn() -> None:
    assert _error("\n\nHuman: Hello") == f"prompt must contain an {AI_Q} turn"


def test_no_assistant_turn_points_at_missing_newlines() -> None:
    message = _error("\n\nHuman: Hello\nAssistant:")
    assert message.startswith(f"prompt must contain an {AI_Q} turn")
    assert '"Assistant:" appears, but not preceded by two newlines' in message


def test_must_end_with_assistant() -> None:
    message = _error("\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye")
    assert message == f"prompt must end with {AI_Q} turn"


def test_must_end_with_assistant_even_when_last_human_is_empty() -> None:
    assert _error("\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman:") == (
        f"prompt must end with {AI_Q} turn"
    )


def test_must_end_with_assistant_points_at_missing_newlines() -> None:
    message = _error("\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye\nAssistant:")
    assert message.startswith(f"prompt must end with {AI_Q} turn;")
    assert '"Assistant:" appears' in message


def test_two_human_turns_in_a_row() -> None:
    message = _error("\n\nHuman: Hi\n\nHuman: Again\n\nAssistant:")
    assert message == (
        f"prompt has two {HUMAN_Q} turns in a row (turns 1 and 2); "
        f"{HUMAN_Q} and {AI_Q} turns must alternate"
    )


def test_two_assistant_turns_in_a_row() -> None:
    message = _error("\n\nHuman: Hi\n\nAssistant: One\n\nAssistant: Two\n\nHuman: x\n\nAssistant:")
    assert message.startswith(f"prompt has two {AI_Q} turns in a row (turns 2 and 3);")


def test_two_assistant_turns_at_the_end() -> None:
    message = _error("\n\nHuman: Hi\n\nAssistant:\n\nAssistant:")
    assert f"two {AI_Q} turns in a row (turns 2 and 3)" in message


def test_alternation_is_reported_before_the_ending() -> None:
    message = _error("\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nHuman: d")
    assert "(turns 3 and 4)" in message


def test_empty_first_human_turn() -> None:
    assert _error("\n\nHuman:\n\nAssistant:") == (
        f"prompt turn 1 ({HUMAN_Q}) is empty; every {HUMAN_Q} turn must contain text"
    )


def test_whitespace_only_human_turn_names_its_number() -> None:
    message = _error("\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman:  \n \n\nAssistant:")
    assert message.startswith(f"prompt turn 3 ({HUMAN_Q}) is empty")


def test_error_is_the_domain_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_legacy_prompt("Human: hi")
    assert str(caught.value) == caught.value.message
