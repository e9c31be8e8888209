"""Schemas that no finite JSON value satisfies (a required recursive `$ref`) are found, with
the path of the reference, while recursion with a way out is left alone; and the rule
productivity analysis behind it reads every grammar this package writes."""

from __future__ import annotations

import pytest

from antiphon.chat.grammar.json_schema import endless_problem, schema_grammar, schema_problems
from antiphon.chat.grammar.primitives import RULES
from antiphon.chat.grammar.productive import productive_rules

NODE_REQUIRED_CHILD = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "child": {"$ref": "#"}},
    "required": ["value", "child"],
}
ENDLESS = [
    (NODE_REQUIRED_CHILD, "properties.child.$ref"),
    ({"$defs": {"list": {"type": "object", "properties": {"next": {"$ref": "#/$defs/list"}},
                         "required": ["next"]}},
      "type": "object", "properties": {"head": {"$ref": "#/$defs/list"}}, "required": ["head"]},
     "properties.head.$ref"),
    ({"type": "object", "properties": {"items": {"type": "array", "minItems": 1,
                                                  "items": {"$ref": "#"}}},
      "required": ["items"]}, "properties.items.items.$ref"),
    # Two definitions that require each other.
    ({"$defs": {"a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}}, "required": ["b"]},
                "b": {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "required": ["a"]}},
      "$ref": "#/$defs/a"}, "$ref"),
]
FINITE = [
    {"type": "object", "properties": {"child": {"$ref": "#"}}},  # optional: {} ends it
    {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
     "required": ["children"]},  # [] ends it
    {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
     "required": ["next"]},  # null ends it
    {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
]


@pytest.mark.parametrize(("schema", "path"), ENDLESS)
def test_a_required_recursion_is_named_by_the_reference_that_never_ends(
    schema: dict, path: str
) -> None:
    problem = endless_problem(schema)
    assert problem is not None and problem.startswith(f"{path}: "), problem
    assert "can never end" in problem
    assert problem in schema_problems(schema)


@pytest.mark.parametrize("schema", FINITE)
def test_recursion_with_a_way_out_is_accepted(schema: dict) -> None:
    assert endless_problem(schema) is None
    assert schema_problems(schema) == []


def test_the_shared_json_rules_all_finish() -> None:
    bodies = {name: body for name, (body, _) in RULES.items()}
    assert productive_rules(bodies) == set(bodies)


def test_productivity_follows_quantifiers_groups_and_alternatives() -> None:
    rules = {
        "loop": '"(" loop ")"',  # only itself: never ends
        "exit": '"(" exit ")" | "x"',
        "star": '"[" loop* "]"',  # zero repetitions end it
        "bounded": "loop{0,3} | (loop)?",
        "plus": "loop+",
        "exactly": '("a" loop){2}',
        "grouped": '("a" | loop) "b"',
    }
    assert productive_rules(rules) == {"exit", "star", "bounded", "grouped"}


def test_a_generated_grammar_is_read_whole() -> None:
    rules = schema_grammar(NODE_REQUIRED_CHILD, "tool0", strict=False)
    productive = productive_rules(rules.rules)
    assert rules.entry not in productive
    assert "json-integer" in productive and "tool0-value-kv" in productive
