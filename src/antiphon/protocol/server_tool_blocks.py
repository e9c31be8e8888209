"""Response blocks of the server tools antiphon runs (web fetch, code execution's bash and
editor), and the container a code-execution turn used: the content a server-tool turn adds
to a message beside text, thinking and client tool calls."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import Field

from antiphon.protocol.base import ResponseModel


class OutputServerToolUseBlock(ResponseModel):
    """A call the server runs itself (web fetch); its result block follows it."""

    type: Literal["server_tool_use"] = "server_tool_use"
    id: str
    name: str
    input: dict[str, Any]


class OutputTextSource(ResponseModel):
    type: Literal["text"] = "text"
    media_type: Literal["text/plain"] = "text/plain"
    data: str


class OutputBase64Source(ResponseModel):
    type: Literal["base64"] = "base64"
    media_type: str
    data: str


class OutputCitationsConfig(ResponseModel):
    enabled: bool


class OutputDocument(ResponseModel):
    type: Literal["document"] = "document"
    source: OutputTextSource | OutputBase64Source
    title: str | None = None
    citations: OutputCitationsConfig | None = Field(
        default=None, exclude_if=lambda value: value is None
    )


class OutputWebFetchResult(ResponseModel):
    type: Literal["web_fetch_result"] = "web_fetch_result"
    url: str
    content: OutputDocument
    retrieved_at: str


class OutputWebFetchError(ResponseModel):
    type: Literal["web_fetch_tool_result_error"] = "web_fetch_tool_result_error"
    error_code: str


class OutputWebFetchToolResultBlock(ResponseModel):
    type: Literal["web_fetch_tool_result"] = "web_fetch_tool_result"
    tool_use_id: str
    content: OutputWebFetchResult | OutputWebFetchError


class OutputBashOutputFile(ResponseModel):
    type: Literal["bash_code_execution_output"] = "bash_code_execution_output"
    file_id: str


class OutputBashResult(ResponseModel):
    type: Literal["bash_code_execution_result"] = "bash_code_execution_result"
    stdout: str
    stderr: str
    return_code: int
    content: list[OutputBashOutputFile]  # files the command created, as Files API ids


class OutputBashError(ResponseModel):
    type: Literal["bash_code_execution_tool_result_error"] = "bash_code_execution_tool_result_error"
    error_code: str


class OutputBashToolResultBlock(ResponseModel):
    type: Literal["bash_code_execution_tool_result"] = "bash_code_execution_tool_result"
    tool_use_id: str
    content: OutputBashResult | OutputBashError


class OutputEditorViewResult(ResponseModel):
    type: Literal["text_editor_code_execution_view_result"] = "text_editor_code_execution_view_result"
    content: str
    file_type: Literal["text", "image", "pdf"] = "text"
    num_lines: int | None = None
    start_line: int | None = None
    total_lines: int | None = None


class OutputEditorCreateResult(ResponseModel):
    type: Literal["text_editor_code_execution_create_result"] = "text_editor_code_execution_create_result"
    is_file_update: bool


class OutputEditorReplaceResult(ResponseModel):
    type: Literal["text_editor_code_execution_str_replace_result"] = (
        "text_editor_code_execution_str_replace_result"
    )
    lines: list[str] | None = None
    new_lines: int | None = None
    new_start: int | None = None
    old_lines: int | None = None
    old_start: int | None = None


class OutputEditorError(ResponseModel):
    type: Literal["text_editor_code_execution_tool_result_error"] = (
        "text_editor_code_execution_tool_result_error"
    )
    error_code: str
    error_message: str | None = None


class OutputEditorToolResultBlock(ResponseModel):
    type: Literal["text_editor_code_execution_tool_result"] = "text_editor_code_execution_tool_result"
    tool_use_id: str
    content: OutputEditorViewResult | OutputEditorCreateResult | OutputEditorReplaceResult | OutputEditorError


OutputServerToolResult = Union[
    OutputWebFetchToolResultBlock, OutputBashToolResultBlock, OutputEditorToolResultBlock
]
class ContainerSkill(ResponseModel):
    type: Literal["anthropic", "custom"]
    skill_id: str
    version: str


class ContainerInfo(ResponseModel):
    """The code execution container the request used (reuse it by `id` until `expires_at`)."""

    id: str
    expires_at: str
    skills: list[ContainerSkill] | None = None
