"""`source: {type: "file", file_id}` in document and image blocks: the file's bytes are put
in the block as a base64 source before the request is planned, so the rest of the pipeline
(PDF text, text decoding, the image refusal of text-only models) treats both alike.

Files are read from the caller's workspace only: an unknown, deleted, expired or
other-workspace id is a 400 that names it. Sizes are checked from the stored metadata before
a byte is read, against one bound for the whole request (what a request body may carry:
a file inlined ten times counts ten times), and a file named several times is read once.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
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
from antiphon.store.tables import StoredFile

Request = TypeVar("Request", MessagesRequest, CountTokensRequest)
# Files inlined into one prompt are bounded like a request body (and like the hosted PDF limit).
MAX_SOURCE_BYTES = 32 * 1024 * 1024
Place = tuple[int, int, int | None]  # message, block, block inside a tool result


def has_file_sources(request: MessagesRequest | CountTokensRequest) -> bool:
    return any(True for _ in _file_blocks(request))


def _file_blocks(
    request: MessagesRequest | CountTokensRequest,
) -> Iterator[tuple[Place, DocumentBlock | ImageBlock]]:
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


def _path(place: Place) -> str:
    m, b, c = place
    return f"messages.{m}.content.{b}" + (f".content.{c}" if c is not None else "") + ".source"


async def inline_file_sources(request: Request, files: FilesService, workspace_id: str | None) -> Request:
    """The request with every file source replaced by the file's bytes (base64)."""
    sources = list(_file_blocks(request))
    found: dict[str, StoredFile] = {}
    total = 0
    for place, file_block in sources:  # metadata first: nothing is read from a request refused
        assert isinstance(file_block.source, FileSource)
        file_id, path = file_block.source.file_id, _path(place)
        if file_id not in found:
            found[file_id] = await files.source_file(workspace_id, file_id, path)
        total += found[file_id].size_bytes
        if total > MAX_SOURCE_BYTES:
            raise InvalidRequest(
                f"{path}: file {file_id!r} takes the files inlined in this request past "
                f"{MAX_SOURCE_BYTES // (1024 * 1024)} MB, too large for a prompt"
            )
    encoded = {
        file_id: base64.b64encode(await files.source_bytes(stored)).decode()
        for file_id, stored in found.items()
    }
    replaced: dict[Place, DocumentBlock | ImageBlock] = {}
    for place, file_block in sources:
        assert isinstance(file_block.source, FileSource)
        stored = found[file_block.source.file_id]
        source = Base64Source(type="base64", media_type=stored.mime_type, data=encoded[stored.id])
        replaced[place] = file_block.model_copy(update={"source": source})
    return _with_blocks(request, replaced) if replaced else request


def _with_blocks(request: Request, replaced: dict[Place, DocumentBlock | ImageBlock]) -> Request:
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
