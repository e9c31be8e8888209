"""Our JSON-Schema-to-grammar converter against llama.cpp's own (its Python port, shipped in
the pinned llama-cpp-python as `llama_cpp.llama_grammar.json_schema_to_gbnf`), on generated
schemas: where both convert a schema, both grammars accept every generated valid value and
reject every generated invalid one, judged by llama.cpp's grammar sampler token by token.

The schemas stay where both converters mean to be exact and agree on layout: no integer
bounds (the port does not enforce them yet), required properties declared before optional ones
(llama.cpp writes required ones first), and values written compactly with plain numbers
(the two differ on exponent spellings such as `1e-05`, which neither model is likely to
write). Each mismatch found is a bug in one converter or the other.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_cpp.llama_grammar import json_schema_to_gbnf

from antiphon.chat.grammar import render_grammar, schema_grammar
from tests.unit.test_json_schema_grammar import GrammarChecker

_CHECKER: GrammarChecker | None = None


def checker() -> GrammarChecker:
    global _CHECKER
    if _CHECKER is None:
        _CHECKER = GrammarChecker()
    return _CHECKER


NAMES = st.sampled_from(["a", "b", "name", "count", "tags", "x_y"])
WORDS = st.text(alphabet="abcxyz 019", min_size=0, max_size=6)

LEAVES = st.one_of(
    st.just({"type": "integer"}),
    st.just({"type": "number"}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.integers(1, 8).map(lambda n: {"type": "string", "maxLength": n}),
    st.just({"type": "string"}),
    st.lists(st.sampled_from(["red", "green", "blue", "x"]), min_size=1, max_size=3, unique=True)
    .map(lambda values: {"enum": values}),
)


def _objects(values: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    def build(properties: dict[str, dict], required_count: int, closed: bool) -> dict:
        names = list(properties)  # required ones first, as llama.cpp orders them
        schema: dict[str, Any] = {"type": "object", "properties": properties,
                                  "required": names[:required_count]}
        if closed:
            schema["additionalProperties"] = False
        return schema

    return st.dictionaries(NAMES, values, min_size=1, max_size=3).flatmap(
        lambda props: st.builds(build, st.just(props), st.integers(0, len(props)), st.booleans())
    )


SCHEMAS = _objects(st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        _objects(inner),
        st.tuples(inner, st.integers(0, 2), st.integers(2, 4)).map(
            lambda t: {"type": "array", "items": t[0], "minItems": t[1], "maxItems": t[2]}),
    ),
    max_leaves=4,
))


def valid_value(schema: dict, draw: st.DrawFn) -> Any:
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"]))
    kind = schema["type"]
    if kind == "integer":
        return draw(st.integers(-999, 999))
    if kind == "number":
        return draw(st.sampled_from([0, -3, 12, 1.5, -0.25, 3.125]))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "null":
        return None
    if kind == "string":
        return draw(st.text(alphabet='abc xyz"\\\n', max_size=schema.get("maxLength", 6)))
    if kind == "array":
        count = draw(st.integers(schema["minItems"], schema["maxItems"]))
        return [valid_value(schema["items"], draw) for _ in range(count)]
    value = {}
    for name, sub in schema["properties"].items():
        if name in schema["required"] or draw(st.booleans()):
            value[name] = valid_value(sub, draw)
    return value


def invalid_value(schema: dict, draw: st.DrawFn) -> Any | None:
    """A value that breaks the schema at one place, or None when there is no such place."""
    if "enum" in schema:
        return "not-listed"
    kind = schema["type"]
    if kind in ("integer", "number", "boolean", "null"):
        return "text" if kind != "null" else 0
    if kind == "string":
        return "z" * (schema["maxLength"] + 1) if "maxLength" in schema else 7
    if kind == "array":
        return [valid_value(schema["items"], draw) for _ in range(schema["maxItems"] + 1)]
    value = valid_value(schema, draw)
    if schema["required"]:
        del value[schema["required"][0]]  # a required property missing
        return value
    if schema.get("additionalProperties") is False:
        value["zz_extra"] = 1
        return value
    name = next(iter(schema["properties"]))
    broken = invalid_value(schema["properties"][name], draw)
    return None if broken is None else {**value, name: broken}


def _ours(schema: dict) -> str:
    rules = schema_grammar(schema, "value", strict=True)
    return render_grammar(rules.entry, [rules])


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(schema=SCHEMAS, data=st.data())
def test_both_converters_accept_and_reject_the_same_values(schema: dict, data: st.DataObject) -> None:
    try:
        theirs = json_schema_to_gbnf(json.dumps(schema))
    except Exception:  # llama.cpp's converter refuses it: nothing to compare
        return
    ours = _ours(schema)
    llama = checker()
    for _ in range(3):
        text = json.dumps(valid_value(schema, data.draw), separators=(",", ":"))
        assert llama.accepts(ours, text), (schema, text)
        assert llama.accepts(theirs, text), (schema, text)
    broken = invalid_value(schema, data.draw)
    if broken is not None:
        text = json.dumps(broken, separators=(",", ":"))
        assert not llama.accepts(ours, text), (schema, text)
        assert not llama.accepts(theirs, text), (schema, text)
