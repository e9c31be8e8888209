"""Integer ranges as GBNF: their languages checked exactly against Python's integers, small
ranges exhaustively and huge ones (past 2^53 and 20 digits) at their edges."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antiphon.chat.grammar.integers import integer_range


def _as_regex(expression: str) -> re.Pattern[str]:
    """integer_range's GBNF subset (literals, digit classes, groups, counted repeats) as a
    Python regex, to check its language exhaustively without a model."""
    pattern = re.sub(r'"([^"]*)"', lambda m: re.escape(m.group(1)), expression)
    return re.compile(pattern.replace("(", "(?:").replace(" ", ""))


BOUNDS = [None, -1001, -1000, -999, -100, -99, -10, -9, -1, 0, 1, 9, 10, 11, 99, 100, 101,
          999, 1000, 1001, 1200]


@pytest.mark.parametrize("low", BOUNDS)
def test_integer_ranges_exactly_small(low: int | None) -> None:
    for high in BOUNDS:
        if low is not None and high is not None and high < low:
            continue
        language = _as_regex(integer_range(low, high))
        for number in range(-1300, 1301):
            expected = (low is None or number >= low) and (high is None or number <= high)
            assert bool(language.fullmatch(str(number))) == expected, (low, high, number)
        for text in ("-0", "00", "01", "-01", "+1", "", "-"):
            assert not language.fullmatch(text), (low, high, text)


@settings(max_examples=300, deadline=None)
@given(low=st.one_of(st.none(), st.integers(-10**20, 10**20)),
       span=st.one_of(st.none(), st.integers(0, 10**21)),
       probes=st.lists(st.integers(-(10**3), 10**3), min_size=1, max_size=8))
def test_integer_ranges_exactly_huge(low: int | None, span: int | None, probes: list[int]) -> None:
    """An open side is closed at 16 digits, or at the other bound's width if wider."""
    high = None if span is None else (span if low is None else low + span)
    width = max([16] + [len(str(abs(b))) for b in (low, high) if b is not None])
    lowest = -(10**width - 1) if low is None else low
    highest = 10**width - 1 if high is None else high
    language = _as_regex(integer_range(low, high))
    centre = (lowest + highest) // 2
    numbers = [b + d for b in (lowest, highest) for d in (-1, 0, 1)] + [centre + p for p in probes]
    for number in numbers:
        assert bool(language.fullmatch(str(number))) == (lowest <= number <= highest), number


