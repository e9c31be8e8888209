"""Files API shapes."""

from __future__ import annotations

from typing import Literal

from antiphon.protocol.base import ResponseModel


class FileObject(ResponseModel):
    type: Literal["file"] = "file"
    id: str
    filename: str
    mime_type: str
    size_bytes: int
    created_at: str
    downloadable: bool
    expires_at: str | None = None


class FileList(ResponseModel):
    """Both pagination styles at once: id cursors (older clients) and `next_page` (the
    newest SDK, which sends it back as `page`)."""

    data: list[FileObject]
    has_more: bool
    first_id: str | None
    last_id: str | None
    next_page: str | None


class DeletedFile(ResponseModel):
    type: Literal["file_deleted"] = "file_deleted"
    id: str
