"""Request content blocks: a discriminated union on `type`.

Every block type of the published API parses here, so that a block this server cannot use yet
is refused with a precise message by the renderer rather than a confusing schema error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from antiphon.protocol.base import RequestModel


class CacheControl(RequestModel):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class Citation(RequestModel):
    type: str


class TextBlock(RequestModel):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None
    citations: list[dict[str, Any]] | None = None


class Base64Source(RequestModel):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(RequestModel):
    type: Literal["url"]
    url: str


class FileSource(RequestModel):
    type: Literal["file"]
    file_id: str


class PlainTextSource(RequestModel):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str


class ImageBlock(RequestModel):
    type: Literal["image"]
    source: Annotated[Union[Base64Source, URLSource, FileSource], Field(discriminator="type")]
    cache_control: CacheControl | None = None


class ContentSource(RequestModel):
    type: Literal["content"]
    content: str | list[Annotated[Union[TextBlock, ImageBlock], Field(discriminator="type")]]


class CitationsConfig(RequestModel):
    enabled: bool = False


class DocumentBlock(RequestModel):
    type: Literal["document"]
    source: Annotated[
        Union[Base64Source, PlainTextSource, ContentSource, URLSource, FileSource],
        Field(discriminator="type"),
    ]
    title: str | None = None
    context: str | None = None
    citations: CitationsConfig | None = None
    cache_control: CacheControl | None = None


class SearchResultBlock(RequestModel):
    type: Literal["search_result"]
    source: str
    title: str
    content: list[TextBlock]
    citations: CitationsConfig | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(RequestModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolReferenceBlock(RequestModel):
    """Tool search: a deferred tool (`defer_loading: true`) that the result makes available."""

    type: Literal["tool_reference"]
    tool_name: str
    cache_control: CacheControl | None = None


ToolResultContentBlock = Annotated[
    Union[TextBlock, ImageBlock, DocumentBlock, SearchResultBlock, ToolReferenceBlock],
    Field(discriminator="type"),
]


class ToolResultBlock(RequestModel):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ToolResultContentBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(RequestModel):
    type: Literal["thinking"]
    thinking: str
    signature: str
    cache_control: CacheControl | None = None


class RedactedThinkingBlock(RequestModel):
    type: Literal["redacted_thinking"]
    data: str
    cache_control: CacheControl | None = None


class ServerToolUseBlock(RequestModel):
    """A call the server ran itself (web fetch), sent back in an assistant message."""

    type: Literal["server_tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None
    caller: dict[str, Any] | None = None


class WebFetchResult(RequestModel):
    type: Literal["web_fetch_result"]
    url: str
    content: DocumentBlock
    retrieved_at: str | None = None


class WebFetchError(RequestModel):
    type: Literal["web_fetch_tool_result_error"]
    error_code: str


class WebFetchToolResultBlock(RequestModel):
    """What a web fetch returned, sent back in the assistant message that made the call."""

    type: Literal["web_fetch_tool_result"]
    tool_use_id: str
    content: Annotated[Union[WebFetchResult, WebFetchError], Field(discriminator="type")]
    cache_control: CacheControl | None = None
    caller: dict[str, Any] | None = None


class ContainerUploadBlock(RequestModel):
    """A file (by Files API id) to place in the code execution container."""

    type: Literal["container_upload"]
    file_id: str
    cache_control: CacheControl | None = None


class BashOutputFile(RequestModel):
    type: Literal["bash_code_execution_output"]
    file_id: str


class BashResult(RequestModel):
    type: Literal["bash_code_execution_result"]
    stdout: str
    stderr: str
    return_code: int
    content: list[BashOutputFile] = []


class BashError(RequestModel):
    type: Literal["bash_code_execution_tool_result_error"]
    error_code: str


class BashToolResultBlock(RequestModel):
    type: Literal["bash_code_execution_tool_result"]
    tool_use_id: str
    content: Annotated[Union[BashResult, BashError], Field(discriminator="type")]
    cache_control: CacheControl | None = None


class EditorViewResult(RequestModel):
    type: Literal["text_editor_code_execution_view_result"]
    content: str
    file_type: str = "text"
    num_lines: int | None = None
    start_line: int | None = None
    total_lines: int | None = None


class EditorCreateResult(RequestModel):
    type: Literal["text_editor_code_execution_create_result"]
    is_file_update: bool


class EditorReplaceResult(RequestModel):
    type: Literal["text_editor_code_execution_str_replace_result"]
    lines: list[str] | None = None
    new_lines: int | None = None
    new_start: int | None = None
    old_lines: int | None = None
    old_start: int | None = None


class EditorError(RequestModel):
    type: Literal["text_editor_code_execution_tool_result_error"]
    error_code: str
    error_message: str | None = None


class EditorToolResultBlock(RequestModel):
    type: Literal["text_editor_code_execution_tool_result"]
    tool_use_id: str
    content: Annotated[
        Union[EditorViewResult, EditorCreateResult, EditorReplaceResult, EditorError],
        Field(discriminator="type"),
    ]
    cache_control: CacheControl | None = None


# Results of the server tools antiphon runs, as they come back in an assistant message.
ServerToolResultBlock = WebFetchToolResultBlock | BashToolResultBlock | EditorToolResultBlock

ContentBlock = Annotated[
    Union[
        TextBlock,
        ImageBlock,
        DocumentBlock,
        SearchResultBlock,
        ToolUseBlock,
        ToolResultBlock,
        ThinkingBlock,
        RedactedThinkingBlock,
        ServerToolUseBlock,
        WebFetchToolResultBlock,
        ContainerUploadBlock,
        BashToolResultBlock,
        EditorToolResultBlock,
    ],
    Field(discriminator="type"),
]
