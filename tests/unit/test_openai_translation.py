"""OpenAI chat requests into the native request, and the native stream into chunks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from antiphon.errors import InvalidRequest
from antiphon.http.openai.request import to_messages_request, uses_functions
from antiphon.http.openai.response import to_chunks
from antiphon.protocol.messages import Message, OutputTextBlock, OutputToolUseBlock, Usage
from antiphon.protocol.openai import ChatCompletionRequest
from antiphon.protocol.openai_responses import ChatCompletionChunk
from antiphon.protocol.streaming import (
    ContentBlockDelta,
    ContentBlockStart,
    DeltaUsage,
    InputJSONDelta,
    MessageDelta,
    MessageDeltaBody,
    MessageStart,
    MessageStop,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def _native(**body: Any) -> Any:
    request = ChatCompletionRequest.model_validate({"model": "m", **body})
    return to_messages_request(request, default_max_tokens=777).model_dump(exclude_none=True, by_alias=True)


def test_system_and_developer_text_is_hoisted_and_turns_of_one_role_merge() -> None:
    native = _native(messages=[
        {"role": "system", "content": "A"},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "B"}]},
        {"role": "user", "content": "again"},
    ])
    assert native["system"] == "A\nB"
    assert native["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}]
    assert native["max_tokens"] == 777


def test_sampling_fields_follow_the_hosted_rules() -> None:
    native = _native(messages=[{"role": "user", "content": "x"}], temperature=1.7, top_p=0.5,
                     max_tokens=10, max_completion_tokens=20, stop=["END", " \n"], seed=4)
    assert (native["temperature"], native["top_p"], native["max_tokens"]) == (1.0, 0.5, 20)
    assert native["stop_sequences"] == ["END"] and native["seed"] == 4
    assert "stop_sequences" not in _native(messages=[{"role": "user", "content": "x"}], stop=" ")
    with pytest.raises(InvalidRequest, match="n: only 1 is supported"):
        _native(messages=[{"role": "user", "content": "x"}], n=3)


def test_a_tool_round_trip_becomes_tool_use_and_tool_result_blocks() -> None:
    native = _native(
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "cold"},
        ],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA,
                                                 "strict": True}}],
        tool_choice="required", parallel_tool_calls=False,
    )
    assert native["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]}
    assert native["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"}]
    assert native["tools"] == [{"name": "get_weather", "input_schema": SCHEMA, "strict": True}]
    assert native["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_deprecated_functions_map_like_tools_and_answer_by_name() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "function_call": {"name": "get_weather", "arguments": "{}"}},
            {"role": "function", "name": "get_weather", "content": "cold"},
        ],
        "functions": [{"name": "get_weather"}],
        "function_call": {"name": "get_weather"},
    }
    native = _native(**body)
    call = native["messages"][1]["content"][0]
    assert native["messages"][2]["content"][0]["tool_use_id"] == call["id"]
    assert native["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert native["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
    assert uses_functions(ChatCompletionRequest.model_validate({"model": "m", **body}))


def test_response_formats_become_native_structured_output() -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
    native = _native(messages=[{"role": "user", "content": "x"}], response_format=schema_format)
    assert native["output_config"]["format"] == {"type": "json_schema", "schema": SCHEMA}
    native = _native(messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"})
    assert native["output_config"]["format"]["schema"] == {"type": "object"}
    assert "output_config" not in _native(messages=[{"role": "user", "content": "x"}],
                                          response_format={"type": "text"})


def test_images_and_bad_arguments() -> None:
    native = _native(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    sources = [block["source"] for block in native["messages"][0]["content"]]
    assert sources == [{"type": "base64", "media_type": "image/png", "data": "AAAA"},
                       {"type": "url", "url": "https://example.com/cat.png"}]
    with pytest.raises(InvalidRequest, match=r"messages.1.tool_calls.0.function.arguments: not valid JSON"):
        _native(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}])
    with pytest.raises(InvalidRequest, match="input_audio parts are not supported"):
        _native(messages=[{"role": "user", "content": [{"type": "input_audio"}]}])


def _message() -> Message:
    return Message(id="msg_01abc", model="m", content=[], stop_reason=None, stop_sequence=None,
                   usage=Usage(input_tokens=0, output_tokens=0))


async def _events(events: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for event in events:
        yield event


def _chunks(events: list[StreamEvent], functions: bool = False, usage: bool = True) -> list[ChatCompletionChunk]:
    async def collect() -> list[ChatCompletionChunk]:
        return [chunk async for chunk in to_chunks(_events(events), functions, usage)]
    return asyncio.run(collect())


def test_a_stream_becomes_role_text_tool_calls_finish_and_usage() -> None:
    chunks = _chunks([
        MessageStart(message=_message()),
        ContentBlockStart(index=0, content_block=OutputTextBlock(text="")),
        ContentBlockDelta(index=0, delta=TextDelta(text="Hi")),
        ContentBlockDelta(index=0, delta=ThinkingDelta(thinking="hidden")),
        ContentBlockStart(index=1, content_block=OutputToolUseBlock(id="toolu_9", name="f", input={})),
        ContentBlockDelta(index=1, delta=InputJSONDelta(partial_json='{"a":')),
        ContentBlockDelta(index=1, delta=InputJSONDelta(partial_json="1}")),
        MessageDelta(delta=MessageDeltaBody(stop_reason="tool_use", stop_sequence=None),
                     usage=DeltaUsage(input_tokens=5, output_tokens=7, cache_read_input_tokens=3)),
        MessageStop(),
    ])
    deltas = [chunk.choices[0].delta for chunk in chunks[:-1]]
    assert deltas[0].role == "assistant" and deltas[1].content == "Hi"
    assert deltas[2].tool_calls is not None and deltas[2].tool_calls[0].id == "toolu_9"
    assert [d.tool_calls[0].function.arguments for d in deltas[3:5] if d.tool_calls] == ['{"a":', "1}"]
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (8, 7)
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 3
    assert {chunk.id for chunk in chunks} == {"chatcmpl-01abc"}
    assert all(chunk.usage is None for chunk in _chunks([MessageStart(message=_message())], usage=False))


def test_a_failure_after_the_stream_started_is_an_error_chunk_then_done() -> None:
    from antiphon.errors import Overloaded
    from antiphon.http.routes.chat_completions import _failed

    data = _failed(Overloaded("busy")).decode()
    error_line, done_line = [line for line in data.split("\n") if line]
    assert done_line == "data: [DONE]"
    body = json.loads(error_line.removeprefix("data: "))
    assert body == {"error": {"message": "busy", "type": "overloaded_error", "param": None, "code": None}}
