"""The native response in OpenAI's shapes: a `chat.completion`, or a stream of chunks.

Thinking is never shown (as hosted); tool calls keep their native ids, so a `tool` message's
`tool_call_id` finds its call again. Usage counts every prompt token in `prompt_tokens`, and
the part read from the prefix cache in `prompt_tokens_details.cached_tokens` (which the
hosted API leaves empty).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from antiphon.protocol import openai_responses as out
from antiphon.protocol.messages import Message, OutputTextBlock, OutputToolUseBlock, StopReason
from antiphon.protocol.streaming import (
    ContentBlockDelta,
    ContentBlockStart,
    DeltaUsage,
    InputJSONDelta,
    MessageDelta,
    MessageStart,
    StreamEvent,
    TextDelta,
)


def completion_id(message_id: str) -> str:
    return "chatcmpl-" + message_id.removeprefix("msg_")


def finish_reason(stop_reason: StopReason | None, functions: bool) -> out.FinishReason:
    if stop_reason == "tool_use":
        return "function_call" if functions else "tool_calls"
    if stop_reason in ("max_tokens", "model_context_window_exceeded"):
        return "length"
    return "stop"


def usage(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> out.CompletionUsage:
    prompt = input_tokens + cache_read + cache_write
    return out.CompletionUsage(
        prompt_tokens=prompt,
        completion_tokens=output_tokens,
        total_tokens=prompt + output_tokens,
        prompt_tokens_details=out.PromptTokensDetails(cached_tokens=cache_read),
    )


def to_completion(message: Message, functions: bool) -> out.ChatCompletion:
    text = "".join(block.text for block in message.content if isinstance(block, OutputTextBlock))
    calls = [
        out.ToolCallOut(id=block.id, function=out.FunctionCallOut(
            name=block.name, arguments=json.dumps(block.input, ensure_ascii=False)))
        for block in message.content if isinstance(block, OutputToolUseBlock)
    ]
    answer = out.AssistantOut(
        content=text or (None if calls else ""),
        tool_calls=calls if calls and not functions else None,
        function_call=calls[0].function if calls and functions else None,  # one, deprecated
    )
    tokens = message.usage
    return out.ChatCompletion(
        id=completion_id(message.id),
        created=int(time.time()),
        model=message.model,
        choices=[out.Choice(message=answer, finish_reason=finish_reason(message.stop_reason, functions))],
        usage=usage(tokens.input_tokens, tokens.output_tokens, tokens.cache_read_input_tokens,
                    tokens.cache_creation_input_tokens),
    )


async def to_chunks(
    events: AsyncIterator[StreamEvent], functions: bool, include_usage: bool
) -> AsyncIterator[out.ChatCompletionChunk]:
    """Chunks for a native event stream: the role first, then text and tool-call deltas (by
    the call's index among the message's calls), the finish reason, and the usage last."""
    chunk: out.ChatCompletionChunk | None = None
    tool_index: dict[int, int] = {}  # a content block's index -> its call's index
    final_usage: DeltaUsage | None = None

    def make(delta: out.ChunkDelta, reason: out.FinishReason | None = None) -> out.ChatCompletionChunk:
        assert chunk is not None
        return chunk.model_copy(update={"choices": [out.ChunkChoice(delta=delta, finish_reason=reason)]})

    async for event in events:
        if isinstance(event, MessageStart):
            chunk = out.ChatCompletionChunk(
                id=completion_id(event.message.id), created=int(time.time()),
                model=event.message.model, choices=[],
            )
            yield make(out.ChunkDelta(role="assistant", content=""))
        elif isinstance(event, ContentBlockStart) and isinstance(event.content_block, OutputToolUseBlock):
            tool_index[event.index] = len(tool_index)
            block = event.content_block
            yield make(_call_delta(tool_index[event.index], functions, block.id, block.name, ""))
        elif isinstance(event, ContentBlockDelta) and isinstance(event.delta, TextDelta):
            if event.delta.text:
                yield make(out.ChunkDelta(content=event.delta.text))
        elif isinstance(event, ContentBlockDelta) and isinstance(event.delta, InputJSONDelta):
            position = tool_index.get(event.index)
            if position is not None and event.delta.partial_json:
                yield make(_call_delta(position, functions, None, None, event.delta.partial_json))
        elif isinstance(event, MessageDelta):
            final_usage = event.usage
            yield make(out.ChunkDelta(), finish_reason(event.delta.stop_reason, functions))
    if include_usage and chunk is not None and final_usage is not None:
        tokens = final_usage
        yield chunk.model_copy(update={"usage": usage(
            tokens.input_tokens, tokens.output_tokens, tokens.cache_read_input_tokens,
            tokens.cache_creation_input_tokens)})


def _call_delta(
    position: int, functions: bool, call_id: str | None, name: str | None, arguments: str
) -> out.ChunkDelta:
    function = out.FunctionDelta(name=name, arguments=arguments)
    if functions:
        return out.ChunkDelta(function_call=function)
    call = out.ToolCallDelta(
        index=position, id=call_id, type="function" if call_id else None, function=function
    )
    return out.ChunkDelta(tool_calls=[call])
