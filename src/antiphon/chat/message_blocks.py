"""One request message's content blocks → the parts of a conversation turn.

Text, documents and search results become text the model reads; `tool_use` blocks become
calls, `tool_result` blocks results, and thinking blocks the reasoning they carry (after their
signature is checked by the caller's `open_thinking`). Blocks the model cannot read (images)
and blocks in the wrong role are refused with the block's path.

A server tool's call and result both sit in the assistant message (`server_tool_use`, then
`web_fetch_tool_result`); templates know only results in a turn of their own, so such a
message reads as segments: the assistant's part up to the call, a turn holding the result,
then the rest of the assistant's part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from antiphon.chat.documents import document_text
from antiphon.errors import InvalidRequest
from antiphon.protocol.content import (
    BashResult,
    ContainerUploadBlock,
    DocumentBlock,
    EditorCreateResult,
    EditorReplaceResult,
    EditorViewResult,
    ImageBlock,
    RedactedThinkingBlock,
    SearchResultBlock,
    ServerToolResultBlock,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    ToolReferenceBlock,
    ToolResultBlock,
    ToolUseBlock,
    WebFetchResult,
)
from antiphon.protocol.messages import InputMessage

REFERENCE_SEPARATOR = "\n\n"
# Reads a thinking or redacted_thinking block back into its text; raises a 400 on tampering.
OpenThinking = Callable[[ThinkingBlock | RedactedThinkingBlock, str], str]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class ToolResult:
    tool_use_id: str
    name: str
    content: str
    is_error: bool


@dataclass
class TurnParts:
    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_references: list[str] = field(default_factory=list)


def _trimmed(parts: TurnParts) -> TurnParts:
    if parts.text and parts.text[-1].endswith(REFERENCE_SEPARATOR):
        parts.text[-1] = parts.text[-1][: -len(REFERENCE_SEPARATOR)]
    return parts


@dataclass
class BlockReader:
    """Reads messages in order; remembers the tool calls seen so results can be matched."""

    model_id: str
    open_thinking: OpenThinking
    calls_by_id: dict[str, ToolCall] = field(default_factory=dict)

    def read(self, message: InputMessage, index: int) -> list[tuple[str, TurnParts]]:
        """The message's parts, as (role, parts) segments: one, unless the message holds
        server tool results (then they are split out as a "user" segment each)."""
        parts = TurnParts()
        if isinstance(message.content, str):
            parts.text.append(message.content)
            return [(message.role, parts)]
        segments: list[tuple[str, TurnParts]] = []
        for position, block in enumerate(message.content):
            path = f"messages.{index}.content.{position}"
            if isinstance(block, ServerToolResultBlock) and message.role == "assistant":
                segments.append((message.role, _trimmed(parts)))
                segments.append(("user", TurnParts(results=[self._server_result(block, path)])))
                parts = TurnParts()
            else:
                self._read_block(block, message.role, path, parts)
        if not segments or parts.text or parts.calls or parts.thinking:
            segments.append((message.role, _trimmed(parts)))
        return segments

    def _read_block(self, block: Any, role: str, path: str, parts: TurnParts) -> None:
        if isinstance(block, TextBlock):
            parts.text.append(block.text)
        elif isinstance(block, DocumentBlock | SearchResultBlock):
            # Set apart from the text around it; a trailing separator is trimmed by `read`.
            parts.text.append(self._reference_text(block, path) + REFERENCE_SEPARATOR)
        elif isinstance(block, ImageBlock):
            raise self._no_images(path)
        elif isinstance(block, ContainerUploadBlock) and role == "user":
            # Generation replaces it with the file's path in the container (services/
            # containers.py); counting reads this note of about the same length.
            parts.text.append(f"[The file {block.file_id} is in the code execution container.]")
        elif isinstance(block, ToolUseBlock | ServerToolUseBlock):
            parts.calls.append(self._tool_call(block, role, path))
        elif isinstance(block, ToolResultBlock):
            parts.results.append(self._tool_result(block, role, path, parts))
        elif isinstance(block, ThinkingBlock | RedactedThinkingBlock):
            if role != "assistant":
                raise InvalidRequest(f"{path}: `{block.type}` blocks belong in assistant messages")
            parts.thinking.append(self.open_thinking(block, path))
        else:  # a block type the protocol accepts but a message cannot hold
            raise InvalidRequest(f"{path}: `{block.type}` blocks cannot appear here")

    def _reference_text(self, block: DocumentBlock | SearchResultBlock, path: str) -> str:
        if isinstance(block, DocumentBlock):
            return document_text(block, path, self.model_id)
        if block.citations is not None and block.citations.enabled:
            raise InvalidRequest(
                f"{path}.citations.enabled: citations are not supported by model {self.model_id}"
            )
        body = "\n".join(text.text for text in block.content)
        return f"<search_result>\n<source>{block.source}</source>\n<title>{block.title}</title>\n{body}\n</search_result>"

    def _no_images(self, path: str) -> InvalidRequest:
        return InvalidRequest(
            f"{path}: model {self.model_id} does not support images; send text or a document"
        )

    def _tool_call(self, block: ToolUseBlock | ServerToolUseBlock, role: str, path: str) -> ToolCall:
        if role != "assistant":
            raise InvalidRequest(f"{path}: `{block.type}` blocks belong in assistant messages")
        if block.id in self.calls_by_id:
            raise InvalidRequest(f"{path}.id: `{block.id}` is used by an earlier tool_use block")
        call = ToolCall(block.id, block.name, block.input)
        self.calls_by_id[block.id] = call
        return call

    def _tool_result(
        self, block: ToolResultBlock, role: str, path: str, parts: TurnParts
    ) -> ToolResult:
        if role != "user":
            raise InvalidRequest(f"{path}: `tool_result` blocks belong in user messages")
        call = self.calls_by_id.get(block.tool_use_id)
        if call is None:
            raise InvalidRequest(
                f"{path}.tool_use_id: `{block.tool_use_id}` matches no tool_use block in an "
                "earlier assistant message"
            )
        content = self._result_content(block.content, f"{path}.content", parts)
        return ToolResult(call.id, call.name, content, bool(block.is_error))

    def _server_result(self, block: ServerToolResultBlock, path: str) -> ToolResult:
        call = self.calls_by_id.get(block.tool_use_id)
        if call is None:
            raise InvalidRequest(
                f"{path}.tool_use_id: `{block.tool_use_id}` matches no server_tool_use block "
                "before it"
            )
        text, failed = self._server_result_text(block, path)
        return ToolResult(call.id, call.name, text, failed)

    def _server_result_text(self, block: ServerToolResultBlock, path: str) -> tuple[str, bool]:
        """What a server tool's result says to the model, and whether it is an error."""
        result = block.content
        if isinstance(result, WebFetchResult):
            text = document_text(result.content, f"{path}.content.content", self.model_id)
            return f"Fetched {result.url}\n{text}", False
        if isinstance(result, BashResult):
            files = "".join(f"\n(created file {output.file_id})" for output in result.content)
            return f"{result.stdout}{result.stderr}\nreturn code {result.return_code}{files}", result.return_code != 0
        if isinstance(result, EditorViewResult):
            return result.content, False
        if isinstance(result, EditorCreateResult):
            return "File updated." if result.is_file_update else "File created.", False
        if isinstance(result, EditorReplaceResult):
            return "Text replaced.", False
        message = getattr(result, "error_message", None)
        return f"Failed: {result.error_code}" + (f": {message}" if message else ""), True

    def _result_content(self, content: str | Sequence[Any] | None, path: str, parts: TurnParts) -> str:
        if content is None or isinstance(content, str):
            return content or ""
        pieces: list[str] = []
        for position, block in enumerate(content):
            where = f"{path}.{position}"
            if isinstance(block, TextBlock):
                pieces.append(block.text)
            elif isinstance(block, ToolReferenceBlock):
                parts.tool_references.append(block.tool_name)
                pieces.append(f"Tool `{block.tool_name}` is now available.")
            elif isinstance(block, ImageBlock):
                raise self._no_images(where)
            else:
                pieces.append(self._reference_text(block, where))
        return "\n".join(pieces)

