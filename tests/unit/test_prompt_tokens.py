"""Span tokenization with a stand-in raw tokenizer: one id per character, to see the cuts."""

from antiphon.engine.base import PromptSpan
from antiphon.engine.prompt_tokens import ControlToken, ControlTokens

END, START, LEFT, RIGHT = 1000, 1001, 1002, 1003
CONTROL = ControlTokens({
    "<end>": ControlToken(END, False, False),
    "<start>": ControlToken(START, False, False),
    "<left>": ControlToken(LEFT, strip_left=True, strip_right=False),
    "<right>": ControlToken(RIGHT, strip_left=False, strip_right=True),
})
calls: list[str] = []


def raw(text: str) -> list[int]:
    calls.append(text)
    return [ord(c) for c in text]


def ids(*spans: tuple[str, bool]) -> list[int]:
    calls.clear()
    return CONTROL.tokenize([PromptSpan(text, client) for text, client in spans], raw)


def test_control_tokens_in_template_text_become_their_ids() -> None:
    assert ids(("<start>ab<end>", False)) == [START, ord("a"), ord("b"), END]


def test_control_strings_in_client_text_stay_text() -> None:
    assert ids(("<start>", False), ("x<end>y", True), ("<end>", False)) == [
        START, *map(ord, "x<end>y"), END]


def test_raw_runs_are_cut_only_at_control_tokens() -> None:
    ids(("<start>user\n", False), ("hello", True), ("\n", False), ("<end>", False))
    assert calls == ["user\nhello\n"]  # template and client text tokenized as one run


def test_strip_attributes_swallow_neighbouring_whitespace() -> None:
    assert ids(("a  <left>", False)) == [ord("a"), LEFT]
    assert ids(("<right>", False), ("  b", True)) == [RIGHT, ord("b")]


def test_longest_control_token_wins() -> None:
    longer = ControlTokens({"<e>": ControlToken(1, False, False), "<e>>": ControlToken(2, False, False)})
    assert longer.tokenize([PromptSpan("<e>>", False)], raw) == [2]


def test_empty_runs_are_not_tokenized() -> None:
    ids(("<start><end>", False))
    assert calls == []
