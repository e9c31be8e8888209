"""The walk from a JSON Schema to grammar rules: one rule per schema node, `$ref` targets
converted once (so recursive schemas become recursive rules), and a problem recorded, with
its path, wherever the grammar cannot enforce what the schema says.

The converter always finishes: where it cannot enforce something it generates the
unconstrained value of the right shape instead. `json_schema.py` decides whether the
recorded problems are fatal (strict) or ignored (best effort).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator

from antiphon.chat.grammar import values
from antiphon.chat.grammar.gbnf import GrammarRules, is_rule_name, literal, rule_name_part
from antiphon.chat.grammar.keywords import constraining, generated_types, keyword_problems
from antiphon.chat.grammar.merge import Path, flatten, has_literals, literal_values
from antiphon.chat.grammar.objects import object_body
from antiphon.chat.grammar.primitives import add_shared
from antiphon.chat.grammar.unions import union_body

_BUILDERS = {
    "object": object_body,
    "array": values.array_body,
    "string": values.string_body,
    "integer": values.integer_body,
    "number": values.number_body,
    "boolean": lambda converter, _node, _site: converter.shared("json-boolean"),
    "null": lambda converter, _node, _site: converter.shared("json-null"),
}


@dataclass(frozen=True)
class Site:
    """Where a schema node sits: its keyword path (for problem messages) and the pieces of
    the name its rule gets (property names and roles, shorter than the path)."""

    path: Path
    name: tuple[str, ...]

    def at(self, *keys: str, name: str) -> Site:
        return Site((*self.path, *keys), (*self.name, name))


def json_text(value: Any) -> str:
    """Compact JSON, non-ASCII kept: the spelling a model most likely writes itself."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Converter:
    def __init__(self, root: Any, prefix: str) -> None:
        self.root = root
        self.prefix = prefix
        self.rules: dict[str, str] = {prefix: ""}  # the entry rule, filled in by convert()
        self.problems: list[str] = []
        self._references: dict[str, str] = {}
        # The rule made for each `$ref` target → where the reference was first met, and it.
        self.reference_sites: dict[str, tuple[Path, str]] = {}
        self._validator = Draft202012Validator(root if isinstance(root, Mapping | bool) else {})

    def convert(self) -> GrammarRules:
        self.rules[self.prefix] = self.body(self.root, Site((), ()))
        return GrammarRules(self.prefix, self.rules)

    # -- bookkeeping ------------------------------------------------------------------

    def problem(self, path: Path, message: str) -> None:
        text = f"{'.'.join(path) or '(root)'}: {message}"
        if text not in self.problems:
            self.problems.append(text)

    def check_keywords(self, schema: Mapping[str, Any], path: Path) -> None:
        for keyword, message in keyword_problems(schema):
            self.problem((*path, keyword), message)

    def shared(self, name: str) -> str:
        return add_shared(self.rules, name)

    def add_rule(self, name: tuple[str, ...], body: str) -> str:
        """Register `body` under a name built from `name` (made unique, unless an identical
        rule already has it) and return the name."""
        base = "-".join([self.prefix, *(rule_name_part(part) for part in name)])
        candidate, counter = base, 0
        while candidate in self.rules and self.rules[candidate] != body:
            counter += 1
            candidate = f"{base}-{counter}"
        self.rules[candidate] = body
        return candidate

    def is_valid(self, value: Any, schema: Any) -> bool:
        try:
            return bool(self._validator.evolve(schema=schema).is_valid(value))
        except Exception:  # a malformed schema (already reported by the metaschema check)
            return False

    # -- the walk ---------------------------------------------------------------------

    def value(self, schema: Any, site: Site) -> str:
        """A rule name for the values valid under `schema`."""
        body = self.body(schema, site)
        return body if is_rule_name(body) else self.add_rule(site.name, body)

    def body(self, schema: Any, site: Site) -> str:
        """A rule body for the values valid under `schema`."""
        if not isinstance(schema, Mapping):
            return self.boolean_body(schema, site)
        if has_literals(schema):
            return self.literals(schema, literal_values(schema), site)
        self.check_keywords(schema, site.path)
        if set(constraining(schema)) - {"$defs", "definitions"} == {"$ref"}:
            return self.reference(schema["$ref"], site)
        return self.flat_body(flatten(schema, site.path, self), schema, site)

    def flat_body(self, node: Any, original: Any, site: Site) -> str:
        """A rule body for `node`, a schema with allOf and $ref merged in; `original` is the
        schema it came from, against which listed values are validated."""
        if not isinstance(node, Mapping):
            return self.boolean_body(node, site)
        if has_literals(node):
            return self.literals(original, literal_values(node), site)
        if not constraining(node):
            return self.shared("json-value")
        if "anyOf" in node or "oneOf" in node:
            return union_body(self, node, site)
        kinds = generated_types(node)
        if not kinds:
            self.problem((*site.path, "type"), "no type is allowed: no value is valid")
            return self.shared("json-null")
        return " | ".join(_BUILDERS[kind](self, node, site) for kind in kinds)

    def boolean_body(self, schema: Any, site: Site) -> str:
        if schema is False:
            self.problem(site.path, "the schema false allows no value")
            return self.shared("json-null")
        return self.shared("json-value")

    def literals(self, schema: Any, candidates: list[Any], site: Site) -> str:
        """The listed values (enum/const) that are valid under the whole schema: exact,
        whatever other keywords sit next to the list. Each value is checked against the
        lists once between them, and against the other keywords with one validator: checking
        each against the whole schema scans the enum for every value (20,000 values: 12 s)."""
        valid = self._listed_and_valid(schema, candidates)
        if not valid:
            self.problem(site.path, "none of the listed values (enum/const) is valid")
            valid = candidates
        texts: list[str] = []
        for value in valid:
            try:
                texts.append(literal(json_text(value)))
            except (TypeError, ValueError):
                self.problem(site.path, f"{value!r} is not a JSON value")
        return " | ".join(dict.fromkeys(texts)) or self.shared("json-null")

    def _listed_and_valid(self, schema: Any, candidates: list[Any]) -> list[Any]:
        if not isinstance(schema, Mapping):
            return [value for value in candidates if self.is_valid(value, schema)]
        lists = {key: schema[key] for key in ("const", "enum") if key in schema}
        rest = {key: value for key, value in schema.items() if key not in lists}
        try:
            others = self._validator.evolve(schema=rest)
        except Exception:  # a malformed schema (already reported by the metaschema check)
            return []
        in_enum = self._validator.evolve(schema={"enum": lists["enum"]}) if "enum" in lists else None
        valid = []
        for index, value in enumerate(candidates):
            from_const = "const" in lists and index == 0
            if "const" in lists and not from_const and not self.is_valid(value, {"const": lists["const"]}):
                continue
            if from_const and in_enum is not None and not in_enum.is_valid(value):
                continue
            if others.is_valid(value):
                valid.append(value)
        return valid

    def reference(self, reference: Any, site: Site) -> str:
        """The rule for a `$ref` target, converted the first time it is met. Its name is
        registered before its body is built, so a recursive schema refers back to it."""
        if isinstance(reference, str) and reference in self._references:
            return self._references[reference]
        resolved = self.resolve(reference, (*site.path, "$ref"))
        if resolved is None:
            return self.shared("json-value")
        target, target_path = resolved
        name = self.add_rule(("ref", *target_path), f"<pending {reference}>")
        self._references[reference] = name
        self.reference_sites[name] = ((*site.path, "$ref"), str(reference))
        body = self.body(target, Site(target_path, ("ref", *target_path)))
        if body == name:
            self.problem((*site.path, "$ref"), f"{reference} refers only to itself")
            body = self.shared("json-value")
        self.rules[name] = body
        return name

    def resolve(self, reference: Any, path: Path) -> tuple[Any, Path] | None:
        found = self.lookup(reference)
        if isinstance(found, str):
            self.problem(path, found)
            return None
        return found

    def lookup(self, reference: Any) -> tuple[Any, Path] | str:
        """A local reference (`#`, `#/$defs/name`, any JSON pointer into this document)
        → its target and the target's path; or why it cannot be followed."""
        if not isinstance(reference, str) or not reference.startswith("#"):
            return f"{reference!r}: only references within the schema (#/…) are supported"
        pointer = unquote(reference[1:])
        if pointer and not pointer.startswith("/"):
            return f"{reference!r}: references to anchors are not supported"
        parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:])
        target = self.root
        for part in parts:
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return f"{reference!r} does not resolve within the schema"
        return target, parts
