"""GBNF, llama.cpp's grammar notation: escaping, repetition within the parser's limits, and
assembling rule fragments into one grammar.

The grammar sampler matches Unicode code points decoded from the model's output bytes, so
literals and character classes are written in code points; everything else here exists
because of a limit or quirk of llama.cpp's parser (`src/llama-grammar.cpp`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from antiphon.chat.grammar.primitives import add_shared

# llama.cpp expands `x{m,n}` into n rules and refuses more than 2000; worse, it silently
# treats an upper bound above 2000 as unbounded. Repetitions are therefore written in blocks
# of at most REPEAT_BLOCK, which keeps every bound exact.
REPEAT_BLOCK = 1000
_MAX_BLOCKS = 1000
_RULE_NAME = re.compile(r"[a-zA-Z0-9-]+")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
# Characters that mean something inside `[...]` and must be escaped there.
_CLASS_SPECIAL = {"\\", "]", "[", "-", "^", '"'}


def _escape_code_point(char: str, specials: Iterable[str]) -> str:
    code = ord(char)
    if char in _NAMED_ESCAPES and char in specials:
        return _NAMED_ESCAPES[char]
    if char in specials:
        return "\\" + char
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02X}"
    if not char.isprintable():  # unassigned, format or surrogate code points: spelled out
        return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"
    return char


def literal(text: str) -> str:
    """`text` as a GBNF string literal. Non-ASCII characters stay as they are (GBNF files are
    UTF-8); quotes, backslashes and control characters are escaped."""
    specials = ('"', "\\", "\n", "\r", "\t")
    return '"' + "".join(_escape_code_point(char, specials) for char in text) + '"'


CodeRange = tuple[int, int]  # inclusive bounds of code points


def char_class(ranges: Iterable[CodeRange], negated: bool = False) -> str:
    """A GBNF character class (`[a-z0-9]`, `[^"\\\\]`) from inclusive code point ranges."""
    specials = _CLASS_SPECIAL | {"\n", "\r", "\t"}
    items = []
    for low, high in ranges:
        first = _escape_code_point(chr(low), specials)
        items.append(first if low == high else f"{first}-{_escape_code_point(chr(high), specials)}")
    return "[" + ("^" if negated else "") + "".join(items) + "]"


def _exact(item: str, count: int) -> str:
    if count == 0:
        return ""
    if count <= REPEAT_BLOCK:
        return item if count == 1 else f"{item}{{{count}}}"
    blocks, rest = divmod(count, REPEAT_BLOCK)
    block = f"{item}{{{REPEAT_BLOCK}}}" if blocks == 1 else f"({item}{{{REPEAT_BLOCK}}}){{{blocks}}}"
    return f"{block} {_exact(item, rest)}".strip()


def _up_to(item: str, count: int) -> str:
    """`item` repeated 0..count times. Above one block, lengths a·B + b split into "fewer
    full blocks, then less than a block" or "all full blocks, then at most the remainder";
    each length has one parse, so the sampler keeps only a couple of stacks alive."""
    if count == 0:
        return ""
    if count == 1:
        return f"{item}?"
    if count <= REPEAT_BLOCK:
        return f"{item}{{0,{count}}}"
    blocks, rest = divmod(count, REPEAT_BLOCK)
    if blocks > _MAX_BLOCKS:
        raise ValueError(f"a repetition bound of {count} is too large for a grammar")
    fewer = _up_to(item, REPEAT_BLOCK - 1)
    if blocks > 1:
        fewer = f"({item}{{{REPEAT_BLOCK}}}){{0,{blocks - 1}}} {fewer}"
    full = f"{_exact(item, blocks * REPEAT_BLOCK)} {_up_to(item, rest)}".strip()
    return f"({fewer} | {full})"


def repeat(item: str, min_count: int, max_count: int | None, separator: str = "") -> str:
    """`item` repeated min_count..max_count times (None: no upper bound), with `separator`
    between repetitions. `item` must be one GBNF atom: a rule name, literal, class or group.

    Raises ValueError for bounds so large that the grammar would not fit in memory."""
    if max_count is not None and max_count < min_count:
        raise ValueError(f"empty repetition {min_count}..{max_count}")
    if min_count > REPEAT_BLOCK * _MAX_BLOCKS:
        raise ValueError(f"a repetition bound of {min_count} is too large for a grammar")
    if separator:
        if max_count == 0:
            return ""
        tail = repeat(f"({separator} {item})", max(min_count - 1, 0),
                      None if max_count is None else max_count - 1)
        both = f"{item} {tail}".strip()
        return both if min_count > 0 else f"({both})?"
    if max_count is None:
        star = {0: f"{item}*", 1: f"{item}+"}.get(min_count)
        return star or f"{_exact(item, min_count)} {item}*"
    if max_count <= REPEAT_BLOCK and min_count < max_count:
        return f"{item}?" if max_count == 1 else f"{item}{{{min_count},{max_count}}}"
    return f"{_exact(item, min_count)} {_up_to(item, max_count - min_count)}".strip()


def sequence(*parts: str) -> str:
    """The parts one after the other, empty ones left out."""
    return " ".join(part for part in parts if part)


def rule_name_part(text: str) -> str:
    """A piece of a rule name: GBNF names hold only letters, digits and hyphens."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-") or "x"


def is_rule_name(text: str) -> bool:
    return _RULE_NAME.fullmatch(text) is not None


@dataclass(frozen=True)
class GrammarRules:
    """A fragment of a grammar: `rules` maps rule names to bodies and holds every rule the
    fragment needs (shared ones such as `space` included); `entry` names the rule that
    matches the fragment's whole language."""

    entry: str
    rules: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))


def render_grammar(root_body: str, fragments: Sequence[GrammarRules]) -> str:
    """The full grammar text: `root ::= root_body`, then each fragment's rules. A rule that
    several fragments hold (the shared JSON rules) is written once; two different bodies for
    one name are a programming error and raise ValueError. The shared `space` rule is always
    there, so `root_body` may use it whatever the fragments need."""
    rules: dict[str, str] = {"root": root_body}
    for fragment in fragments:
        for name, body in fragment.rules.items():
            if rules.setdefault(name, body) != body:
                raise ValueError(f"grammar rule {name!r} is defined twice, differently")
    add_shared(rules, "space")
    return "".join(f"{name} ::= {body}\n" for name, body in rules.items())
