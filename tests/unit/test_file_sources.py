"""File sources are inlined from metadata checked first: a file named several times is read
once, and the bound counts every place it is inlined."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

import pytest

from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import CountTokensRequest
from antiphon.services import file_sources
from antiphon.store.tables import StoredFile


class CountingFiles:
    """The two calls `inline_file_sources` makes of FilesService, counted."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.looked_up: list[str] = []
        self.read: list[str] = []

    async def source_file(self, workspace_id: str | None, file_id: str, path: str) -> StoredFile:
        self.looked_up.append(file_id)
        return StoredFile(
            id=file_id, workspace_id="wrkspc_1", filename="a.txt", mime_type="text/plain",
            size_bytes=self.sizes[file_id], sha256="", downloadable=False,
            created_at=datetime.now(UTC), expires_at=None,
        )

    async def source_bytes(self, stored: StoredFile) -> bytes:
        self.read.append(stored.id)
        return b"x" * min(stored.size_bytes, 16)


def _request(*file_ids: str) -> CountTokensRequest:
    content = [{"type": "document", "source": {"type": "file", "file_id": f}} for f in file_ids]
    return CountTokensRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": [*content, {"type": "text", "text": "?"}]}]}
    )


def test_a_file_named_three_times_is_looked_up_and_read_once() -> None:
    files = CountingFiles({"file_a": 10, "file_b": 10})
    inlined = asyncio.run(file_sources.inline_file_sources(
        _request("file_a", "file_b", "file_a", "file_a"), files, "wrkspc_1"))  # type: ignore[arg-type]
    assert files.looked_up == ["file_a", "file_b"] and files.read == ["file_a", "file_b"]
    blocks = inlined.messages[0].content
    assert not isinstance(blocks, str)
    sources = [block.source for block in blocks[:4]]  # type: ignore[union-attr]
    assert all(source.type == "base64" for source in sources)
    assert sources[0].data == base64.b64encode(b"x" * 10).decode()  # type: ignore[union-attr]


def test_the_bound_counts_every_place_and_nothing_is_read_past_it() -> None:
    third = file_sources.MAX_SOURCE_BYTES // 3 + 1
    files = CountingFiles({"file_a": third})
    with pytest.raises(InvalidRequest, match=r"^messages\.0\.content\.2\.source: file 'file_a'"):
        asyncio.run(file_sources.inline_file_sources(
            _request("file_a", "file_a", "file_a"), files, "wrkspc_1"))  # type: ignore[arg-type]
    assert files.read == []
