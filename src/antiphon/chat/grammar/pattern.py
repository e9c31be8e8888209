"""`pattern` regular expressions as GBNF, for the subset with a grammar equivalent.

The grammar describes the JSON *text* of the string, while the regex describes the decoded
string, so every character the regex allows is written as JSON writes it: `"` becomes
`\\"`, a newline `\\n`. Supported: a pattern anchored at both ends (`^…$`), literals,
`.`, classes (`[a-z]`, `[^…]`, `\\d \\w \\s`), groups (`(…)`, `(?:…)`, `(?P<name>…)`),
`|`, and the quantifiers `* + ? {m} {m,} {m,n}` (lazy forms too). Anything else
(lookaround, backreferences, `\\b`, inline flags, possessive quantifiers) raises
`PatternUnsupported`: its meaning cannot be enforced by a grammar.

Two deliberate narrowings keep the generated text plain, and every string it yields still
matches: `.` and negated classes produce no escaped characters, and `\\d \\w \\s` are their
ASCII forms (Python's are Unicode-wide).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from antiphon.chat.grammar.gbnf import CodeRange, char_class, literal, repeat

AddRule = Callable[[str], str]  # registers a rule body and returns its name


class PatternUnsupported(ValueError):
    """The pattern has no grammar equivalent (or is not a valid regex)."""


# Characters a JSON string cannot hold unescaped.
_JSON_UNSAFE: list[CodeRange] = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C)]
_CLASS_ESCAPES: dict[str, list[CodeRange]] = {
    "d": [(0x30, 0x39)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "s": [(0x09, 0x0D), (0x20, 0x20)],
}
_CHAR_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HEX_LENGTHS = {"x": 2, "u": 4, "U": 8}
_QUANTIFIER = re.compile(r"\{(\d*)(,(\d*))?\}")
_NAMED_GROUP = re.compile(r"\?P<[A-Za-z_][A-Za-z0-9_]*>")


def _normalize(ranges: list[CodeRange]) -> list[CodeRange]:
    merged: list[CodeRange] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _subtract(ranges: list[CodeRange], removed: list[CodeRange]) -> list[CodeRange]:
    result = []
    for low, high in ranges:
        for cut_low, cut_high in removed:
            if cut_high < low or cut_low > high:
                continue
            if cut_low > low:
                result.append((low, cut_low - 1))
            low = cut_high + 1
            if low > high:
                break
        if low <= high:
            result.append((low, high))
    return result


def _json_text(char: str) -> str:
    """How JSON writes `char` inside a string (quotes excluded)."""
    return json.dumps(char, ensure_ascii=False)[1:-1]


def _encode_set(ranges: list[CodeRange]) -> str:
    """The characters in `ranges` as JSON text: a class for those written raw, and an
    escape sequence for each that JSON wants escaped."""
    ranges = _normalize(ranges)
    pieces = []
    raw = _subtract(ranges, _JSON_UNSAFE)
    if raw:
        pieces.append(char_class(raw))
    for low, high in _JSON_UNSAFE:
        for code in range(low, high + 1):
            if any(a <= code <= b for a, b in ranges):
                pieces.append(literal(_json_text(chr(code))))
    if not pieces:
        raise PatternUnsupported("a character class that matches nothing")
    return pieces[0] if len(pieces) == 1 else "(" + " | ".join(pieces) + ")"


@dataclass
class _Piece:
    text: str  # GBNF expression
    atom: bool  # a single literal or class, which a quantifier may follow as it is
    plain: str | None = None  # the JSON text, when the piece is a fixed string


class _Parser:
    def __init__(self, source: str, add_rule: AddRule) -> None:
        self.source = source
        self.position = 0
        self.add_rule = add_rule

    def peek(self, ahead: int = 0) -> str:
        index = self.position + ahead
        return self.source[index] if index < len(self.source) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise PatternUnsupported("the pattern ends too early")
        self.position += 1
        return char

    def alternatives(self) -> list[_Piece]:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.position += 1
            branches.append(self.sequence())
        return branches

    def sequence(self) -> _Piece:
        items: list[_Piece] = []
        while self.peek() not in ("", "|", ")"):
            piece = self.quantified(self.atom())
            if items and piece.plain is not None and items[-1].plain is not None:
                joined = items[-1].plain + piece.plain
                items[-1] = _Piece(literal(joined), True, joined)
            else:
                items.append(piece)
        if not items:
            return _Piece('""', False, "")
        if len(items) == 1:
            return items[0]
        return _Piece(" ".join(item.text for item in items), False)

    def atom(self) -> _Piece:
        char = self.take()
        if char == "(":
            return self.group()
        if char == "[":
            return _Piece(self.char_set(), True)
        if char == ".":
            raw = _subtract([(0, 0x10FFFF)], _JSON_UNSAFE)
            return _Piece(char_class(raw), True)
        if char == "\\":
            return self.escape_atom()
        if char in "^$":
            raise PatternUnsupported(f"an anchor ({char}) inside the pattern")
        if char in "*+?" or (char == "{" and _QUANTIFIER.match(self.source, self.position - 1)):
            raise PatternUnsupported(f"nothing to repeat before {char!r}")
        text = _json_text(char)
        return _Piece(literal(text), True, text)

    def group(self) -> _Piece:
        if self.peek() == "?":
            named = _NAMED_GROUP.match(self.source, self.position)
            if self.peek(1) == ":":
                self.position += 2
            elif named:
                self.position = named.end()
            else:
                raise PatternUnsupported("lookaround, flags and other (?…) groups")
        branches = self.alternatives()
        if self.take() != ")":
            raise PatternUnsupported("unbalanced parentheses")
        if len(branches) == 1:
            return branches[0]
        return _Piece("(" + " | ".join(branch.text for branch in branches) + ")", False)

    def escape_atom(self) -> _Piece:
        letter = self.peek()
        if letter in _CLASS_ESCAPES:
            self.position += 1
            return _Piece(_encode_set(_CLASS_ESCAPES[letter]), True)
        char = self.escaped_char(in_class=False)
        text = _json_text(char)
        return _Piece(literal(text), True, text)

    def escaped_char(self, in_class: bool) -> str:
        """The character after a backslash (already consumed), for escapes that stand for
        one character."""
        letter = self.take()
        if letter in _CHAR_ESCAPES:
            return _CHAR_ESCAPES[letter]
        if letter == "b" and in_class:
            return "\b"
        if letter in _HEX_LENGTHS:
            digits = self.source[self.position : self.position + _HEX_LENGTHS[letter]]
            if len(digits) != _HEX_LENGTHS[letter] or not re.fullmatch("[0-9a-fA-F]+", digits):
                raise PatternUnsupported(f"a malformed \\{letter} escape")
            self.position += len(digits)
            return chr(int(digits, 16))
        if letter.isalnum() or letter == "_":
            raise PatternUnsupported(f"the escape \\{letter}")
        return letter

    def char_set(self) -> str:
        negated = self.peek() == "^"
        self.position += negated
        ranges: list[CodeRange] = []
        first = True
        while first or self.peek() != "]":
            first = False
            ranges.extend(self.class_item())
        self.position += 1
        if not negated:
            return _encode_set(ranges)
        return char_class(_normalize(ranges + _JSON_UNSAFE), negated=True)

    def class_item(self) -> list[CodeRange]:
        char = self.take()
        if char == "\\":
            if self.peek() in _CLASS_ESCAPES:
                return list(_CLASS_ESCAPES[self.take()])
            char = self.escaped_char(in_class=True)
        if self.peek() != "-" or self.peek(1) in ("]", ""):
            return [(ord(char), ord(char))]
        self.position += 1
        end = self.take()
        if end == "\\":
            if self.peek() in _CLASS_ESCAPES:
                raise PatternUnsupported("a class escape as a range bound")
            end = self.escaped_char(in_class=True)
        if ord(end) < ord(char):
            raise PatternUnsupported(f"the reversed range {char}-{end}")
        return [(ord(char), ord(end))]

    def quantified(self, piece: _Piece) -> _Piece:
        bounds = self.quantifier()
        if bounds is None:
            return piece
        if self.peek() == "+":
            raise PatternUnsupported("possessive quantifiers")
        if self.peek() == "?":  # lazy: a different search order, the same language
            self.position += 1
        if piece.plain == "":
            return piece
        # Groups become named rules: llama.cpp limits how many rules a repetition may copy.
        item = piece.text if piece.atom else self.add_rule(piece.text)
        return _Piece(repeat(item, *bounds), False)

    def quantifier(self) -> tuple[int, int | None] | None:
        simple = {"*": (0, None), "+": (1, None), "?": (0, 1)}.get(self.peek())
        if simple is not None:
            self.position += 1
            return simple
        match = _QUANTIFIER.match(self.source, self.position) if self.peek() == "{" else None
        if match is None or match.group(0) == "{}":
            return None
        self.position = match.end()
        low = int(match.group(1) or 0)
        high_text = match.group(3) if match.group(2) else match.group(1)
        high = int(high_text) if high_text else None
        if high is not None and high < low:
            raise PatternUnsupported("a quantifier whose minimum exceeds its maximum")
        return low, high


def _anchored_body(pattern: str) -> str:
    """The pattern without its anchors. A search for an unanchored pattern would allow any
    text around a match, which is not what schema authors mean by it, so we refuse it."""
    body = pattern[1:-1]
    escaped_dollar = (len(body) - len(body.rstrip("\\"))) % 2 == 1
    if len(pattern) < 2 or pattern[0] != "^" or pattern[-1] != "$" or escaped_dollar:
        raise PatternUnsupported("the pattern must be anchored at both ends (^…$)")
    return body


def pattern_grammar(pattern: str, add_rule: AddRule) -> str:
    """GBNF for the JSON text, quotes included, of the strings that match `pattern`."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PatternUnsupported(f"not a valid regular expression ({exc})") from exc
    parser = _Parser(_anchored_body(pattern), add_rule)
    branches = parser.alternatives()
    if parser.position < len(parser.source):
        raise PatternUnsupported("unbalanced parentheses")
    if len(branches) > 1:
        raise PatternUnsupported("a top-level | (the anchors bind to the first and last "
                                 "branch only; wrap the alternatives in a group)")
    return f'"\\"" {branches[0].text} "\\""'
