"""`POST /v1/messages` and `POST /v1/messages/count_tokens`: request and response shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from antiphon.protocol.base import RequestModel, ResponseModel
from antiphon.protocol.content import CacheControl, ContentBlock, TextBlock
from antiphon.protocol.server_tool_blocks import (
    ContainerInfo,
    OutputBashToolResultBlock,
    OutputEditorToolResultBlock,
    OutputServerToolUseBlock,
    OutputWebFetchToolResultBlock,
)

Role = Literal["user", "assistant", "system"]
StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]


class InputMessage(RequestModel):
    role: Role
    content: str | list[ContentBlock]


class Metadata(RequestModel):
    user_id: str | None = Field(default=None, max_length=256)  # as the hosted API bounds it


class ToolCitations(RequestModel):
    enabled: bool = False


class UrlSourceAll(RequestModel):
    type: Literal["all"]


class UrlSourceNone(RequestModel):
    type: Literal["none"]


class UrlSourceToolName(RequestModel):
    type: Literal["tool_reference"]
    name: str


class UrlSourceOnly(RequestModel):
    type: Literal["only"]
    tools: list[UrlSourceToolName]


class UrlSourceExcept(RequestModel):
    type: Literal["except"]
    tools: list[UrlSourceToolName]


UrlSourceFilter = Annotated[
    Union[UrlSourceAll, UrlSourceNone, UrlSourceOnly, UrlSourceExcept], Field(discriminator="type")
]


class WebFetchUrlSources(RequestModel):
    """Which parts of the conversation contribute URLs that web fetch may fetch (omitted: all)."""

    user_input: Annotated[Union[UrlSourceAll, UrlSourceNone], Field(discriminator="type")] | None = None
    client_tool_results: UrlSourceFilter | None = None
    server_tool_results: UrlSourceFilter | None = None


class Tool(RequestModel):
    """A client tool, or a server tool (those carry a versioned `type`)."""

    name: str
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    strict: bool | None = None
    # Tool search: left out of the prompt until a `tool_reference` block names it.
    defer_loading: bool | None = None
    cache_control: CacheControl | None = None
    # text_editor_20250728: views of a file are cut at this many characters (by the client).
    max_characters: int | None = Field(default=None, ge=1)
    # Server tools (web fetch): how often, where, and how much.
    max_uses: int | None = Field(default=None, ge=1)
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None
    max_content_tokens: int | None = Field(default=None, ge=1)
    citations: ToolCitations | None = None
    url_sources: WebFetchUrlSources | None = None
    use_cache: bool | None = None
    allowed_callers: list[str] | None = None


class ToolChoiceAuto(RequestModel):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(RequestModel):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(RequestModel):
    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(RequestModel):
    type: Literal["none"]


ToolChoice = Annotated[
    Union[ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone],
    Field(discriminator="type"),
]


# "updates" (newest beta SDK; Claude Code sends it): short progress updates in place of the
# thinking. antiphon has no summariser, so it returns the thinking as "summarized" does.
ThinkingDisplay = Literal["summarized", "omitted", "updates"]


class ThinkingEnabled(RequestModel):
    type: Literal["enabled"]
    budget_tokens: int
    display: ThinkingDisplay | None = None


class ThinkingDisabled(RequestModel):
    type: Literal["disabled"]


class ThinkingAdaptive(RequestModel):
    type: Literal["adaptive"]
    display: ThinkingDisplay | None = None


class ThinkingBetweenTools(RequestModel):
    """Thinking off; progress notes the model writes between tool calls would come back as
    thinking blocks. The models antiphon serves write none, so this is thinking disabled."""

    type: Literal["between_tools"]


ThinkingConfig = Annotated[
    Union[ThinkingEnabled, ThinkingDisabled, ThinkingAdaptive, ThinkingBetweenTools],
    Field(discriminator="type"),
]


class JSONSchemaFormat(RequestModel):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(RequestModel):
    format: JSONSchemaFormat | None = None
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None


class InputTokensTrigger(RequestModel):
    type: Literal["input_tokens"]
    value: int = Field(ge=1)


class ToolUsesTrigger(RequestModel):
    type: Literal["tool_uses"]
    value: int = Field(ge=1)


class ToolUsesKeep(RequestModel):
    type: Literal["tool_uses"]
    value: int = Field(ge=0)


class InputTokensClearAtLeast(RequestModel):
    type: Literal["input_tokens"]
    value: int = Field(ge=0)


class ClearToolUsesEdit(RequestModel):
    """Clear the oldest tool results (and optionally their calls' inputs) once a trigger
    is reached, keeping the newest `keep` tool uses."""

    type: Literal["clear_tool_uses_20250919"]
    trigger: Annotated[Union[InputTokensTrigger, ToolUsesTrigger], Field(discriminator="type")] | None = None
    keep: ToolUsesKeep | None = None
    clear_at_least: InputTokensClearAtLeast | None = None
    exclude_tools: list[str] | None = None
    clear_tool_inputs: bool | list[str] | None = None


class ThinkingTurns(RequestModel):
    type: Literal["thinking_turns"]
    value: int = Field(ge=0)


class AllThinkingTurns(RequestModel):
    type: Literal["all"]


class ClearThinkingEdit(RequestModel):
    """Drop thinking blocks from all but the newest `keep` assistant turns that have some."""

    type: Literal["clear_thinking_20251015"]
    keep: ThinkingTurns | AllThinkingTurns | Literal["all"] | None = None


class CompactEdit(RequestModel):
    type: Literal["compact_20260112"]


ContextEdit = Annotated[
    Union[ClearToolUsesEdit, ClearThinkingEdit, CompactEdit], Field(discriminator="type")
]


class ContextManagement(RequestModel):
    edits: list[ContextEdit] | None = None


class CountTokensRequest(RequestModel):
    """The body shared by generation and token counting: everything that shapes the prompt."""

    model: str
    messages: list[InputMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    cache_control: CacheControl | None = None
    # Server-side context editing (beta), applied before rendering (chat/context_edits.py).
    context_management: ContextManagement | None = None


class SkillReference(RequestModel):
    type: Literal["anthropic", "custom"]
    skill_id: str = Field(min_length=1, max_length=64)
    version: str | None = None


class ContainerParams(RequestModel):
    id: str | None = None
    skills: list[SkillReference] | None = Field(default=None, max_length=8)


class ThreadCreate(RequestModel):
    type: Literal["create"]


class ThreadContinue(RequestModel):
    type: Literal["continue"]
    previous_message_id: str = Field(min_length=1, max_length=64)


# Message Threads (beta): the server holds the conversation between turns (services/threads.py).
MessageThread = Annotated[Union[ThreadCreate, ThreadContinue], Field(discriminator="type")]


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=0)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    # antiphon extension: a sampling seed, for reproducible runs (benchmarks, tests).
    seed: int | None = Field(default=None, ge=0)
    thread: MessageThread | None = None
    # Code execution: a container to reuse (its id), or one to create with these skills.
    container: str | ContainerParams | None = None


class CountedContextManagement(ResponseModel):
    original_input_tokens: int  # before the edits; `input_tokens` is after them


class TokenCount(ResponseModel):
    input_tokens: int
    context_management: CountedContextManagement | None = Field(
        default=None, exclude_if=lambda value: value is None
    )


class ClearedToolUses(ResponseModel):
    type: Literal["clear_tool_uses_20250919"] = "clear_tool_uses_20250919"
    cleared_input_tokens: int
    cleared_tool_uses: int


class ClearedThinking(ResponseModel):
    type: Literal["clear_thinking_20251015"] = "clear_thinking_20251015"
    cleared_input_tokens: int
    cleared_thinking_turns: int


AppliedEdit = Union[ClearedToolUses, ClearedThinking]


class AppliedContextManagement(ResponseModel):
    applied_edits: list[AppliedEdit]


class OutputTextBlock(ResponseModel):
    type: Literal["text"] = "text"
    text: str


class OutputToolUseBlock(ResponseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class OutputThinkingBlock(ResponseModel):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str


class OutputRedactedThinkingBlock(ResponseModel):
    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


OutputBlock = Union[
    OutputTextBlock, OutputToolUseBlock, OutputThinkingBlock, OutputRedactedThinkingBlock,
    OutputServerToolUseBlock, OutputWebFetchToolResultBlock, OutputBashToolResultBlock,
    OutputEditorToolResultBlock,
]


class CacheCreation(ResponseModel):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class ServerToolUsage(ResponseModel):
    web_search_requests: int = 0
    web_fetch_requests: int = 0


class Usage(ResponseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation: CacheCreation = Field(default_factory=CacheCreation)
    # Only when the request declared a server tool (the hosted API's shape).
    server_tool_use: ServerToolUsage | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    service_tier: Literal["standard", "priority", "batch"] = "standard"


class Message(ResponseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[OutputBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: Usage
    # Only when the request asked for context editing (the hosted beta field).
    context_management: AppliedContextManagement | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    # Only when the request used code execution.
    container: ContainerInfo | None = Field(default=None, exclude_if=lambda value: value is None)
