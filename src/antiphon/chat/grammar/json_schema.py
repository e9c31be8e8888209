"""JSON Schema → GBNF: grammars under which every complete output is a JSON value valid
under the schema, so tool inputs and structured outputs are right by construction.

`schema_grammar` builds one fragment per schema, its rule names under a prefix of the
caller's choosing, so several schemas share one grammar (e.g. one branch per tool).
`schema_problems` lists what a schema asks that the grammar cannot enforce (and where the
schema is not valid JSON Schema at all); in strict mode those are refused up front.

What is enforced exactly, and what is not, is listed in `SUPPORTED` below and in the
modules that do the work (`objects`, `values`, `unions`, `pattern`, `integers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from antiphon.chat.grammar.converter import Converter
from antiphon.chat.grammar.gbnf import GrammarRules, is_rule_name
from antiphon.chat.grammar.primitives import RULES, add_shared, is_reserved_prefix
from antiphon.chat.grammar.rule_analysis import left_recursive_rules, productive_rules

SUPPORTED = (
    "type (one or a list, null included), enum, const, anyOf, oneOf (distinguishable "
    "branches), allOf (merged), $ref within the document (recursion included), properties "
    "in declared order, required, additionalProperties (false, true, or a schema), items, "
    "prefixItems, minItems, maxItems, minLength, maxLength, pattern (anchored, common "
    "subset), format (date, time, date-time, uuid, uri, email), integer minimum/maximum/exclusive*"
)
_MESSAGE_LIMIT = 200


class UnsupportedSchema(ValueError):
    """The schema asks for something the grammar cannot enforce, or is not valid JSON
    Schema. `problems` holds one "path: what is wrong" line each."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def _check_prefix(prefix: str) -> None:
    if not is_rule_name(prefix) or is_reserved_prefix(prefix):
        raise ValueError(
            f"grammar prefix {prefix!r}: use letters, digits and hyphens, not root, space, "
            "json or json-…"
        )


def metaschema_problems(schema: Any) -> list[str]:
    """Where `schema` is not valid under its metaschema (2020-12 unless `$schema` names
    another draft), as "path: message" lines."""
    cls = validator_for(schema, default=Draft202012Validator)
    checker = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    problems = []
    for error in sorted(checker.iter_errors(schema), key=lambda e: [str(p) for p in e.path]):
        detail = best_match(error.context) if error.context else error
        path = ".".join(str(part) for part in error.absolute_path) or "(root)"
        message = detail.message
        if len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 1] + "…"
        problems.append(f"{path}: {message}")
    return problems


def _convert(schema: Any, prefix: str) -> tuple[GrammarRules, list[str]]:
    converter = Converter(schema, prefix)
    rules = converter.convert()
    return rules, converter.problems


def degenerate_problem(schema: Any) -> str | None:
    """Why no grammar can serve `schema`, as a "path: message" line; or None. Two ways:

    - a `$ref` cycle with nothing written in between (`a` → `b` → `a`, or a union whose
      branch is the schema itself): left recursion, which llama.cpp refuses;
    - no finite value is valid (a value that must always contain another of its kind,
      through a required recursive `$ref`): a forced call would run until `max_tokens`.
    """
    converter = Converter(schema, "schema")
    rules = dict(converter.convert().rules)
    for shared in RULES:  # `space` and the like come in when fragments are assembled
        add_shared(rules, shared)
    looping = left_recursive_rules(rules)
    productive = productive_rules(rules)
    for rule, (path, reference) in converter.reference_sites.items():
        if rule in looping:
            return (
                f"{'.'.join(path)}: {reference} refers back to itself before any value is "
                "written (a cycle of references with nothing in between)"
            )
    if "schema" in productive:
        return None
    for rule, (path, reference) in converter.reference_sites.items():
        if rule not in productive:
            return (
                f"{'.'.join(path)}: {reference} can never end: every value it allows must "
                "contain another one (a required recursive reference), so no finite value "
                "is valid; make the recursion optional (not required, or in an array that "
                "may be empty)"
            )
    return "(root): no finite value is valid under this schema"


def schema_problems(schema: Mapping[str, Any]) -> list[str]:
    """Everything that keeps `schema` from being enforced exactly: [] when nothing does."""
    problems = metaschema_problems(schema)
    problems += [p for p in _convert(schema, "schema")[1] if p not in problems]
    if not problems and (degenerate := degenerate_problem(schema)) is not None:
        problems.append(degenerate)
    return problems


def schema_grammar(schema: Mapping[str, Any], prefix: str, *, strict: bool = True) -> GrammarRules:
    """Rules for one JSON value valid under `schema`; every rule name starts with `prefix`
    (or is one of the shared `space`/`json-…` rules) and `entry` is `prefix` itself.

    strict: raise UnsupportedSchema unless every constraint is enforced. Otherwise best
    effort: what cannot be enforced is left out, and the value still has the right shape."""
    _check_prefix(prefix)
    rules, problems = _convert(schema, prefix)
    if strict:
        problems = metaschema_problems(schema) + problems
        if problems:
            raise UnsupportedSchema(problems)
    return rules


def _shared_entry(prefix: str, shared: str) -> GrammarRules:
    _check_prefix(prefix)
    rules: dict[str, str] = {prefix: shared}
    add_shared(rules, shared)
    return GrammarRules(prefix, rules)


def any_json_grammar(prefix: str) -> GrammarRules:
    """Rules for any JSON value."""
    return _shared_entry(prefix, "json-value")


def any_json_object_grammar(prefix: str) -> GrammarRules:
    """Rules for any JSON object (a tool without an input schema still takes an object)."""
    return _shared_entry(prefix, "json-object")
