"""`allOf` (and `$ref` next to other keywords) merged into one schema object, so that the
type builders see one set of constraints: properties united, bounds tightened, types
intersected. Literal lists (`enum`/`const`) are only collected here; the converter keeps
the values that validate against the original schema, which is exact whatever the merge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from antiphon.chat.grammar.keywords import JSON_TYPES, declared_types, mapping, strings

Path = tuple[str, ...]
_LARGER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_SMALLER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_SAME = ("pattern", "format", "prefixItems")
_OBJECT = ("properties", "additionalProperties")


class MergeContext(Protocol):
    def problem(self, path: Path, message: str) -> None: ...
    def check_keywords(self, schema: Mapping[str, Any], path: Path) -> None: ...
    def resolve(self, reference: Any, path: Path) -> tuple[Any, Path] | None: ...


def flatten(schema: Mapping[str, Any], path: Path, context: MergeContext,
            seen: frozenset[str] = frozenset()) -> dict[str, Any] | bool:
    """`schema` with its `allOf` members and `$ref` target merged in (recursively; a
    reference met again while merging is a cycle with no value, reported)."""
    merged: dict[str, Any] | bool = {k: v for k, v in schema.items() if k not in ("allOf", "$ref")}
    parts: list[tuple[Any, Path, frozenset[str]]] = []
    for index, member in enumerate(schema.get("allOf") or []):
        parts.append((member, (*path, "allOf", str(index)), seen))
    reference = schema.get("$ref")
    if reference is not None:
        if reference in seen:
            context.problem((*path, "$ref"), f"{reference} refers back to itself through allOf")
        elif (target := context.resolve(reference, (*path, "$ref"))) is not None:
            parts.append((target[0], target[1], seen | {reference}))
    for part, part_path, part_seen in parts:
        if isinstance(part, Mapping):
            context.check_keywords(part, part_path)
            part = flatten(part, part_path, context, part_seen)
        merged = merge_pair(merged, part, path, context.problem)
    return merged


def merge_pair(first: dict[str, Any] | bool, second: Any, path: Path,
               problem: Callable[[Path, str], None]) -> dict[str, Any] | bool:
    """Both schemas at once: a schema object whose valid values are valid under both."""
    if first is False or second is False:
        return False
    if not isinstance(second, Mapping):
        return first
    if first is True:
        return dict(second)
    result = {**second, **first}
    for keyword in set(first) & set(second):
        if first[keyword] != second[keyword]:
            result[keyword] = _combine(keyword, first[keyword], second[keyword], path, problem)
    if any(key in first or key in second for key in _OBJECT):
        result.update(_merge_objects(first, second))
    _merge_literals(result, first, second)
    return result


def _combine(keyword: str, first: Any, second: Any, path: Path,
             problem: Callable[[Path, str], None]) -> Any:
    if keyword in _LARGER or keyword in _SMALLER:
        if isinstance(first, int | float) and isinstance(second, int | float):
            return max(first, second) if keyword in _LARGER else min(first, second)
    elif keyword == "type":
        common = _common_types(first, second)
        if common:
            return common
        problem((*path, "allOf"), "the merged schemas have no type in common")
    elif keyword == "required":
        return list(dict.fromkeys(strings(first) + strings(second)))
    elif keyword == "items":
        return {"allOf": [first, second]}
    elif keyword == "uniqueItems":
        return bool(first) or bool(second)
    elif keyword == "anyOf" and isinstance(first, list) and isinstance(second, list):
        return [{"allOf": [a, b]} for a in first for b in second]
    elif keyword in _SAME or keyword == "oneOf":
        problem((*path, "allOf"), f"{keyword} differs between the merged schemas")
    return first


def _common_types(first: Any, second: Any) -> list[str]:
    a = declared_types({"type": first}) or list(JSON_TYPES)
    b = declared_types({"type": second}) or list(JSON_TYPES)
    common = [name for name in JSON_TYPES if name in a and name in b]
    if "integer" not in common and (("integer" in a and "number" in b)
                                    or ("number" in a and "integer" in b)):
        common.append("integer")
    return common


def _constraint(schema: Mapping[str, Any], name: str) -> Any:
    """What `schema` demands of property `name`: its own schema, else the additional
    properties schema (False: forbidden; True: nothing)."""
    properties = mapping(schema, "properties")
    if name in properties:
        return properties[name]
    extra = schema.get("additionalProperties", True)
    return extra if extra is False or isinstance(extra, Mapping) else True


def _merge_objects(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    names = list(dict.fromkeys([*mapping(first, "properties"), *mapping(second, "properties")]))
    properties: dict[str, Any] = {}
    for name in names:
        demands = [c for c in (_constraint(first, name), _constraint(second, name)) if c is not True]
        if False in demands:
            properties[name] = False
        else:
            properties[name] = demands[0] if len(demands) == 1 else {"allOf": demands}
    result: dict[str, Any] = {"properties": properties}
    extras = [s.get("additionalProperties") for s in (first, second)]
    extras = [e for e in extras if e is False or isinstance(e, Mapping)]
    if False in extras:
        result["additionalProperties"] = False
    elif extras:
        result["additionalProperties"] = extras[0] if len(extras) == 1 else {"allOf": extras}
    return result


def _merge_literals(result: dict[str, Any], first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
    values = [*literal_values(first), *literal_values(second)]
    if has_literals(first) or has_literals(second):
        result.pop("const", None)
        unique = {json.dumps(v, sort_keys=True): v for v in values}
        result["enum"] = list(unique.values())


def has_literals(schema: Mapping[str, Any]) -> bool:
    """Whether the schema lists its values (`const`, or `enum`, even an empty one)."""
    return "const" in schema or isinstance(schema.get("enum"), list)


def literal_values(schema: Mapping[str, Any]) -> list[Any]:
    """The values `const` and `enum` list (either may be absent)."""
    values = list(schema["enum"]) if isinstance(schema.get("enum"), list) else []
    if "const" in schema:
        values.insert(0, schema["const"])
    return values
