"""Degenerate loops: an answer whose tail is one block of tokens repeated over and over.

Small models fall into them often (SmolLM2-135M at its recommended temperature 0.2 repeats
one sentence until its output limit on about one Claude Code turn in eight), and large ones
now and then; no sampler setting ends them, and each costs the whole output limit: minutes
of decoding, after which an agent asks the model to continue and it loops again. vLLM
(`repetition_detection`) and several MLX servers stop such a generation; so does this.

The test is strict, so that ordinary text never trips it: the last `window` tokens must be
a single block of at most `window / MIN_COPIES` tokens repeated back to back. Exactly, or
with only its numbers changing, where the block also holds `MIN_WORDS` word tokens: a model
counting days down ("The previous day's date is 2026-11-24. … 2026-11-23.") is looping; a
column of numbers, a count to 1,000 or `| 17 | 4.2 |` rows are not. A list, a table or code
with repeated lines still varies somewhere within 256 tokens.

Pure and cheap: list slice comparisons in C, run every CHECK_EVERY tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_COPIES = 4
MIN_WORDS = 3  # a block that loops only once its numbers are masked, in words
CHECK_EVERY = 16
_NUMERAL = -1  # what a numeral token is compared as


@dataclass(frozen=True)
class TokenKinds:
    """Which tokens of a vocabulary are numerals (digits alone) and which hold no letter."""

    numerals: frozenset[int] = frozenset()
    letterless: frozenset[int] = frozenset()

    @classmethod
    def of_vocabulary(cls, size: int, piece: Callable[[int], bytes]) -> TokenKinds:
        numerals, letterless = set(), set()
        for token in range(size):
            text = piece(token).decode("utf-8", "replace").strip()
            if text.isdigit():
                numerals.add(token)
            if not any(character.isalpha() for character in text):
                letterless.add(token)
        return cls(frozenset(numerals), frozenset(letterless))


def repeating_block(
    tokens: Sequence[int], window: int, kinds: TokenKinds = TokenKinds()
) -> int | None:
    """The length of the block that the last `window` tokens repeat, if they do."""
    if window <= 0 or len(tokens) < window:
        return None
    tail = list(tokens[-window:])
    period = _period(tail, window)
    if period is not None or not kinds.numerals:
        return period
    period = _period([_NUMERAL if t in kinds.numerals else t for t in tail], window)
    if period is None:
        return None
    words = sum(1 for token in tail[-period:] if token not in kinds.letterless)
    return period if words >= MIN_WORDS else None


def _period(tail: list[int], window: int) -> int | None:
    for period in range(1, window // MIN_COPIES + 1):
        # Period p: every token equals the one p before it, across the whole window.
        if tail[period:] == tail[:-period]:
            return period
    return None


def due(generated: int, window: int) -> bool:
    """Whether to look after the `generated`-th token (once there is a window to look at)."""
    return window > 0 and generated >= window and generated % CHECK_EVERY == 0
