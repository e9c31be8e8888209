"""Grammars for constrained decoding: llama.cpp's GBNF, and JSON Schema converted to it.

    rules = schema_grammar(tool.input_schema, "tool-get-weather")
    text = render_grammar(f'"<tool_call>" space {rules.entry} "</tool_call>"', [rules])
"""

from antiphon.chat.grammar.gbnf import GrammarRules, literal, render_grammar
from antiphon.chat.grammar.json_schema import (
    UnsupportedSchema,
    any_json_grammar,
    any_json_object_grammar,
    metaschema_problems,
    schema_grammar,
    schema_problems,
)

__all__ = [
    "GrammarRules",
    "UnsupportedSchema",
    "any_json_grammar",
    "any_json_object_grammar",
    "literal",
    "metaschema_problems",
    "render_grammar",
    "schema_grammar",
    "schema_problems",
]
