"""Degenerate-loop detection: only a verbatim block repeated over the whole window counts."""

from __future__ import annotations

import random

from antiphon.engine.repetition import CHECK_EVERY, MIN_COPIES, TokenKinds, due, repeating_block


def test_a_block_repeated_over_the_window_is_found_with_its_length() -> None:
    sentence = [101, 7, 55, 9, 3000, 12, 13, 88, 2, 198]  # "This is a tool that …\n\n"
    tokens = [5, 6, 7] + sentence * 40
    assert repeating_block(tokens, 256) == len(sentence)
    assert repeating_block([42] * 300, 256) == 1


def test_ordinary_text_and_near_repeats_are_not_loops() -> None:
    rng = random.Random(3)
    prose = [rng.randrange(49152) for _ in range(600)]
    assert repeating_block(prose, 256) is None
    # A list whose lines differ in one token (numbers, names) is not verbatim repetition.
    lines = [token for n in range(60) for token in (10, 11, n, 12, 198)]
    assert repeating_block(lines, 256) is None
    # One change anywhere in the window breaks it.
    looping = [7, 8, 9, 10] * 80
    looping[-200] = 99
    assert repeating_block(looping, 256) is None


def test_a_block_longer_than_a_quarter_of_the_window_needs_more_copies() -> None:
    paragraph = list(range(1000, 1100))  # 100 tokens: 2.56 copies in 256, fewer than 4
    assert repeating_block(paragraph * 5, 256) is None
    assert repeating_block(paragraph * 5, 400) == 100
    assert 256 // MIN_COPIES == 64


def test_it_looks_only_once_a_window_is_written_and_every_few_tokens() -> None:
    assert repeating_block([1] * 100, 256) is None  # too short to tell
    assert not due(255, 256) and due(256, 256) and not due(257, 256)
    assert due(256 + CHECK_EVERY, 256)
    assert not due(512, 0) and repeating_block([1] * 300, 0) is None  # 0 turns it off


# A toy vocabulary: 0-9 are the digits, 20-29 words, 30 "\n", 31 "-", 32 " |", 33 ".".
PIECES = {**{d: str(d).encode() for d in range(10)}, **{20 + i: f" w{i}".encode() for i in range(10)},
          30: b"\n", 31: b"-", 32: b" |", 33: b"."}
KINDS = TokenKinds.of_vocabulary(34, lambda token: PIECES.get(token, b""))


def digits(number: int) -> list[int]:
    return [int(d) for d in str(number)]


def test_the_vocabulary_pass_finds_numerals_and_tokens_without_letters() -> None:
    assert KINDS.numerals == frozenset(range(10))
    assert {30, 31, 32, 33} <= KINDS.letterless and not KINDS.letterless & set(range(20, 30))


def test_a_sentence_looping_with_only_its_numbers_changing_is_a_loop() -> None:
    # "The previous day's date is 2026-11-<day>.\n" counting down: never verbatim.
    tokens = [24, 25]
    for day in range(99, 20, -1):
        tokens += [20, 21, 22, 23, *digits(2026), 31, 1, 1, 31, *digits(day), 33, 30]
    assert repeating_block(tokens, 256) is None
    assert repeating_block(tokens, 256, KINDS) == 16


def test_numbers_in_a_fixed_frame_are_not_a_loop() -> None:
    count = [token for n in range(100, 400) for token in (*digits(n), 30)]  # 100\n101\n…
    rows = [token for n in range(100, 300) for token in (32, *digits(n), 32, *digits(n * 7), 30)]
    labelled = [token for n in range(100, 300) for token in (20, 21, *digits(n), 30)]  # 2 words
    for tokens in (count, rows, labelled):
        assert repeating_block(tokens, 256, KINDS) is None
