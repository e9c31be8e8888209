"""`anyOf` and `oneOf`: one alternative per branch, each merged with the keywords beside
the union (JSON Schema applies both).

A grammar cannot count how many branches a value matches, so `oneOf` is converted like
`anyOf`, which is the same thing when no generated value can match two branches. We accept a
`oneOf` when that is provable for every ordered pair of branches (A generates, B must reject):
A's listed values all fail B; A's types and B's types do not meet; or A makes objects
with a required property whose listed values all fail B's schema for that property (the
"discriminator" pattern: `"kind": {"const": "circle"}`). Otherwise it is a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from antiphon.chat.grammar.keywords import (
    JSON_TYPES,
    constraining,
    declared_types,
    generated_types,
    mapping,
    schema_list,
    strings,
)
from antiphon.chat.grammar.merge import flatten, has_literals, literal_values, merge_pair

if TYPE_CHECKING:
    from antiphon.chat.grammar.converter import Converter, Site


def union_body(converter: Converter, node: Mapping[str, Any], site: Site) -> str:
    keyword = "anyOf" if "anyOf" in node else "oneOf"
    if "anyOf" in node and "oneOf" in node:
        converter.problem((*site.path, "oneOf"), "oneOf next to anyOf is not supported")
    siblings = {k: v for k, v in constraining(node).items() if k not in ("anyOf", "oneOf")}
    branches = []  # (original branch with the siblings, merged node, site)
    for index, branch in enumerate(schema_list(node, keyword)):
        branch_site = site.at(keyword, str(index), name=f"alt-{index}")
        original = {"allOf": [siblings, branch]} if siblings else branch
        branches.append((original, _merged(converter, siblings, branch, branch_site), branch_site))
    if not branches:
        converter.problem((*site.path, keyword), f"an empty {keyword} allows no value")
        return converter.shared("json-null")
    if keyword == "oneOf":
        _check_exclusive(converter, [(b[0], b[1]) for b in branches], site)
    rules = []
    for original, merged, branch_site in branches:
        if not siblings:
            rules.append(converter.value(original, branch_site))
        else:
            body = converter.flat_body(merged, original, branch_site)
            rules.append(converter.add_rule(branch_site.name, body))
    return " | ".join(dict.fromkeys(rules))


def _merged(converter: Converter, siblings: dict[str, Any], branch: Any, site: Site) -> Any:
    """The branch with its allOf/$ref merged in, and then the siblings."""
    if isinstance(branch, Mapping) and not has_literals(branch):
        if siblings:
            converter.check_keywords(branch, site.path)
        branch = flatten(branch, site.path, converter)
    return merge_pair(dict(siblings), branch, site.path, converter.problem) if siblings else branch


def _check_exclusive(converter: Converter, branches: list[tuple[Any, Any]], site: Site) -> None:
    for i, (_, generating) in enumerate(branches):
        for j, (rejecting, _) in enumerate(branches):
            if i != j and not _excludes(converter, generating, rejecting):
                converter.problem((*site.path, "oneOf"),
                                  f"a value of branch {i} may also match branch {j}: use anyOf, "
                                  "or distinguish the branches by type or by const values")
                return


def _excludes(converter: Converter, generating: Any, rejecting: Any) -> bool:
    """Whether every value generated from `generating` (a merged node) is invalid under
    `rejecting` (a schema). Conservative: False when unsure."""
    if not isinstance(generating, Mapping):
        return generating is False
    if has_literals(generating):
        return not any(converter.is_valid(v, rejecting) for v in literal_values(generating))
    if not _types_meet(_generated(generating), _accepted(converter, rejecting)):
        return True
    if _generated(generating) == {"object"} and isinstance(rejecting, Mapping):
        return _discriminated(converter, generating, rejecting)
    return False


def _discriminated(converter: Converter, generating: Mapping[str, Any], rejecting: Any) -> bool:
    rejecting = flatten(rejecting, (), _Quiet(converter)) if isinstance(rejecting, Mapping) else rejecting
    if not isinstance(rejecting, Mapping):
        return rejecting is False
    for name in strings(generating.get("required")):
        listed = literal_values(mapping(generating, "properties").get(name) or {})
        if not listed:
            continue
        other = mapping(rejecting, "properties").get(name, rejecting.get("additionalProperties", True))
        if not any(converter.is_valid(value, other) for value in listed):
            return True
    return False


def _generated(node: Mapping[str, Any]) -> set[str]:
    """An over-estimate of the types generated from a merged node."""
    if has_literals(node):
        return {_type_of(value) for value in literal_values(node)}
    if "anyOf" in node or "oneOf" in node:
        return set(JSON_TYPES)
    return set(generated_types(node))


def _accepted(converter: Converter, schema: Any) -> set[str]:
    """An over-estimate of the types valid under `schema`."""
    if not isinstance(schema, Mapping):
        return set(JSON_TYPES) if schema is not False else set()
    node = flatten(schema, (), _Quiet(converter))
    if not isinstance(node, Mapping):
        return set(JSON_TYPES) if node is not False else set()
    if has_literals(node):
        return {_type_of(value) for value in literal_values(node)}
    return set(declared_types(node) or JSON_TYPES)


def _types_meet(generated: set[str], accepted: set[str]) -> bool:
    def widen(types: set[str]) -> set[str]:  # an integer is a number, a number may be integral
        return types | {"integer"} if "number" in types else types
    return bool(widen(generated) & widen(accepted))


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    kinds = {float: "number", str: "string", list: "array", dict: "object"}
    return next((kind for cls, kind in kinds.items() if isinstance(value, cls)), "object")


class _Quiet:
    """A merge context for looking ahead: follows references but reports nothing (the walk
    itself reports each problem once, at its path)."""

    def __init__(self, converter: Converter) -> None:
        self.converter = converter

    def problem(self, path: tuple[str, ...], message: str) -> None:
        pass

    def check_keywords(self, schema: Mapping[str, Any], path: tuple[str, ...]) -> None:
        pass

    def resolve(self, reference: Any, path: tuple[str, ...]) -> tuple[Any, tuple[str, ...]] | None:
        found = self.converter.lookup(reference)
        return None if isinstance(found, str) else found
