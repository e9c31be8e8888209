"""Exact grammars for integer ranges: the decimal numerals of lo..hi as JSON writes them
(no leading zeros, no `-0`), in the manner of llama.cpp's `build_min_max_int`.

Only bounded ranges are built: an open side is closed at 16 digits (or at the other bound's
width, if wider), which keeps a model from writing digits forever and is still a subset of
what the schema allows.
"""

from __future__ import annotations

from antiphon.chat.grammar.gbnf import literal

MIN_DIGITS = 16


def _digits(low: str, high: str) -> str:
    return f"[{low}]" if low == high else f"[{low}-{high}]"


def _any_digits(count: int) -> str:
    return "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def _same_length(low: str, high: str) -> str:
    """Numerals of one length from `low` to `high` (strings of digits, low <= high).

    After the common prefix, the first differing digit splits the range into: the low digit
    followed by anything from the rest of `low` up to 9…9, the digits strictly between
    followed by anything, and the high digit followed by 0…0 up to the rest of `high`. The
    pieces are disjoint, so every numeral has a single parse. The result is a sequence (its
    alternatives are parenthesised), so callers can follow it or prefix it freely."""
    if low == high:
        return literal(low)
    shared = next(i for i, (a, b) in enumerate(zip(low, high)) if a != b)
    head = literal(low[:shared]) + " " if shared else ""
    first, last = low[shared], high[shared]
    width = len(low) - shared - 1
    if width == 0:
        return head + _digits(first, last)
    low_rest, high_rest = low[shared + 1 :], high[shared + 1 :]
    low_full, high_full = low_rest == "0" * width, high_rest == "9" * width
    pieces = []
    if not low_full:
        pieces.append(f"[{first}] {_same_length(low_rest, '9' * width)}")
    middle_low = first if low_full else chr(ord(first) + 1)
    middle_high = last if high_full else chr(ord(last) - 1)
    if middle_low <= middle_high:
        pieces.append(f"{_digits(middle_low, middle_high)} {_any_digits(width)}")
    if not high_full:
        pieces.append(f"[{last}] {_same_length('0' * width, high_rest)}")
    return head + "(" + " | ".join(pieces) + ")"


def _all_of_lengths(shortest: int, longest: int) -> str:
    """Every numeral with shortest..longest digits (shortest >= 1, so no leading zero)."""
    low, high = shortest - 1, longest - 1
    if high == 0:
        return "[1-9]"
    return "[1-9] " + (f"[0-9]{{{high}}}" if low == high else f"[0-9]{{{low},{high}}}")


def _natural_range(low: int, high: int) -> str:
    """Numerals of low..high, 0 <= low <= high: one alternative per length, with runs of
    complete lengths (all numerals of 2 to 16 digits, say) merged into `[1-9] [0-9]{1,15}`."""
    pieces: list[str] = []
    run: list[int] = []  # consecutive lengths whose numerals are all in range
    for length in range(len(str(low)), len(str(high)) + 1):
        start = low if length == len(str(low)) else 10 ** (length - 1)
        end = high if length == len(str(high)) else 10**length - 1
        if start == 10 ** (length - 1) and end == 10**length - 1:
            run.append(length)
            continue
        if run:
            pieces.append(_all_of_lengths(run[0], run[-1]))
            run.clear()
        pieces.append(_same_length(str(start), str(end)))
    if run:
        pieces.append(_all_of_lengths(run[0], run[-1]))
    return " | ".join(pieces)


def integer_range(low: int | None, high: int | None) -> str:
    """A GBNF expression (alternatives, to be parenthesised by the caller) for the integers
    in low..high; None leaves a side open. Raises ValueError for an empty range."""
    width = max([MIN_DIGITS, *(len(str(abs(b))) for b in (low, high) if b is not None)])
    cap = 10**width - 1
    low = -cap if low is None else low
    high = cap if high is None else high
    if low > high:
        raise ValueError(f"no integer lies between {low} and {high}")
    pieces = []
    if low < 0:
        negative = _natural_range(max(-high, 1), -low)
        pieces.append(f'"-" ({negative})')
    if high >= 0:
        pieces.append(_natural_range(max(low, 0), high))
    return " | ".join(pieces)
