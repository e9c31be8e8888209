"""Which rules of a GBNF grammar can ever finish, and which call themselves before writing
anything (left recursion, which llama.cpp refuses).

A rule is productive when some finite text matches it: a literal or a character class is; a
sequence is when all its items are; an alternation when one branch is; an item repeated
`?`, `*` or `{0,n}` always is (zero times). The productive rules are the least fixpoint of
those facts (the textbook algorithm for context-free grammars). A grammar whose root rule
is not productive admits no complete output: a sampler under it writes until `max_tokens`.
A JSON Schema that requires itself (`{"properties": {"next": {"$ref": "#"}},
"required": ["next"]}`) converts to such a grammar.

A rule is left-recursive when it can reach itself through first positions only: the first
item of a branch, or a later one behind items that may match nothing. `{"$defs": {"a":
{"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}` converts to such rules, and so does
`{"anyOf": [{"$ref": "#"}, {"type": "string"}]}`.

The parser reads the GBNF this package generates (`gbnf.py`, `primitives.py`): literals,
classes, rule names, groups, `|` and the quantifiers above.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<literal>"(?:\\.|[^"\\])*")
    | (?P<char_class>\[(?:\\.|[^\]\\])*\])
    | (?P<name>[a-zA-Z0-9-]+)
    | (?P<quantifier>\{\d+(?:,\d*)?\}|[?*+])
    | (?P<punctuation>[()|.])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Item:
    atom: str | _Alternation | None  # a rule name, a group, or None for a terminal
    optional: bool  # repeated with a lower bound of zero
    empty: bool = False  # the literal `""`


@dataclass(frozen=True)
class _Alternation:
    branches: tuple[tuple[_Item, ...], ...]


class _Parser:
    def __init__(self, body: str) -> None:
        self._tokens = self._tokenize(body)
        self._at = 0

    @staticmethod
    def _tokenize(body: str) -> list[tuple[str, str]]:
        tokens, position, end = [], 0, len(body.rstrip())
        while position < end:
            match = _TOKEN.match(body, position)
            if match is None or match.lastgroup is None:
                raise ValueError(f"unreadable grammar text at {body[position:position + 20]!r}")
            tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        return tokens

    def parse(self) -> _Alternation:
        alternation = self._alternation()
        if self._at != len(self._tokens):
            raise ValueError(f"unexpected {self._tokens[self._at][1]!r} in a grammar rule")
        return alternation

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _alternation(self) -> _Alternation:
        branches = [self._sequence()]
        while self._peek() == ("punctuation", "|"):
            self._at += 1
            branches.append(self._sequence())
        return _Alternation(tuple(branches))

    def _sequence(self) -> tuple[_Item, ...]:
        items: list[_Item] = []
        while (token := self._peek()) is not None and token[1] not in ("|", ")"):
            self._at += 1
            kind, text = token
            atom: str | _Alternation | None = None
            if kind == "name":
                atom = text
            elif text == "(":
                atom = self._alternation()
                if self._peek() != ("punctuation", ")"):
                    raise ValueError("unclosed group in a grammar rule")
                self._at += 1
            elif kind == "quantifier":
                raise ValueError(f"quantifier {text!r} without an item")
            items.append(_Item(atom, self._optional_quantifier(), empty=text == '""'))
        return tuple(items)

    def _optional_quantifier(self) -> bool:
        token = self._peek()
        if token is None or token[0] != "quantifier":
            return False
        self._at += 1
        quantifier = token[1]
        return quantifier in ("?", "*") or quantifier.startswith(("{0}", "{0,"))


def _finishes(node: str | _Alternation | None, productive: set[str]) -> bool:
    if node is None:
        return True
    if isinstance(node, str):
        return node in productive
    return any(
        all(item.optional or _finishes(item.atom, productive) for item in branch)
        for branch in node.branches
    )


def productive_rules(rules: Mapping[str, str]) -> set[str]:
    """The names of the rules that match some finite text. A name the rules use but do not
    define (a shared rule added later, such as `space`) is taken to finish."""
    undefined = {
        name for body in rules.values() for kind, name in _Parser._tokenize(body)
        if kind == "name" and name not in rules
    }
    return _least_fixpoint(_parse_all(rules), undefined, _finishes)


def _least_fixpoint(
    parsed: Mapping[str, _Alternation],
    known: set[str],
    holds: Callable[[_Alternation, set[str]], bool],
) -> set[str]:
    """The rules for which `holds` is true given the rules found so far, starting from
    `known` and adding until nothing changes (productivity and nullability alike)."""
    found = set(known)
    changed = True
    while changed:
        changed = False
        for name, body in parsed.items():
            if name not in found and holds(body, found):
                found.add(name)
                changed = True
    return found


def _parse_all(rules: Mapping[str, str]) -> dict[str, _Alternation]:
    return {name: _Parser(body).parse() for name, body in rules.items()}


def _may_be_empty(item: _Item, empty: set[str]) -> bool:
    return item.optional or item.empty or _matches_empty(item.atom, empty)


def _matches_empty(node: str | _Alternation | None, empty: set[str]) -> bool:
    """Whether `node` can match the empty text, given the rules known to (`empty`)."""
    if node is None:
        return False  # a class, or a literal other than `""` (see `_Item.empty`)
    if isinstance(node, str):
        return node in empty
    return any(all(_may_be_empty(item, empty) for item in branch) for branch in node.branches)


def _nullable(parsed: Mapping[str, _Alternation]) -> set[str]:
    """Rules that can match the empty text (`space` is one)."""
    return _least_fixpoint(parsed, set(), _matches_empty)


def _first_calls(node: _Alternation, empty: set[str]) -> set[str]:
    """The rules `node` may call before it has written anything."""
    calls: set[str] = set()
    for branch in node.branches:
        for item in branch:
            if isinstance(item.atom, str):
                calls.add(item.atom)
            elif isinstance(item.atom, _Alternation):
                calls |= _first_calls(item.atom, empty)
            if not _may_be_empty(item, empty):
                break
    return calls


def left_recursive_rules(rules: Mapping[str, str]) -> set[str]:
    """The rules that can call themselves before writing anything."""
    parsed = _parse_all(rules)
    empty = _nullable(parsed)
    calls = {name: _first_calls(body, empty) for name, body in parsed.items()}
    recursive: set[str] = set()
    for start in parsed:
        seen: set[str] = set()
        frontier = list(calls[start])
        while frontier:
            name = frontier.pop()
            if name == start:
                recursive.add(start)
                break
            if name in seen or name not in calls:
                continue
            seen.add(name)
            frontier.extend(calls[name])
    return recursive
