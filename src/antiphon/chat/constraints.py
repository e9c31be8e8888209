"""The grammar a request's answer must follow, if any.

- `tool_choice` `any` or `tool`: the answer is a tool call block, from its first token.
- `auto`: the answer is free until the model opens a call; from the opening tag on, the call
  must follow the grammar (a lazy grammar), so its input parses and fits the tool's schema.
- `output_config.format`: the answer is JSON valid under the schema (or, with tools in
  `auto`, either that JSON or a call block).
Inputs of `strict` tools and output schemas are enforced exactly: a schema feature the
grammar cannot enforce is refused with a 400 naming it. Other tools' schemas are enforced as
far as they can be (always valid JSON of the right shape).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from antiphon.chat.grammar.gbnf import GrammarRules, literal, render_grammar
from antiphon.chat.grammar.json_schema import schema_grammar, schema_problems
from antiphon.chat.tool_calls.base import ToolFormat
from antiphon.chat.tool_specs import ToolPolicy, ToolSpec, canonical_json
from antiphon.engine.base import Grammar
from antiphon.errors import InvalidRequest

# Parallel calls per answer. Without a bound, a small model under a grammar that allows
# "another call" may keep writing calls until max_tokens.
MAX_PARALLEL_CALLS = 5
_GLUE = "glue-ws"
_GLUE_RULE = GrammarRules(entry=_GLUE, rules={_GLUE: "[ \\t\\n]{0,8}"})


# Agents send the same tools with every request: each schema is checked and converted once.
@functools.lru_cache(maxsize=1024)
def _problems(schema_json: str) -> tuple[str, ...]:
    return tuple(schema_problems(json.loads(schema_json)))


@functools.lru_cache(maxsize=1024)
def _rules(schema_json: str, prefix: str, strict: bool) -> GrammarRules:
    return schema_grammar(json.loads(schema_json), prefix, strict=strict)


def check_enforceable(schema_key: str, path: str) -> None:
    """400 unless the grammar can enforce every part of the schema (canonical JSON)."""
    problems = _problems(schema_key)
    if problems:
        listed = "; ".join(problems[:10])
        raise InvalidRequest(f"{path}: this schema cannot be enforced: {listed}")


def check_strict_tools(tools: Sequence[ToolSpec]) -> None:
    for index, tool in enumerate(tools):
        if tool.strict:
            check_enforceable(tool.schema_key, f"tools.{index}.input_schema")


def _call_rule(tool: ToolSpec, index: int, fragments: list[GrammarRules]) -> str:
    arguments = _rules(tool.schema_key, f"tool{index}", tool.strict)
    fragments.append(arguments)
    g = _GLUE
    return (
        f'"{{" {g} "\\"name\\"" {g} ":" {g} {literal(_json_string(tool.name))} {g} "," {g} '
        f'"\\"arguments\\"" {g} ":" {g} {arguments.entry} {g} "}}"'
    )


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _calls_rules(
    tool_format: ToolFormat, tools: Sequence[ToolSpec], policy: ToolPolicy
) -> tuple[str, list[GrammarRules]]:
    """The body of a rule for a whole block of calls, and the rules it uses."""
    fragments: list[GrammarRules] = [_GLUE_RULE]
    chosen = [tool for tool in tools if policy.forced_name in (None, tool.name)]
    calls = [_call_rule(tool, index, fragments) for index, tool in enumerate(chosen)]
    fragments.append(GrammarRules("call", {"call": " | ".join(f"( {c} )" for c in calls)}))
    g, open_tag, close_tag = _GLUE, literal(tool_format.open_tag), literal(tool_format.close_tag)
    if tool_format.calls_in_list:
        more = f' ( {g} "," {g} call ){{0,{MAX_PARALLEL_CALLS - 1}}}' if policy.parallel else ""
        return f'{open_tag} {g} "[" {g} call{more} {g} "]" {g} {close_tag}', fragments
    tagged = f"{open_tag} {g} call {g} {close_tag}"
    if not policy.parallel:
        return tagged, fragments
    return f"{tagged} ( {g} {tagged} ){{0,{MAX_PARALLEL_CALLS - 1}}}", fragments


def answer_grammar(
    tool_format: ToolFormat,
    tools: Sequence[ToolSpec],
    policy: ToolPolicy,
    output_schema: Mapping[str, Any] | None,
) -> Grammar | None:
    calls_offered = bool(tools) and policy.mode != "none"
    if not calls_offered and output_schema is None:
        return None
    fragments: list[GrammarRules] = []
    alternatives: list[str] = []
    if calls_offered:
        calls_body, call_fragments = _calls_rules(tool_format, tools, policy)
        fragments.extend(call_fragments)
        alternatives.append(calls_body)
    if output_schema is not None and not policy.must_call:
        answer = _rules(canonical_json(output_schema), "answer", True)
        fragments.extend([_GLUE_RULE, answer])
        alternatives.append(f"{_GLUE} {answer.entry}")
    root = " | ".join(f"( {alternative} )" for alternative in alternatives)
    gbnf = render_grammar(root, fragments)
    lazy = calls_offered and policy.mode == "auto" and output_schema is None
    return Grammar(gbnf, lazy_triggers=(tool_format.open_tag,) if lazy else ())
