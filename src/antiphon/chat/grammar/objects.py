"""Objects: declared properties in declared order (optional ones may be left out), and maps
(`additionalProperties` with a schema) whose keys avoid the declared names.

Properties the schema does not declare are generated only when `additionalProperties` is a
schema: when it is absent or true, leaving extra keys out is valid and keeps a small model
on the fields the caller asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from antiphon.chat.grammar.gbnf import char_class, is_rule_name, literal, sequence
from antiphon.chat.grammar.keywords import count, mapping, strings

if TYPE_CHECKING:
    from antiphon.chat.grammar.converter import Converter, Site

# Key characters that need escaping in JSON (and DEL), which map keys never contain.
_KEY_EXCLUDED = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)]


def object_body(converter: Converter, node: Mapping[str, Any], site: Site) -> str:
    properties = mapping(node, "properties")
    required = strings(node.get("required"))
    extra = node.get("additionalProperties")
    _report_size_bounds(converter, node, site)
    converter.shared("space")
    if not properties and not required and extra in (None, True):
        return converter.shared("json-object")
    members: list[tuple[str, bool]] = []  # (key-value rule, required) in declared order
    for name, schema in properties.items():
        if schema is False:
            if name in required:
                converter.problem((*site.path, "required"), f"{name!r} is required but forbidden")
            continue
        members.append((_member(converter, name, schema, site.at("properties", name, name=name)),
                        name in required))
    for name in (n for n in required if n not in properties):
        if extra is False:
            converter.problem((*site.path, "required"),
                              f"{name!r} is required but additionalProperties is false")
            continue
        schema = extra if isinstance(extra, Mapping) else True
        members.append((_member(converter, name, schema, site.at("required", name=name)), True))
    map_member = None
    if isinstance(extra, Mapping):
        map_member = _map_member(converter, [*properties, *required], extra, site)
    return sequence('"{" space', _members(converter, members, map_member, site), '"}"')


def _report_size_bounds(converter: Converter, node: Mapping[str, Any], site: Site) -> None:
    if count(node, "minProperties"):
        converter.problem((*site.path, "minProperties"), "minProperties is not supported")
    if "maxProperties" in node:
        converter.problem((*site.path, "maxProperties"), "maxProperties is not supported")


def _member(converter: Converter, name: str, schema: Any, site: Site) -> str:
    value = converter.value(schema, site)
    key = literal(json.dumps(name, ensure_ascii=False))
    return converter.add_rule((*site.name, "kv"), f'{key} space ":" space {value}')


def _map_member(converter: Converter, declared: list[str], schema: Any, site: Site) -> str:
    value_site = site.at("additionalProperties", name="additional")
    value = converter.value(schema, value_site)
    key = _key_excluding(converter, declared, value_site)
    return converter.add_rule((*value_site.name, "kv"), f'{key} space ":" space {value}')


def _key_excluding(converter: Converter, names: list[str], site: Site) -> str:
    """A key rule that matches no declared name: a value under a declared name must follow
    that property's schema, not the map's. Keys are written without escapes, so a trie of
    the names over their characters decides exactly (names that need escapes can never be
    written, so they need no excluding)."""
    writable = [n for n in names if not any(a <= ord(c) <= b for c in n for a, b in _KEY_EXCLUDED)]
    if not writable:
        return converter.shared("json-key")
    trie: dict[str, Any] = {}
    for name in writable:
        node = trie
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}  # marks the end of a name
    raw = converter.shared("json-raw-char")
    return converter.add_rule((*site.name, "key"), f'"\\"" {_not_in_trie(trie, raw)} "\\""')


def _not_in_trie(trie: dict[str, Any], raw: str) -> str:
    """Suffixes that, after the path leading to `trie`, do not complete a name."""
    children = [char for char in trie if char]
    alternatives = [f"{char_class([(ord(c), ord(c))])} {_not_in_trie(trie[c], raw)}" for c in children]
    excluded = sorted([(ord(c), ord(c)) for c in children] + _KEY_EXCLUDED)
    alternatives.append(f"{char_class(excluded, negated=True)} {raw}*")
    group = "(" + " | ".join(alternatives) + ")"
    return group if "" in trie else group + "?"


def _members(converter: Converter, members: list[tuple[str, bool]], map_member: str | None,
             site: Site) -> str:
    """The members between the braces, in declared order, commas only between members.

    Built from the end: rest[i] is what may follow once some member has been written (each
    member then starts with a comma), first[i] what may come when none has been yet. rest[i]
    is a named rule when both first[i-1] and rest[i-1] are reachable and refer to it, which
    keeps the grammar linear in the number of properties."""
    count_ = len(members)
    first_required = next((i for i, (_, needed) in enumerate(members) if needed), count_)
    rest = [""] * (count_ + 1)
    first = [""] * (count_ + 1)
    if map_member is not None:
        rest[count_] = f'("," space {map_member} space)*'
        first[count_] = f"({map_member} space {rest[count_]})?"
    for i in reversed(range(count_)):
        member, needed = members[i]
        tail = rest[i + 1]
        if 1 <= i <= first_required and tail and not is_rule_name(tail):
            tail = converter.add_rule((*site.name, f"rest-{i + 1}"), tail)
        written = sequence(f"{member} space", tail)
        rest[i] = sequence(f'"," space {member} space' if needed
                            else f'("," space {member} space)?', tail)
        if needed:
            first[i] = written
        else:
            first[i] = f"({written} | {first[i + 1]})" if first[i + 1] else f"({written})?"
    return first[0]
