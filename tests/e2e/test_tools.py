"""Tool use end to end with the official SDK on the embedded 135M model: round trips,
streamed input, and the guarantee that forced calls are schema-valid by construction."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import Server
from tests.e2e.sse_reader import named_events

MODEL = "smollm2-135m-instruct"
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
CLOCK = {
    "name": "get_time",
    "description": "Get the current time in a time zone.",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "maxLength": 30}},
        "required": ["zone"],
    },
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def tool_uses(message: Any) -> list[Any]:
    return [block for block in message.content if block.type == "tool_use"]


def test_forced_call_then_result_then_final_answer(client: anthropic.Anthropic) -> None:
    first = client.messages.create(
        model=MODEL, max_tokens=200, messages=QUESTION, tools=[WEATHER, CLOCK],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        extra_body={"seed": 1},
    )
    assert first.stop_reason == "tool_use"
    [call] = tool_uses(first)
    assert call.id.startswith("toolu_") and call.name == "get_weather"
    jsonschema.validate(call.input, WEATHER["input_schema"])

    second = client.messages.create(
        model=MODEL, max_tokens=60, tools=[WEATHER, CLOCK], extra_body={"seed": 1},
        messages=[
            *QUESTION,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 24 degrees."},
            ]},
        ],
        tool_choice={"type": "none"},
    )
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert not tool_uses(second)
    assert second.content and second.content[0].type == "text" and second.content[0].text.strip()


def test_streaming_helper_accumulates_the_same_input_as_the_plain_call(
    client: anthropic.Anthropic,
) -> None:
    request: dict[str, Any] = dict(
        model=MODEL, max_tokens=200, messages=QUESTION, tools=[WEATHER],
        tool_choice={"type": "any"}, extra_body={"temperature": 0},
    )
    plain = client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == plain.stop_reason == "tool_use"
    assert [c.input for c in tool_uses(streamed)] == [c.input for c in tool_uses(plain)]
    assert [c.name for c in tool_uses(streamed)] == [c.name for c in tool_uses(plain)]


def test_input_json_deltas_join_into_the_exact_input(server: Server) -> None:
    body = {
        "model": MODEL, "max_tokens": 200, "stream": True, "messages": QUESTION,
        "tools": [WEATHER], "tool_choice": {"type": "any"}, "seed": 7,
    }
    with httpx.stream(
        "POST", f"{server.base_url}/v1/messages", json=body, headers=server.headers(), timeout=60
    ) as response:
        events = [data for _, data in named_events(response) if data["type"] != "ping"]
    starts = [e for e in events if e["type"] == "content_block_start"]
    tool_index = next(e["index"] for e in starts if e["content_block"]["type"] == "tool_use")
    start = next(e for e in starts if e["index"] == tool_index)
    assert start["content_block"]["input"] == {}
    fragments = [
        e["delta"]["partial_json"] for e in events
        if e["type"] == "content_block_delta" and e["index"] == tool_index
    ]
    assert all(e["delta"]["type"] == "input_json_delta" for e in events
               if e["type"] == "content_block_delta" and e["index"] == tool_index)
    jsonschema.validate(json.loads("".join(fragments)), WEATHER["input_schema"])
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_tool_choice_none_never_calls(client: anthropic.Anthropic) -> None:
    for seed in range(4):
        message = client.messages.create(
            model=MODEL, max_tokens=80, tools=[WEATHER], tool_choice={"type": "none"},
            messages=[{"role": "user", "content": "Call get_weather for Paris now."}],
            extra_body={"seed": seed},
        )
        assert not tool_uses(message) and message.stop_reason in ("end_turn", "max_tokens")
        assert all("<tool_call>" not in block.text for block in message.content)


def test_disable_parallel_tool_use_makes_exactly_one_call(client: anthropic.Anthropic) -> None:
    for seed in range(3):
        message = client.messages.create(
            model=MODEL, max_tokens=200, tools=[WEATHER, CLOCK], extra_body={"seed": seed},
            messages=[{"role": "user", "content": "Weather in Paris and the time in Tokyo?"}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )
        assert len(tool_uses(message)) == 1 and message.stop_reason == "tool_use"


def test_count_tokens_matches_generation_with_tools(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=QUESTION, tools=[WEATHER, CLOCK])
    plain = client.messages.count_tokens(model=MODEL, messages=QUESTION)
    message = client.messages.create(
        model=MODEL, max_tokens=1, messages=QUESTION, tools=[WEATHER, CLOCK]
    )
    assert counted.input_tokens == message.usage.input_tokens > plain.input_tokens + 50


# ----- the guarantee: forced calls are valid under any supported schema, for any seed -----

LEAF = st.one_of(
    st.just({"type": "integer", "minimum": -50, "maximum": 1000}),
    st.just({"type": "boolean"}),
    st.just({"type": "string", "maxLength": 12}),
    st.just({"type": "string", "enum": ["red", "green", "blue"]}),
    st.just({"type": "number"}),
    st.just({"type": ["string", "null"], "maxLength": 8}),
    st.just({"type": "integer", "exclusiveMinimum": 0, "maximum": 9007199254740991}),
)
NAMES = st.text("abcdefgh_", min_size=1, max_size=8)


def objects(values: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    def build(properties: dict[str, dict], required: list[bool], closed: bool) -> dict:
        names = list(properties)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [n for n, r in zip(names, required) if r],
        }
        if closed:
            schema["additionalProperties"] = False
        return schema

    return st.dictionaries(NAMES, values, min_size=1, max_size=3).flatmap(
        lambda props: st.builds(
            build, st.just(props), st.lists(st.booleans(), min_size=len(props), max_size=len(props)),
            st.booleans(),
        )
    )


VALUES = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        objects(inner), st.builds(lambda i: {"type": "array", "items": i, "maxItems": 3}, inner)
    ),
    max_leaves=5,
)


# No shrinking: each example is a real generation, and the failing one is printed as found.
@settings(
    max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@given(schema=objects(VALUES), seed=st.integers(0, 2**31 - 1), strict=st.booleans())
def test_forced_calls_validate_against_any_supported_schema(
    client: anthropic.Anthropic, schema: dict, seed: int, strict: bool
) -> None:
    tool = {"name": "record", "description": "Record the data.", "input_schema": schema, "strict": strict}
    # The grammar bounds a call's length (strings of at most 12 characters, at most 3 items,
    # at most 21 characters of whitespace between tokens), but not to 400 tokens: a 135M model
    # can spend that many on newlines, indentation and \u escapes; 1,536 leaves room for them.
    message = client.messages.create(
        model=MODEL, max_tokens=1536, tools=[tool], tool_choice={"type": "tool", "name": "record"},
        messages=[{"role": "user", "content": "Record some example data."}],
        extra_body={"seed": seed},
    )
    assert message.stop_reason == "tool_use", message
    calls = tool_uses(message)
    assert calls and all(call.name == "record" for call in calls)
    for call in calls:
        jsonschema.validate(call.input, schema)


def test_a_seeded_call_under_a_grammar_is_reproducible_when_served_alone(
    client: anthropic.Anthropic, server: Server
) -> None:
    """Sampled at temperature 1 with a seed, one request at a time: the same call every time,
    the first from a cold prompt and the others from the prefix cache. (Served beside other
    requests, a batch of another shape may change the logits' last bits, as in llama.cpp.)"""
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "maxItems": 3, "items": {
                "type": "object", "required": ["x"],
                "properties": {"x": {"type": "number"}, "label": {"type": ["string", "null"], "maxLength": 8}},
            }},
            "done": {"type": "boolean"},
        },
        "required": ["items"],
    }
    tool = {"name": "record", "description": "Record the data.", "input_schema": schema}
    nonce = uuid.uuid4().hex  # a prompt no earlier test cached: the first run prefills it all
    answers = []
    for _ in range(3):
        server.wait_idle()
        message = client.messages.create(
            model=MODEL, max_tokens=1536, tools=[tool], tool_choice={"type": "tool", "name": "record"},
            messages=[{"role": "user", "content": f"Record some example data. ({nonce})"}],
            extra_body={"seed": 103582226, "temperature": 1.0},
        )
        answers.append(([call.input for call in tool_uses(message)], message.usage.output_tokens))
    assert answers[0][0] and answers[1] == answers[0] and answers[2] == answers[0], answers


# ----- refusals: each invalid combination gets its own 400 ---------------------------------

ENDLESS = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "next": {"$ref": "#"}},
    "required": ["name", "next"],
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name: `nope` is not one of the tools"),
        ({"tools": [{**WEATHER, "input_schema": {"type": "string"}}]}, "tools.0.input_schema.type"),
        ({"tools": [{**WEATHER, "input_schema": {"type": "object", "properties": 3}}]}, "not a valid JSON Schema"),
        ({"tools": [WEATHER, WEATHER]}, "tools.1.name: `get_weather` is defined twice"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "server tool"),
        ({"tools": [{**WEATHER, "strict": True, "input_schema": {"type": "object", "not": {"required": ["a"]}}}]}, "tools.0.input_schema: this schema cannot be enforced"),
        ({"tool_choice": {"type": "any"}, "tools": []}, "tool_choice: `any` needs at least one tool"),
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "thinking.budget_tokens: must be at least 1024"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "must be less than max_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2000, "tool_choice": {"type": "any"}}, "tool_choice forces tool use"),
        ({"output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "patternProperties": {"a": {}}}}}}, "output_config.format.schema: this schema cannot be enforced"),
        # No finite value fits a required recursion: a forced call would run to max_tokens.
        ({"tool_choice": {"type": "any"}, "tools": [{**WEATHER, "input_schema": ENDLESS}]}, "tools.0.input_schema: no grammar can serve this schema: properties.next.$ref: # can never end"),
        ({"tools": [{**WEATHER, "input_schema": {"type": "object", "properties": {"n": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}}]}, "tools.0.input_schema: no grammar can serve this schema: properties.n.$ref: #/$defs/a refers back to itself"),
        ({"output_config": {"format": {"type": "json_schema", "schema": ENDLESS}}}, "output_config.format.schema: this schema cannot be enforced: properties.next.$ref: # can never end"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}]}]}, "messages.0.content.0.tool_use_id: `toolu_x` matches no tool_use block"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]}, "does not support images"),
    ],
)
def test_invalid_combinations_are_400_saying_which(
    server: Server, changes: dict, expected: str
) -> None:
    body = {"model": MODEL, "max_tokens": 100, "messages": QUESTION, "tools": [WEATHER], **changes}
    response = httpx.post(f"{server.base_url}/v1/messages", json=body, headers=server.headers())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert expected in error["message"]
