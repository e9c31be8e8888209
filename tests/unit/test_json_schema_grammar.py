"""JSON Schema → GBNF: problem detection, escaping, composition, integer ranges, and that
llama.cpp parses every grammar and accepts exactly the texts it should.

Acceptance is checked by llama.cpp's own grammar sampler: the text is tokenized with the
embedded model's vocabulary (loaded without weights) and fed token by token, each token
first offered as the only candidate; the text is accepted when every token survives and
an end-of-generation token is allowed at the end.
"""

from __future__ import annotations

import ctypes
import glob
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import pytest

from antiphon.chat.grammar import (
    GrammarRules,
    UnsupportedSchema,
    any_json_grammar,
    any_json_object_grammar,
    literal,
    render_grammar,
    schema_grammar,
    schema_problems,
)
from antiphon.engine.model_source import embedded_model_path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude_code"


class GrammarChecker:
    """llama.cpp's grammar parser and sampler over the embedded model's vocabulary."""

    def __init__(self) -> None:
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.model = llama_cpp.llama_model_load_from_file(str(embedded_model_path()).encode(), params)
        assert self.model, "could not load the embedded model's vocabulary"
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.end = llama_cpp.llama_vocab_eos(self.vocab)

    def parses(self, grammar: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def _tokens(self, text: str) -> list[int]:
        data = text.encode()
        buffer = (llama_cpp.llama_token * (len(data) + 8))()
        count = llama_cpp.llama_tokenize(self.vocab, data, len(data), buffer, len(data) + 8, False, False)
        return list(buffer[:count])

    @staticmethod
    def _allowed(sampler: llama_cpp.llama_sampler_p, token: int) -> bool:
        candidate = (llama_cpp.llama_token_data * 1)()
        candidate[0].id, candidate[0].logit, candidate[0].p = token, 0.0, 0.0
        array = llama_cpp.llama_token_data_array(candidate, 1, -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return not math.isinf(candidate[0].logit)

    def accepts(self, grammar: str, text: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")
        assert sampler, f"llama.cpp rejected the grammar:\n{grammar}"
        try:
            for token in self._tokens(text):
                if not self._allowed(sampler, token):  # accepting it would abort the process
                    return False
                llama_cpp.llama_sampler_accept(sampler, token)
            return self._allowed(sampler, self.end)
        finally:
            llama_cpp.llama_sampler_free(sampler)

    def close(self) -> None:
        llama_cpp.llama_model_free(self.model)


@pytest.fixture(scope="module")
def llama() -> Iterator[GrammarChecker]:
    checker = GrammarChecker()
    yield checker
    checker.close()


def grammar_of(schema: Any, strict: bool = True) -> str:
    rules = schema_grammar(schema, "value", strict=strict)
    return render_grammar(rules.entry, [rules])


READ_TOOL = {  # Claude Code 2.1.330's Read tool, descriptions shortened
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "file_path": {"description": "The absolute path to the file to read", "type": "string"},
        "offset": {"type": "integer", "minimum": 0, "maximum": 9007199254740991},
        "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 9007199254740991},
        "pages": {"type": "string"},
        "allow_large": {"type": "boolean"},
    },
    "required": ["file_path"],
    "additionalProperties": False,
}
FINDINGS_TOOL = {  # Claude Code's ReportFindings, trimmed
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "level": {"type": "string", "enum": ["low", "medium", "high", "xhigh", "max"]},
        "findings": {
            "maxItems": 32, "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": -9007199254740991,
                             "maximum": 9007199254740991},
                    "short_summary": {"type": "string", "maxLength": 60},
                    "severity": {"type": "string", "enum": ["important", "pre_existing", "nit"]},
                },
                "required": ["file", "line"],
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3},
            },
            "required": ["value"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}
SUPPORTED = [
    READ_TOOL,
    FINDINGS_TOOL,
    TREE,
    {},
    {"type": ["string", "null"], "maxLength": 3},
    {"enum": ["a", 1, None, True, {"k": [1, 2]}]},
    {"const": "quote \" backslash \\ newline \n"},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 4},
    {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "integer", "maximum": -3}]},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"oneOf": [
        {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}},
         "required": ["kind", "r"]},
        {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "number"}},
         "required": ["kind", "side"]},
    ]},
    {"allOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"properties": {"b": {"type": "integer", "minimum": 1}}, "required": ["b"]},
    ]},
    {"type": "string", "pattern": "^[A-Z]{2}-\\d{3,4}$"},
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "maxLength": 5000},
    {"definitions": {"n": {"type": "null"}}, "$ref": "#/definitions/n", "title": "t"},
]


# --- problems ----------------------------------------------------------------------------


@pytest.mark.parametrize("schema", SUPPORTED)
def test_supported_schemas_have_no_problems(schema: dict) -> None:
    assert schema_problems(schema) == []


@pytest.mark.parametrize(("schema", "path"), [
    ({"not": {"type": "string"}}, "not"),
    ({"if": {}, "then": {}, "else": {}}, "if"),
    ({"type": "object", "patternProperties": {"^x": {}}}, "patternProperties"),
    ({"type": "object", "propertyNames": {"maxLength": 3}}, "propertyNames"),
    ({"type": "object", "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
    ({"type": "object", "dependentSchemas": {"a": {}}}, "dependentSchemas"),
    ({"type": "array", "uniqueItems": True}, "uniqueItems"),
    ({"type": "array", "contains": {"type": "integer"}}, "contains"),
    ({"type": "integer", "multipleOf": 5}, "multipleOf"),
    ({"type": "object", "minProperties": 1}, "minProperties"),
    ({"type": "object", "maxProperties": 3}, "maxProperties"),
    ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
    ({"type": "array", "unevaluatedItems": False}, "unevaluatedItems"),
    ({"type": "object", "properties": {"location": {"type": "number", "minimum": 0}}},
     "properties.location.minimum"),
    ({"$ref": "https://example.com/schema.json"}, "$ref"),
    ({"type": "string", "format": "hostname"}, "format"),
    ({"type": "string", "pattern": "[a-z]+"}, "pattern"),
    ({"type": "string", "pattern": "^(?=a)a$"}, "pattern"),
    ({"type": "string", "pattern": "^a|b$"}, "pattern"),
    ({"type": "string", "pattern": "^[a-z]+$", "maxLength": 3}, "pattern"),
    ({"type": "object", "x-order": 1}, "x-order"),
    ({"oneOf": [{"type": "object", "properties": {"a": {}}}, {"type": "object"}]}, "oneOf"),
    ({"oneOf": [{"type": "string"}, {"description": "anything"}]}, "oneOf"),
    ({"type": "object", "properties": {"x": {"$ref": "#/$defs/node"}},
      "$defs": {"node": {"not": {}}}}, "$defs.node.not"),
    ({"type": "array", "items": {"items": {"type": "integer", "exclusiveMaximum": 2.5,
                                           "multipleOf": 2}}}, "items.items.multipleOf"),
    ({"type": "integer", "minimum": 5, "maximum": 4}, "(root)"),
    ({"$ref": "#/$defs/missing"}, "$ref"),
    ({"enum": []}, "(root)"),
    ({"type": "string", "enum": [1, 2]}, "(root)"),
])
def test_each_unenforceable_keyword_is_named_with_its_path(schema: dict, path: str) -> None:
    problems = schema_problems(schema)
    assert any(problem.startswith(f"{path}: ") for problem in problems), problems


@pytest.mark.parametrize(("schema", "path"), [
    ({"type": "strin"}, "type"),
    ({"type": "string", "minLength": -1}, "minLength"),
    ({"type": "object", "required": "a"}, "required"),
    ({"type": "object", "properties": {"a": 5}}, "properties.a"),
    ({"type": "string", "pattern": "^(a$"}, "pattern"),
])
def test_schemas_that_are_not_json_schema_are_problems(schema: dict, path: str) -> None:
    problems = schema_problems(schema)
    assert any(problem.startswith(f"{path}: ") for problem in problems), problems


def test_strict_raises_with_the_problems_and_best_effort_still_builds(llama: GrammarChecker) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number", "maximum": 3},
                                               "s": {"not": {}}}, "required": ["n", "s"]}
    with pytest.raises(UnsupportedSchema) as raised:
        schema_grammar(schema, "value")
    assert raised.value.problems == tuple(schema_problems(schema))
    grammar = grammar_of(schema, strict=False)
    assert llama.accepts(grammar, '{"n": 2.5, "s": "x"}')


def test_best_effort_survives_malformed_schemas(llama: GrammarChecker) -> None:
    for schema in ({"type": "strin", "properties": 5}, {"required": "a", "items": 3},
                   {"anyOf": []}, {"allOf": [{"type": "string"}, {"type": "integer"}]}):
        assert llama.parses(grammar_of(schema, strict=False)), schema


# --- literals and composition ------------------------------------------------------------


def test_literal_escapes_what_gbnf_needs_and_keeps_the_rest() -> None:
    assert literal('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert literal("a\nb\r\tc") == '"a\\nb\\r\\tc"'
    assert literal("\x00\x1f\x7f") == '"\\x00\\x1F\\x7F"'
    assert literal("héllo → 😀") == '"héllo → 😀"'


@pytest.mark.parametrize("text", ['plain', 'quote " and \\ backslash', "tab\tnew\nline",
                                  "ünïcødé 😀 中文", '{"json": [1, 2]}', "\x01\x7f"])
def test_a_literal_matches_exactly_its_text(llama: GrammarChecker, text: str) -> None:
    grammar = f"root ::= {literal(text)}\n"
    assert llama.accepts(grammar, text)
    assert not llama.accepts(grammar, text + "x")
    assert not llama.accepts(grammar, text[:-1])


def test_fragments_compose_into_one_grammar(llama: GrammarChecker) -> None:
    read = schema_grammar(READ_TOOL, "tool-read")
    findings = schema_grammar(FINDINGS_TOOL, "tool-findings")
    anything = any_json_object_grammar("tool-other")
    grammar = render_grammar(
        '"<tool_call>" space (tool-read | tool-findings | tool-other) "</tool_call>"',
        [read, findings, anything],
    )
    assert llama.parses(grammar)
    assert grammar.count("\nspace ::=") == 1 and grammar.count("\njson-char ::=") == 1
    assert all(name.startswith(("tool-read", "space", "json-")) for name in read.rules)
    assert llama.accepts(grammar, '<tool_call>{"file_path": "/a"}</tool_call>')
    assert llama.accepts(grammar, '<tool_call> {"findings": [{"file": "x", "line": -3}]}</tool_call>')
    assert llama.accepts(grammar, '<tool_call>{"anything": [null]}</tool_call>')
    assert not llama.accepts(grammar, '<tool_call>[]</tool_call>')


def test_the_root_may_use_space_whatever_the_fragments_need(llama: GrammarChecker) -> None:
    word = schema_grammar({"type": "string", "maxLength": 3}, "word")
    assert "space" not in word.rules
    grammar = render_grammar('"say:" space word', [word])
    assert llama.accepts(grammar, 'say: "hi"')


def test_conflicting_rules_and_reserved_prefixes_are_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        render_grammar("a", [GrammarRules("a", {"a": '"x"', "space": '" "'}), any_json_grammar("b")])
    for prefix in ("root", "space", "json", "json-thing", "two words", ""):
        with pytest.raises(ValueError, match="prefix"):
            schema_grammar({}, prefix)


@pytest.mark.parametrize("schema", SUPPORTED)
def test_llama_cpp_parses_every_grammar(llama: GrammarChecker, schema: dict) -> None:
    assert llama.parses(grammar_of(schema))


def test_claude_code_tool_schemas_are_enforced_exactly(llama: GrammarChecker) -> None:
    schemas: dict[str, Any] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "input_schema" in node and "name" in node:
                schemas.setdefault(node["name"], node["input_schema"])
            for child in node.values():
                collect(child)
        elif isinstance(node, list):
            for child in node:
                collect(child)

    for path in sorted(glob.glob(str(FIXTURES / "*.json"))):
        collect(json.loads(Path(path).read_text()))
    assert schemas
    for name, schema in schemas.items():
        assert schema_problems(schema) == [], name
        assert llama.parses(grammar_of(schema)), name


# --- what the grammars accept ------------------------------------------------------------


@pytest.mark.parametrize(("schema", "good", "bad"), [
    (READ_TOOL,
     ['{"file_path": "/a", "limit": 9007199254740991}', '{"file_path":"x","offset":0}',
      '{\n  "file_path": "a",\n  "pages": "1-5"\n}'],
     ['{"file_path": "/a", "limit": 0}', '{"file_path": "/a", "limit": 9007199254740992}',
      '{"offset": 1}', '{"file_path": "a", "other": 1}', '{"limit": 1, "file_path": "a"}',
      '{"file_path": "a",}', '{"file_path": "a" "pages": "b"}']),
    ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
                                       "c": {"type": "integer"}}},
     ["{}", '{"a": 1, "c": 3}', '{"b": 2}', '{"a": 1, "b": 2, "c": 3}'],
     ['{"c": 3, "a": 1}', '{,}', '{"a": 1,}', '{"a": 1 "b": 2}']),
    ({"type": "object", "properties": {"and": {"type": "string"}},
      "additionalProperties": {"type": "integer"}},
     ['{"and": "x", "an": 1, "andy": 2}', '{"": 0}', '{"b": 1, "c": 2}'],
     ['{"and": 1}', '{"x": "y"}', '{"b": 1, "and": "x"}']),
    ({"type": "string", "minLength": 1, "maxLength": 2},
     ['"é😀"', '"\\n\\t"', '"\\u00e9"', '"\\"x"'],
     ['""', '"abc"', '"\\ud83d\\ude00"', '"\x01"', '"a\nb"']),
    ({"type": "object", "properties": {"a": {"type": "null"}}},
     ['{' + "\n" + " " * 20 + '"a": null}', '{ }'],
     ['{' + " " * 2 + '"a": null}', '{' + "\n" + " " * 21 + '"a": null}', '{\n\n"a": null}']),
    (TREE, ['{"value": 1, "children": [{"value": 2, "children": []}, {"value": 3}]}'],
     ['{"value": 1, "children": [{"children": []}]}', '{"value": 1, "children": [{}, {}, {}, {}]}']),
    ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
      "items": {"type": "null"}, "minItems": 1, "maxItems": 3},
     ['[1]', '[1, "a"]', '[1, "a", null]'], ['[]', '["a"]', '[1, "a", null, null]', '[1, null]']),
    ({"anyOf": [{"type": "string", "format": "date"}, {"type": "integer", "maximum": -3}]},
     ['"2024-02-28"', '-3', '-100'], ['"2024-02-30"', '-2', '"2024-13-01"']),
    ({"type": "string", "pattern": "^[A-Z]{2}-\\d{3,4}$"},
     ['"AB-123"', '"XY-9999"'], ['"AB-12"', '"ab-123"', '"AB-12345"']),
    ({"type": "string", "pattern": '^(a"|\\\\b)+\\.$'},
     ['"a\\".\"', '"\\\\ba\\".\"'], ['"a\".\"', '"."']),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"a": {"maxLength": 1}, "b": {"const": 2}}, "required": ["b"]}]},
     ['{"a": "x", "b": 2}'], ['{"a": "xy", "b": 2}', '{"a": "x"}', '{"a": "x", "b": 3}']),
    ({"type": "string", "enum": ["yes", 1, "no"], "maxLength": 2},
     ['"no"'], ['"yes"', '1']),
    ({"type": "number"}, ['-0.5e10', '12', '1.25'], ['1e999', '01', '.5', '1.']),
])
def test_grammars_accept_valid_texts_and_reject_invalid_ones(
    llama: GrammarChecker, schema: dict, good: list[str], bad: list[str]
) -> None:
    grammar = grammar_of(schema)
    for text in good:
        assert llama.accepts(grammar, text), text
    for text in bad:
        assert not llama.accepts(grammar, text), text


# --- integer ranges (their exact languages: test_integer_range_grammar.py) -------------


def test_huge_integer_bounds_in_llama_cpp(llama: GrammarChecker) -> None:
    grammar = grammar_of({"type": "integer", "minimum": -9007199254740991, "maximum": 9007199254740991})
    for good in ("-9007199254740991", "9007199254740991", "0", "-1", "8999999999999999"):
        assert llama.accepts(grammar, good), good
    for bad in ("-9007199254740992", "9007199254740992", "-0", "10000000000000000", "007"):
        assert not llama.accepts(grammar, bad), bad
    above = grammar_of({"type": "integer", "exclusiveMinimum": 10**20})
    assert llama.accepts(above, str(10**20 + 1)) and not llama.accepts(above, str(10**20))
