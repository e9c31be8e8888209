"""Arrays, strings and numbers: the type builders other than objects.

Each takes a schema node with allOf/$ref already merged in and returns a rule body for the
values of its type, recording a problem for each constraint it cannot enforce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from antiphon.chat.grammar.gbnf import repeat, sequence
from antiphon.chat.grammar.integers import integer_range
from antiphon.chat.grammar.keywords import count, integer_bounds, schema_list
from antiphon.chat.grammar.pattern import PatternUnsupported, pattern_grammar
from antiphon.chat.grammar.primitives import FORMAT_LENGTHS

if TYPE_CHECKING:
    from antiphon.chat.grammar.converter import Converter, Site

_QUOTE = '"\\""'
_NUMBER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _count_range(converter: Converter, node: Mapping[str, Any], site: Site,
                 keywords: tuple[str, str]) -> tuple[int, int | None]:
    low, high = count(node, keywords[0]) or 0, count(node, keywords[1])
    if high is not None and high < low:
        converter.problem((*site.path, keywords[1]), f"{keywords[1]} is below {keywords[0]}")
        high = low
    return low, high


def _bounded_repeat(converter: Converter, item: str, low: int, high: int | None,
                    site: Site, keyword: str, separator: str = "") -> str:
    try:
        return repeat(item, low, high, separator)
    except ValueError as exc:
        converter.problem((*site.path, keyword), str(exc))
        return repeat(item, 0, None, separator)


def array_body(converter: Converter, node: Mapping[str, Any], site: Site) -> str:
    if node.get("uniqueItems") is True:
        converter.problem((*site.path, "uniqueItems"), "uniqueItems cannot be enforced by a grammar")
    items = node.get("items")
    if isinstance(items, list):
        converter.problem((*site.path, "items"),
                          "an array of schemas in items is the pre-2020 tuple form; use prefixItems")
        items = None
    low, high = _count_range(converter, node, site, ("minItems", "maxItems"))
    converter.shared("space")
    prefix = schema_list(node, "prefixItems")[:high]
    if items is False and low > len(prefix):
        converter.problem((*site.path, "minItems"), "more items are required than items allows")
        low = len(prefix)
    if items is False:
        high = len(prefix) if high is None else min(high, len(prefix))
    tail = None
    if items is not False and (high is None or high > len(prefix)):
        tail = converter.value(True if items is None else items, site.at("items", name="item"))
    elements = [converter.value(schema, site.at("prefixItems", str(i), name=f"item-{i}"))
                for i, schema in enumerate(prefix)]
    return sequence('"[" space', _elements(converter, elements, tail, low, high, site), '"]"')


def _elements(converter: Converter, elements: list[str], tail: str | None, low: int,
              high: int | None, site: Site) -> str:
    """The items between the brackets: `elements` (prefixItems) first, each optional once
    `low` items are written, then `tail` items up to `high` in all."""
    if not elements:
        if tail is None:
            return ""
        return _bounded_repeat(converter, f"{tail} space", low, high, site, "maxItems", '"," space')
    more = ""
    if tail is not None:
        extra_high = None if high is None else high - len(elements)
        more = _bounded_repeat(converter, f'("," space {tail} space)',
                               max(low - len(elements), 0), extra_high, site, "maxItems")
    for index in reversed(range(1, len(elements))):
        piece = sequence(f'"," space {elements[index]} space', more)
        more = piece if index < low else f"({piece})?"
    written = sequence(f"{elements[0]} space", more)
    return written if low > 0 else f"({written})?"


def string_body(converter: Converter, node: Mapping[str, Any], site: Site) -> str:
    low, high = _count_range(converter, node, site, ("minLength", "maxLength"))
    pattern, format_ = node.get("pattern"), node.get("format")
    if isinstance(pattern, str):
        if low or high is not None or format_ is not None:
            converter.problem((*site.path, "pattern"),
                              "pattern combined with minLength, maxLength or format is not supported")
        try:
            return pattern_grammar(pattern, lambda body: converter.add_rule((*site.name, "pattern"), body))
        except PatternUnsupported as exc:
            converter.problem((*site.path, "pattern"), str(exc))
    elif isinstance(format_, str):
        if format_ not in FORMAT_LENGTHS:
            converter.problem((*site.path, "format"), f"the format {format_!r} is not supported")
        else:
            shortest, longest = FORMAT_LENGTHS[format_]
            if low > shortest or (high is not None and (longest is None or high < longest)):
                converter.problem((*site.path, "format"),
                                  f"format {format_} combined with minLength/maxLength is not "
                                  "supported")
            return f"{_QUOTE} {converter.shared('json-' + format_)} {_QUOTE}"
    if low == 0 and high is None:
        return converter.shared("json-string")
    characters = _bounded_repeat(converter, converter.shared("json-char"), low, high, site, "maxLength")
    return sequence(_QUOTE, characters, _QUOTE)


def integer_body(converter: Converter, node: Mapping[str, Any], site: Site) -> str:
    low, high = integer_bounds(node)
    if low is None and high is None:
        return converter.shared("json-integer")
    try:
        return integer_range(low, high)
    except ValueError:
        converter.problem(site.path, f"no integer lies within the bounds ({low}..{high})")
        return converter.shared("json-integer")


def number_body(converter: Converter, node: Mapping[str, Any], site: Site) -> str:
    for keyword in _NUMBER_BOUNDS:
        if keyword in node:
            converter.problem((*site.path, keyword), "bounds on non-integer numbers cannot be "
                              'enforced by a grammar; use "type": "integer"')
    return converter.shared("json-number")
