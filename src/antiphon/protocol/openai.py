"""OpenAI's Chat Completions request, as the hosted Claude API accepts it.

Only the wire shapes: `http/openai/` translates them into `MessagesRequest` and back. Fields
the hosted API ignores (logprobs, penalties, logit_bias, …) are not declared, so they are
ignored here too, like any unknown field (`RequestModel`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from antiphon.protocol.base import RequestModel
from antiphon.protocol.messages import ThinkingConfig


class TextPart(RequestModel):
    type: Literal["text"]
    text: str


class ImageURL(RequestModel):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(RequestModel):
    type: Literal["image_url"]
    image_url: ImageURL


class RefusalPart(RequestModel):
    type: Literal["refusal"]
    refusal: str


class OtherPart(RequestModel):
    """Audio and file parts: parsed so that the refusal names them."""

    type: Literal["input_audio", "file"]


UserPart = Annotated[Union[TextPart, ImagePart, OtherPart], Field(discriminator="type")]
AssistantPart = Annotated[Union[TextPart, RefusalPart], Field(discriminator="type")]


class SystemMessage(RequestModel):
    role: Literal["system", "developer"]
    content: str | list[TextPart]


class UserMessage(RequestModel):
    role: Literal["user"]
    content: str | list[UserPart]


class FunctionCall(RequestModel):
    name: str
    arguments: str  # JSON text, as the model wrote it


class ToolCall(RequestModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(RequestModel):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None  # deprecated form of one tool call


class ToolMessage(RequestModel):
    role: Literal["tool"]
    tool_call_id: str
    content: str | list[TextPart]


class FunctionMessage(RequestModel):
    """Deprecated: the result of an assistant's `function_call`, matched by name."""

    role: Literal["function"]
    name: str
    content: str | None = None


ChatMessage = Annotated[
    Union[SystemMessage, UserMessage, AssistantMessage, ToolMessage, FunctionMessage],
    Field(discriminator="role"),
]


class FunctionDefinition(RequestModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(RequestModel):
    name: str


class NamedToolChoice(RequestModel):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaSpec(RequestModel):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextFormat(RequestModel):
    type: Literal["text"]


class JsonObjectFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaFormat(RequestModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    Union[TextFormat, JsonObjectFormat, JsonSchemaFormat], Field(discriminator="type")
]


class StreamOptions(RequestModel):
    include_usage: bool | None = None


class ChatCompletionRequest(RequestModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=0)
    max_completion_tokens: int | None = Field(default=None, ge=0)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int | None = None
    seed: int | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: Literal["none", "auto"] | NamedFunction | None = None
    response_format: ResponseFormat | None = None
    thinking: ThinkingConfig | None = None  # `extra_body={"thinking": …}`, as hosted
