"""`source: {type: "file", file_id}` in document and image blocks: the file's bytes are put
in the block as a base64 source before the request is planned, so the rest of the pipeline
(PDF text, text decoding, the image refusal of text-only models) treats both alike.

Files are read from the caller's workspace only: an unknown, deleted, expired or
other-workspace id is a 400 that names it.
"""

from __future__ import annotations

import base64
from typing import TypeVar

from antiphon.errors import InvalidRequest
from antiphon.protocol.content import (
    Base64Source,
    DocumentBlock,
    FileSource,
    ImageBlock,
    ToolResultBlock,
)
from antiphon.protocol.messages import CountTokensRequest, MessagesRequest
from antiphon.services.files import FilesService

Request = TypeVar("Request", MessagesRequest, CountTokensRequest)
# A file inlined into a prompt is bounded like a request body (and like the hosted PDF limit).
MAX_SOURCE_BYTES = 32 * 1024 * 1024


def has_file_sources(request: MessagesRequest | CountTokensRequest) -> bool:
    return any(True for _ in _file_blocks(request))


def _file_blocks(request: MessagesRequest | CountTokensRequest):  # type: ignore[no-untyped-def]
    for m, message in enumerate(request.messages):
        if isinstance(message.content, str):
            continue
        for b, block in enumerate(message.content):
            if isinstance(block, (DocumentBlock, ImageBlock)) and isinstance(block.source, FileSource):
                yield (m, b, None), block
            elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                for c, inner in enumerate(block.content):
                    if isinstance(inner, (DocumentBlock, ImageBlock)) and isinstance(inner.source, FileSource):
                        yield (m, b, c), inner


async def inline_file_sources(request: Request, files: FilesService, workspace_id: str | None) -> Request:
    """The request with every file source replaced by the file's bytes (base64)."""
    replaced: dict[tuple[int, int, int | None], DocumentBlock | ImageBlock] = {}
    for (m, b, c), block in _file_blocks(request):
        path = f"messages.{m}.content.{b}" + (f".content.{c}" if c is not None else "") + ".source"
        assert isinstance(block.source, FileSource)
        stored, data = await files.source_bytes(workspace_id, block.source.file_id, path)
        if len(data) > MAX_SOURCE_BYTES:
            raise InvalidRequest(f"{path}: file {stored.id!r} is larger than 32 MB, too large for a prompt")
        source = Base64Source(type="base64", media_type=stored.mime_type, data=base64.b64encode(data).decode())
        replaced[(m, b, c)] = block.model_copy(update={"source": source})
    if not replaced:
        return request
    messages = list(request.messages)
    for m, message in enumerate(messages):
        if isinstance(message.content, str):
            continue
        blocks = list(message.content)
        for b, block in enumerate(blocks):
            if (m, b, None) in replaced:
                blocks[b] = replaced[(m, b, None)]
            elif isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                inner = [replaced.get((m, b, c), item) for c, item in enumerate(block.content)]
                blocks[b] = block.model_copy(update={"content": inner})
        messages[m] = message.model_copy(update={"content": blocks})
    return request.model_copy(update={"messages": messages})
