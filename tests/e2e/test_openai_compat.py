"""`/v1/chat/completions` and OpenAI-shaped `/v1/models`, driven by the official `openai` SDK
(and LangChain's `ChatOpenAI`) against a real `antiphon serve`, as OpenAI-shaped code uses it."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import jsonschema
import openai
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m-instruct"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 20}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": WEATHER, "strict": True}}]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"},
                   "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}},
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


def _client(server: Server, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key or server.api_key, max_retries=0)


def _ask(server: Server, content: str = "Say hi", **extra: object) -> openai.types.chat.ChatCompletion:
    return _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], **extra)  # type: ignore[arg-type]


def test_a_completion_has_openai_shape_and_native_usage(server: Server) -> None:
    answer = _ask(server, max_tokens=12, temperature=0)
    assert answer.id.startswith("chatcmpl-") and answer.object == "chat.completion"
    choice = answer.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = answer.usage
    assert usage is not None and usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens >= 0


def test_system_and_developer_messages_are_hoisted_into_one_system_prompt(server: Server) -> None:
    messages = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hello"},
                {"role": "developer", "content": "Answer in French."}]
    answer = _client(server).chat.completions.create(model=MODEL, messages=messages, max_tokens=1)  # type: ignore[arg-type]
    counted = httpx.post(
        f"{server.base_url}/v1/messages/count_tokens", headers=server.headers(), timeout=30,
        json={"model": MODEL, "system": "You are terse.\nAnswer in French.",
              "messages": [{"role": "user", "content": "Hello"}]})
    assert answer.usage is not None and answer.usage.prompt_tokens == counted.json()["input_tokens"]


def test_a_stream_gives_the_same_text_and_usage_last_when_asked(server: Server) -> None:
    kwargs = {"max_tokens": 24, "temperature": 0, "seed": 5}
    whole = _ask(server, "Name three colours.", **kwargs)
    stream = _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name three colours."}], stream=True,
        stream_options={"include_usage": True}, **kwargs)  # type: ignore[arg-type]
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finished == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_thinking_through_extra_body_thinks_but_shows_only_the_answer(server: Server) -> None:
    answer = _ask(server, "Is 7 prime?", max_tokens=1100, seed=3,
                  extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}})
    shown = answer.choices[0].message.content or ""
    assert shown

    def tokens(text: str) -> int:
        counted = httpx.post(f"{server.base_url}/v1/messages/count_tokens", headers=server.headers(),
                             json={"model": MODEL, "messages": [{"role": "user", "content": text}]})
        return int(counted.json()["input_tokens"])

    # Every generated token is counted; those not shown are the thinking.
    assert answer.usage is not None
    assert answer.usage.completion_tokens > tokens(shown) - tokens("") + 16


def test_a_stop_sequence_ends_the_answer(server: Server) -> None:
    prompt = "Count from 1 to 10."
    text = _ask(server, prompt, max_tokens=40, temperature=0).choices[0].message.content or ""
    stop = next(word for word in text.split()[1:] if text.index(word) > 0)  # non-whitespace
    stopped = _ask(server, prompt, max_tokens=40, temperature=0, stop=[stop, "  "])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[: text.index(stop)]


def test_a_forced_tool_call_round_trip(server: Server) -> None:
    client = _client(server)
    messages: list[dict] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, max_tokens=200, temperature=0,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'}]
    second = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, tool_choice="none", max_tokens=30)  # type: ignore[arg-type]
    assert second.choices[0].finish_reason in ("stop", "length")
    assert second.choices[0].message.content and not second.choices[0].message.tool_calls


def test_required_tool_calls_stream_their_arguments_by_index(server: Server) -> None:
    stream = _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Oslo and Rome?"}],
        tools=TOOLS, tool_choice="required", max_tokens=300, temperature=0, stream=True)  # type: ignore[arg-type]
    calls: dict[int, dict[str, str]] = {}
    reasons = []
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
        reasons += [chunk.choices[0].finish_reason] if chunk.choices[0].finish_reason else []
    assert reasons == ["tool_calls"] and calls
    for call in calls.values():
        assert call["id"].startswith("toolu_") and call["name"] == "get_weather"
        jsonschema.validate(json.loads(call["arguments"]), WEATHER)


@pytest.mark.parametrize("seed", range(4))
def test_strict_outputs_always_validate(server: Server, seed: int) -> None:
    """response_format json_schema and strict functions: the native grammar guarantee, at
    temperature 1 (the schemas bound every string, so the grammar bounds the output)."""
    formatted = _ask(server, "Describe a person.", max_tokens=400, temperature=1.0, seed=seed,
                     response_format={"type": "json_schema",
                                      "json_schema": {"name": "person", "schema": PERSON, "strict": True}})
    assert formatted.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(formatted.choices[0].message.content or ""), PERSON)
    called = _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather somewhere?"}], tools=TOOLS,
        tool_choice="required", max_tokens=400, temperature=1.0, seed=seed)  # type: ignore[arg-type]
    assert called.choices[0].finish_reason == "tool_calls" and called.choices[0].message.tool_calls
    for call in called.choices[0].message.tool_calls:
        jsonschema.validate(json.loads(call.function.arguments), WEATHER)


def test_json_object_mode_answers_a_json_object(server: Server) -> None:
    answer = _ask(server, 'What is 2+2? Answer as a JSON object with key "answer".', max_tokens=200, temperature=0,
                  response_format={"type": "json_object"})
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


def test_deprecated_functions_answer_with_a_function_call(server: Server) -> None:
    answer = _client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Lima?"}], max_tokens=200, temperature=0,
        functions=[TOOLS[0]["function"]], function_call={"name": "get_weather"})  # type: ignore[arg-type,list-item]
    choice = answer.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.function_call is not None
    jsonschema.validate(json.loads(choice.message.function_call.arguments), WEATHER)


def test_refusals_take_openai_shape_and_status(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(server, n=2)
    assert refused.value.body["message"] == "n: only 1 is supported, got 2"  # type: ignore[index]
    assert refused.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="not served here"):
        _client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="images"):
        _client(server).chat.completions.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}])
    with pytest.raises(openai.AuthenticationError) as unknown:
        _ask(_with_key(server, "sk-wrong"), max_tokens=2)
    assert unknown.value.status_code == 401 and unknown.value.code == "invalid_api_key"
    bad_json = httpx.post(f"{server.base_url}/v1/chat/completions", content=b"{", timeout=10,
                          headers={"authorization": f"Bearer {server.api_key}", "content-type": "application/json"})
    assert bad_json.status_code == 400 and set(bad_json.json()) == {"error"}
    assert bad_json.headers["request-id"]


def _with_key(server: Server, key: str) -> Server:
    return Server(server.base_url, key, server.model, server.log_path)


def test_models_answer_in_the_shape_each_sdk_expects(server: Server) -> None:
    listed = _client(server).models.list()
    ids = [model.id for model in listed]
    assert MODEL in ids and "smol-copy" in ids
    assert all(model.object == "model" and model.owned_by == "antiphon" for model in listed)
    one = _client(server).models.retrieve(MODEL)
    assert one.id == MODEL and one.created > 1_600_000_000
    native = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key).models.list()
    assert {model.id for model in native.data} == set(ids) and native.data[0].type == "model"
    with pytest.raises(openai.NotFoundError):
        _client(server).models.retrieve("no-such-model")


def test_a_client_that_disconnects_mid_stream_aborts_its_sequence(tight_server: Server) -> None:
    before = tight_server.wait_idle()["aborted_total"]
    stream = _client(tight_server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a very long essay about rivers."}],
        max_tokens=400, temperature=1.0, seed=3, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and tight_server.engine_stats()["aborted_total"] == before:
        time.sleep(0.1)
    stats = tight_server.wait_idle()
    assert stats["aborted_total"] == before + 1


def test_langchain_chat_openai_calls_a_tool_and_reads_its_result(server: Server) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city; unit is celsius or fahrenheit."""
        return f"21 degrees {unit} in {city}"

    chat = ChatOpenAI(model=MODEL, base_url=f"{server.base_url}/v1", api_key=server.api_key,  # type: ignore[arg-type]
                      max_tokens=200, temperature=0, max_retries=0)
    with_tools = chat.bind_tools([get_weather], tool_choice="get_weather")
    history = [HumanMessage("What is the weather in Paris, in celsius?")]
    call_message = with_tools.invoke(history)
    assert call_message.tool_calls and call_message.tool_calls[0]["name"] == "get_weather"
    call = call_message.tool_calls[0]
    result = get_weather.invoke(call["args"])
    answer = chat.invoke([*history, call_message, ToolMessage(result, tool_call_id=call["id"])])
    assert isinstance(answer.content, str) and answer.content
