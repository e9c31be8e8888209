"""What each JSON Schema keyword means to the grammar converter, and typed reads of keyword
values that tolerate malformed schemas (the metaschema check reports those; best-effort
conversion carries on as if the keyword were absent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# Keywords that never constrain a value.
ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$schema", "$id", "$comment",
    "deprecated", "readOnly", "writeOnly", "$anchor", "$vocabulary",
    # Content keywords are annotations in 2020-12: validators do not assert them.
    "contentEncoding", "contentMediaType", "contentSchema",
})

# Keywords the converter enforces (some only for certain values; see the type builders).
ENFORCED = frozenset({
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    "properties", "required", "additionalProperties",
    "items", "prefixItems", "minItems", "maxItems", "uniqueItems",
    "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minProperties", "maxProperties",
})

# Keywords a grammar cannot enforce, and why, as the problem message says it.
UNSUPPORTED = {
    "not": "negation cannot be enforced by a grammar",
    "if": "conditional schemas (if/then/else) are not supported",
    "then": "conditional schemas (if/then/else) are not supported",
    "else": "conditional schemas (if/then/else) are not supported",
    "patternProperties": "property names matched by patterns are not supported",
    "propertyNames": "constraints on property names are not supported",
    "dependentRequired": "dependencies between properties are not supported",
    "dependentSchemas": "dependencies between properties are not supported",
    "dependencies": "dependencies between properties are not supported",
    "contains": "array contents constraints (contains) are not supported",
    "minContains": "array contents constraints (contains) are not supported",
    "maxContains": "array contents constraints (contains) are not supported",
    "multipleOf": "multipleOf cannot be enforced by a grammar",
    "unevaluatedProperties": "unevaluatedProperties is not supported",
    "unevaluatedItems": "unevaluatedItems is not supported",
    "$dynamicRef": "dynamic references are not supported",
    "$dynamicAnchor": "dynamic references are not supported",
    "$recursiveRef": "recursive references are not supported",
    "$recursiveAnchor": "recursive references are not supported",
}

# JSON types and the keywords that imply them when `type` is absent.
JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_IMPLIED_TYPE = {
    "properties": "object", "required": "object", "additionalProperties": "object",
    "items": "array", "prefixItems": "array", "minItems": "array", "maxItems": "array",
    "minLength": "string", "maxLength": "string", "pattern": "string", "format": "string",
    # Integers: the one kind of number whose bounds a grammar can enforce.
    "minimum": "integer", "maximum": "integer",
    "exclusiveMinimum": "integer", "exclusiveMaximum": "integer",
}


def keyword_problems(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(keyword, message) for each keyword of this schema object (not its subschemas) that
    the converter cannot enforce whatever its value, or does not know."""
    found = []
    for keyword in schema:
        if keyword in UNSUPPORTED:
            found.append((keyword, UNSUPPORTED[keyword]))
        elif keyword not in ANNOTATIONS and keyword not in ENFORCED:
            found.append((keyword, "unknown keyword"))
    return found


def constraining(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without its annotations."""
    return {key: value for key, value in schema.items() if key not in ANNOTATIONS}


def declared_types(schema: Mapping[str, Any]) -> list[str] | None:
    """The `type` keyword as a list in JSON_TYPES order (None when absent or malformed)."""
    value = schema.get("type")
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        return None
    known = [name for name in JSON_TYPES if name in names]
    return known or None  # only unknown names: malformed, reported by the metaschema check


def generated_types(schema: Mapping[str, Any]) -> list[str]:
    """The types to generate: the declared ones, else those the keywords imply, else all.
    Generating fewer types than a schema allows is always valid."""
    declared = declared_types(schema)
    if declared is not None:
        if "number" in declared and "integer" in declared:
            declared.remove("integer")  # numbers already include the integers
        return declared
    implied = {_IMPLIED_TYPE[key] for key in schema if key in _IMPLIED_TYPE}
    return [name for name in JSON_TYPES if name in implied] or list(JSON_TYPES)


def mapping(schema: Mapping[str, Any], keyword: str) -> Mapping[str, Any]:
    value = schema.get(keyword)
    return value if isinstance(value, Mapping) else {}


def schema_list(schema: Mapping[str, Any], keyword: str) -> list[Any]:
    value = schema.get(keyword)
    return list(value) if isinstance(value, list) else []


def count(schema: Mapping[str, Any], keyword: str) -> int | None:
    """A non-negative integer keyword (minLength, maxItems…); None when absent or bad."""
    value = schema.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def number(schema: Mapping[str, Any], keyword: str) -> int | float | None:
    value = schema.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if not isinstance(value, float) or math.isfinite(value) else None


def strings(value: Any) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, str)]


def integer_bounds(schema: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The integer range the four bound keywords leave (None: open on that side)."""
    lows, highs = [], []
    if (value := number(schema, "minimum")) is not None:
        lows.append(math.ceil(value))
    if (value := number(schema, "exclusiveMinimum")) is not None:
        lows.append(math.floor(value) + 1)
    if (value := number(schema, "maximum")) is not None:
        highs.append(math.floor(value))
    if (value := number(schema, "exclusiveMaximum")) is not None:
        highs.append(math.ceil(value) - 1)
    return (max(lows) if lows else None), (min(highs) if highs else None)
