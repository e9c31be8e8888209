"""The Files use case: upload (streamed to the blob store), list, metadata, download, delete,
and the bytes behind a `source: {type: "file"}` block. Everything is scoped to the caller's
workspace: another workspace's file is reported exactly as an unknown one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from antiphon.errors import InvalidRequest, NotFound
from antiphon.ids import new_id, rfc3339, utc_now
from antiphon.protocol.files import FileObject
from antiphon.services.mime import detect_mime_type, extension_for
from antiphon.store.blobs import BlobWriter, LocalBlobStore
from antiphon.store.files import FileStore
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import StoredFile

MAX_FILE_BYTES = 500 * 1024 * 1024
MIN_EXPIRY_SECONDS, MAX_EXPIRY_SECONDS = 3600, 7_776_000


def _key(file_id: str) -> str:
    return f"files/{file_id}"


def clean_filename(raw: str | None, mime_type: str) -> str:
    """Only the last path component is kept; a missing name becomes `unnamed.<ext>`."""
    name = PurePosixPath((raw or "").replace("\\", "/")).name.strip()
    return name[:500] if name else f"unnamed{extension_for(mime_type)}"


def file_object(stored: StoredFile) -> FileObject:
    return FileObject(
        id=stored.id, filename=stored.filename, mime_type=stored.mime_type,
        size_bytes=stored.size_bytes, created_at=rfc3339(stored.created_at),
        downloadable=stored.downloadable,
        expires_at=rfc3339(stored.expires_at) if stored.expires_at else None,
    )


class Upload:
    """One upload request: exactly one file part, named `file`."""

    def __init__(self, blobs: LocalBlobStore, limit: int) -> None:
        self._blobs = blobs
        self._limit = limit
        self.writer: BlobWriter | None = None
        self.filename: str | None = None

    async def open_part(self, name: str, filename: str | None) -> BlobWriter:
        if name != "file":
            raise InvalidRequest(f"unexpected file part `{name}`: upload one part named `file`")
        if self.writer is not None:
            raise InvalidRequest("upload one file per request (one part named `file`)")
        self.writer = self._blobs.writer(self._limit)
        self.filename = filename
        return self.writer

    async def discard(self) -> None:
        if self.writer is not None:
            await self.writer.discard()


def _expiry(fields: dict[str, list[str]], now: datetime) -> datetime | None:
    values = fields.get("expires_in_seconds")
    if not values:
        return None
    raw = values[-1].strip()
    if not raw.isdigit() or not MIN_EXPIRY_SECONDS <= int(raw) <= MAX_EXPIRY_SECONDS:
        raise InvalidRequest(
            f"expires_in_seconds: must be an integer from {MIN_EXPIRY_SECONDS} to "
            f"{MAX_EXPIRY_SECONDS}, got {raw!r}"
        )
    return now + timedelta(seconds=int(raw))


class FilesService:
    def __init__(self, store: FileStore, blobs: LocalBlobStore, max_bytes: int = MAX_FILE_BYTES) -> None:
        self._store = store
        self._blobs = blobs
        self._max_bytes = max_bytes

    async def remove_unfinished_uploads(self) -> int:
        """At start: uploads a crash cut short left temporary files (kept a day, in case a
        replica sharing the blob directory is still writing one)."""
        return await self._blobs.remove_leftovers(older_than_seconds=86_400)

    def upload(self) -> Upload:
        return Upload(self._blobs, self._max_bytes)

    async def finish(self, workspace_id: str, upload: Upload, fields: dict[str, list[str]]) -> StoredFile:
        """Publish the uploaded bytes and their metadata; the caller discards on any error."""
        writer = upload.writer
        if writer is None:
            raise InvalidRequest("file: required; send the file as a multipart part named `file`")
        now = utc_now()
        expires_at = _expiry(fields, now)
        mime_type = detect_mime_type(writer.head, upload.filename or "")
        stored = StoredFile(
            id=new_id("file"), workspace_id=workspace_id,
            filename=clean_filename(upload.filename, mime_type), mime_type=mime_type,
            size_bytes=writer.size, sha256=writer.sha256, downloadable=True,
            created_at=now, expires_at=expires_at,
        )
        await writer.commit(_key(stored.id))
        try:
            await self._store.add(stored)
        except BaseException:
            await self._blobs.delete(_key(stored.id))
            raise
        return stored

    async def add_bytes(self, workspace_id: str, filename: str, data: bytes) -> StoredFile:
        """Store bytes the server made (a file code execution created) as an uploaded file."""
        upload = self.upload()
        try:
            writer = await upload.open_part("file", filename)
            await writer.write(data)
            return await self.finish(workspace_id, upload, {})
        except BaseException:
            await upload.discard()
            raise

    async def get(self, workspace_id: str, file_id: str) -> StoredFile:
        stored = await self._store.get(workspace_id, file_id)
        if stored is None:
            raise NotFound(f"file_id: no file with id {file_id!r}")
        return stored

    async def list(self, workspace_id: str, page: PageRequest) -> Page[StoredFile]:
        return await self._store.list(workspace_id, page)

    async def content(self, workspace_id: str, file_id: str) -> tuple[StoredFile, AsyncIterator[bytes]]:
        stored = await self.get(workspace_id, file_id)
        if stored.expires_at is not None and stored.expires_at <= utc_now():
            raise NotFound(f"file {file_id!r} has expired; its content is no longer available")
        if not stored.downloadable:
            raise InvalidRequest(f"file {file_id!r} is not downloadable")
        return stored, self._blobs.read(_key(file_id))

    async def delete(self, workspace_id: str, file_id: str) -> None:
        if not await self._store.delete(workspace_id, file_id):
            raise NotFound(f"file_id: no file with id {file_id!r}")
        await self._blobs.delete(_key(file_id))

    async def source_file(self, workspace_id: str | None, file_id: str, path: str) -> StoredFile:
        """A message block's file, by its metadata: a 400 that names the id when it cannot
        be used."""
        stored = await self._store.get(workspace_id, file_id) if workspace_id else None
        if stored is None:
            raise InvalidRequest(f"{path}.file_id: no file with id {file_id!r} in this workspace")
        if stored.expires_at is not None and stored.expires_at <= utc_now():
            raise InvalidRequest(f"{path}.file_id: file {file_id!r} has expired")
        return stored

    async def source_bytes(self, stored: StoredFile) -> bytes:
        """The bytes of a file `source_file` returned."""
        return await self._blobs.read_all(_key(stored.id))
