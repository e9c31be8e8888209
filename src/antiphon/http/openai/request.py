"""An OpenAI chat request as the native `MessagesRequest`, by the hosted API's rules.

System and developer messages anywhere are hoisted into one system prompt; tool and
function results become `tool_result` blocks of a user turn; consecutive turns of one role
merge (OpenAI allows them, the Messages API alternates). Beyond the hosted API, which ignores
them: `response_format` and functions' `strict` get the native structured-output guarantee.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from antiphon.errors import InvalidRequest
from antiphon.http.body import describe_validation_error
from antiphon.protocol import openai as oa
from antiphon.protocol.messages import MessagesRequest

Block = dict[str, Any]
_DATA_URL = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def to_messages_request(request: oa.ChatCompletionRequest, default_max_tokens: int) -> MessagesRequest:
    if request.n not in (None, 1):
        raise InvalidRequest(f"n: only 1 is supported, got {request.n}")
    system = [_text_of(m.content) for m in request.messages if isinstance(m, oa.SystemMessage)]
    max_tokens = request.max_completion_tokens
    if max_tokens is None:
        max_tokens = request.max_tokens if request.max_tokens is not None else default_max_tokens
    native: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens,
        "messages": _turns(request.messages),
        "stream": request.stream,
        # OpenAI's range is 0-2; the Messages API's 0-1: above 1 is capped, as hosted.
        "temperature": None if request.temperature is None else min(request.temperature, 1.0),
        "top_p": request.top_p,
        "stop_sequences": _stops(request.stop),
        "seed": request.seed if request.seed is not None and request.seed >= 0 else None,
        "thinking": request.thinking.model_dump(exclude_none=True) if request.thinking else None,
        **_tools(request),
    }
    if system:
        native["system"] = "\n".join(system)
    if (schema := _output_schema(request.response_format)) is not None:
        native["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    try:
        return MessagesRequest.model_validate(
            {key: value for key, value in native.items() if value is not None}
        )
    except ValidationError as error:  # a value OpenAI's shape allows and the native one not
        raise InvalidRequest(describe_validation_error(error)) from None


def _text_of(content: str | list[oa.TextPart]) -> str:
    return content if isinstance(content, str) else "".join(part.text for part in content)


def _stops(stop: str | list[str] | None) -> list[str] | None:
    """Whitespace-only stop sequences are dropped, as the hosted API does."""
    stops = [stop] if isinstance(stop, str) else stop or []
    kept = [sequence for sequence in stops if sequence.strip()]
    return kept or None


def _turns(messages: list[oa.ChatMessage]) -> list[dict[str, Any]]:
    """Native turns, consecutive ones of the same role merged into one."""
    turns: list[dict[str, Any]] = []
    calls_by_name: dict[str, str] = {}  # a deprecated function_call's id, for its result
    for index, message in enumerate(messages):
        if isinstance(message, oa.SystemMessage):
            continue
        role, blocks = _blocks(message, index, calls_by_name)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if not turn["content"]:  # an assistant turn with neither text nor calls
            turn["content"] = [{"type": "text", "text": ""}]
    return turns


def _blocks(
    message: oa.ChatMessage, index: int, calls_by_name: dict[str, str]
) -> tuple[str, list[Block]]:
    where = f"messages.{index}"
    if isinstance(message, oa.UserMessage):
        return "user", _user_blocks(message.content, where)
    if isinstance(message, oa.AssistantMessage):
        return "assistant", _assistant_blocks(message, where, calls_by_name)
    if isinstance(message, oa.ToolMessage):
        result = {"type": "tool_result", "tool_use_id": message.tool_call_id,
                  "content": _text_of(message.content)}
        return "user", [result]
    assert isinstance(message, oa.FunctionMessage)
    call_id = calls_by_name.get(message.name)
    if call_id is None:
        raise InvalidRequest(
            f"{where}: no earlier assistant function_call named {message.name!r} to answer"
        )
    return "user", [{"type": "tool_result", "tool_use_id": call_id, "content": message.content or ""}]


def _user_blocks(content: str | list[oa.UserPart], where: str) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[Block] = []
    for position, part in enumerate(content):
        if isinstance(part, oa.TextPart):
            blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, oa.ImagePart):
            blocks.append({"type": "image", "source": _image_source(part.image_url.url)})
        else:
            raise InvalidRequest(
                f"{where}.content.{position}: {part.type} parts are not supported; send text "
                f"or image_url parts"
            )
    return blocks


def _image_source(url: str) -> dict[str, str]:
    if match := _DATA_URL.fullmatch(url):
        return {"type": "base64", "media_type": match["media"], "data": match["data"]}
    return {"type": "url", "url": url}


def _assistant_blocks(
    message: oa.AssistantMessage, where: str, calls_by_name: dict[str, str]
) -> list[Block]:
    content = message.content
    if isinstance(content, list):
        content = "".join(p.text if isinstance(p, oa.TextPart) else p.refusal for p in content)
    blocks: list[Block] = [{"type": "text", "text": content}] if content else []
    calls = list(message.tool_calls or [])
    if message.function_call is not None:
        call_id = f"call_{message.function_call.name}_{where.rsplit('.', 1)[-1]}"
        calls_by_name[message.function_call.name] = call_id
        calls.append(oa.ToolCall(id=call_id, function=message.function_call))
    for position, call in enumerate(calls):
        arguments = _arguments(call.function.arguments, f"{where}.tool_calls.{position}")
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments}
        )
    return blocks


def _arguments(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise InvalidRequest(f"{where}.function.arguments: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}.function.arguments: must be a JSON object")
    return value


def _tools(request: oa.ChatCompletionRequest) -> dict[str, Any]:
    """`tools` and `tool_choice`, from the current fields or the deprecated `functions`."""
    definitions = [tool.function for tool in request.tools or []] or list(request.functions or [])
    choice = request.tool_choice if request.tool_choice is not None else request.function_call
    if not definitions:
        return {}
    tools = [
        {"name": definition.name, "description": definition.description,
         "input_schema": definition.parameters or _EMPTY_SCHEMA, "strict": definition.strict}
        for definition in definitions
    ]
    native_choice: dict[str, Any] | None = None
    if choice == "none":
        native_choice = {"type": "none"}
    elif choice == "required":
        native_choice = {"type": "any"}
    elif isinstance(choice, (oa.NamedToolChoice, oa.NamedFunction)):
        name = choice.function.name if isinstance(choice, oa.NamedToolChoice) else choice.name
        native_choice = {"type": "tool", "name": name}
    elif choice == "auto" or request.parallel_tool_calls is False:
        native_choice = {"type": "auto"}
    if native_choice is not None and request.parallel_tool_calls is False:
        native_choice["disable_parallel_tool_use"] = True
    return {
        "tools": [{k: v for k, v in tool.items() if v is not None} for tool in tools],
        "tool_choice": native_choice,
    }


def _output_schema(response_format: oa.ResponseFormat | None) -> dict[str, Any] | None:
    """`json_schema` is the native structured output; `json_object`, any JSON object."""
    if isinstance(response_format, oa.JsonObjectFormat):
        return {"type": "object"}
    if isinstance(response_format, oa.JsonSchemaFormat):
        schema = response_format.json_schema.schema_
        if schema is None:
            raise InvalidRequest("response_format.json_schema.schema: required")
        return schema
    return None


def uses_functions(request: oa.ChatCompletionRequest) -> bool:
    """The deprecated `functions` style: answered with `function_call`, not `tool_calls`."""
    return not request.tools and bool(request.functions)
