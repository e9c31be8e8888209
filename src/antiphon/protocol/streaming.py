"""Server-sent events of a streamed message, in the order the API defines."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from antiphon.protocol.base import ResponseModel
from antiphon.protocol.errors import ErrorDetail
from antiphon.protocol.messages import (
    AppliedContextManagement,
    Message,
    OutputBlock,
    ServerToolUsage,
    StopReason,
)
from antiphon.protocol.server_tool_blocks import ContainerInfo


class MessageStart(ResponseModel):
    type: Literal["message_start"] = "message_start"
    message: Message


class ContentBlockStart(ResponseModel):
    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: OutputBlock


class TextDelta(ResponseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class InputJSONDelta(ResponseModel):
    """A fragment of a tool call's input; a block's fragments join into its exact JSON."""

    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ThinkingDelta(ResponseModel):
    type: Literal["thinking_delta"] = "thinking_delta"
    thinking: str


class SignatureDelta(ResponseModel):
    """Sent once, last, just before a thinking block's `content_block_stop`."""

    type: Literal["signature_delta"] = "signature_delta"
    signature: str


BlockDelta = TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta


class ContentBlockDelta(ResponseModel):
    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: BlockDelta


class ContentBlockStop(ResponseModel):
    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class MessageDeltaBody(ResponseModel):
    stop_reason: StopReason | None
    stop_sequence: str | None
    # The code execution container the turn used (the SDK reads it from here when streaming).
    container: ContainerInfo | None = Field(default=None, exclude_if=lambda value: value is None)


class DeltaUsage(ResponseModel):
    """Cumulative usage at the end of the stream."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    server_tool_use: ServerToolUsage | None = Field(
        default=None, exclude_if=lambda value: value is None
    )


class MessageDelta(ResponseModel):
    type: Literal["message_delta"] = "message_delta"
    delta: MessageDeltaBody
    usage: DeltaUsage
    context_management: AppliedContextManagement | None = Field(
        default=None, exclude_if=lambda value: value is None
    )


class MessageStop(ResponseModel):
    type: Literal["message_stop"] = "message_stop"


class Ping(ResponseModel):
    type: Literal["ping"] = "ping"


class ErrorEvent(ResponseModel):
    type: Literal["error"] = "error"
    error: ErrorDetail
    request_id: str | None = None


StreamEvent = (
    MessageStart
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | Ping
    | ErrorEvent
)
