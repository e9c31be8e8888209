"""Schemas no grammar can serve are found, with the path of the reference: those no finite
JSON value satisfies (a required recursive `$ref`) and `$ref` cycles with nothing written in
between (left recursion, which llama.cpp refuses); recursion with a way out is left alone.
The rule analyses behind it read every grammar this package writes."""

from __future__ import annotations

import pytest

from antiphon.chat.grammar.json_schema import degenerate_problem, schema_grammar, schema_problems
from antiphon.chat.grammar.primitives import RULES
from antiphon.chat.grammar.rule_analysis import left_recursive_rules, productive_rules

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
LOOPING = [
    ({"type": "object", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
      "properties": {"n": {"$ref": "#/$defs/a"}}}, "properties.n.$ref"),
    ({"$defs": {"t": {"anyOf": [{"$ref": "#/$defs/t"}, {"type": "string"}]}},
      "type": "object", "properties": {"v": {"$ref": "#/$defs/t"}}}, "properties.v.$ref"),
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
    problem = degenerate_problem(schema)
    assert problem is not None and problem.startswith(f"{path}: "), problem
    assert "can never end" in problem
    assert problem in schema_problems(schema)


@pytest.mark.parametrize(("schema", "path"), LOOPING)
def test_a_reference_cycle_with_nothing_between_is_named(schema: dict, path: str) -> None:
    problem = degenerate_problem(schema)
    assert problem is not None and problem.startswith(f"{path}: "), problem
    assert "refers back to itself before any value is written" in problem


@pytest.mark.parametrize("schema", FINITE)
def test_recursion_with_a_way_out_is_accepted(schema: dict) -> None:
    assert degenerate_problem(schema) is None
    assert schema_problems(schema) == []


def test_the_shared_json_rules_all_finish_and_none_loops() -> None:
    bodies = {name: body for name, (body, _) in RULES.items()}
    assert productive_rules(bodies) == set(bodies)
    assert left_recursive_rules(bodies) == set()


def test_left_recursion_is_seen_through_rules_that_may_match_nothing() -> None:
    rules = {
        "direct": 'direct "x" | "y"',
        "behind-space": 'space behind-space "x" | "y"',  # space may be empty
        "behind-literal": '"(" behind-literal ")" | "y"',
        "a": 'b | "x"', "b": '("z")? a',
        "space": '"" | " "',
    }
    assert left_recursive_rules(rules) == {"direct", "behind-space", "a", "b"}


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
