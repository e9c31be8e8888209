"""Bytes of files, skills and batch results in a local directory, apart from the metadata.

A blob is written to a temporary file beside its final place and renamed into it only when
complete, so a failed or refused upload never leaves a partial blob behind. File I/O runs in
worker threads: the event loop never waits on the disk. A disk that is full (or a file size
limit reached) is `StorageFull`, a retriable 507, not a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from antiphon.errors import RequestTooLarge, StorageFull

T = TypeVar("T")
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@contextlib.contextmanager
def _room_checked() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if error.errno not in _NO_ROOM:
            raise
        raise StorageFull(
            f"the server has no room to store this ({os.strerror(error.errno)}); retry later"
        ) from None


async def _in_thread(work: Callable[..., T], *args: object) -> T:
    """Disk work in a worker thread, a full disk reported as StorageFull."""
    with _room_checked():
        return await asyncio.to_thread(work, *args)

CHUNK_BYTES = 1024 * 1024
SNIFF_BYTES = 8192  # what content-type detection gets to see


class BlobWriter:
    """One blob being written; `commit` publishes it under its key, `discard` removes it."""

    def __init__(self, store: LocalBlobStore, limit: int) -> None:
        self._store = store
        self._limit = limit
        self._temporary = store.root / "tmp" / uuid.uuid4().hex
        self._handle: BinaryIO | None = None
        self.size = 0
        self.head = b""  # the first bytes, for detecting the content type
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._limit:
            raise RequestTooLarge(f"file is larger than {self._limit // (1024 * 1024)} MB")
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self._hash.update(data)
        if self._handle is None:
            self._handle = await _in_thread(self._create)
        await _in_thread(self._handle.write, data)

    def _create(self) -> BinaryIO:
        self._temporary.parent.mkdir(parents=True, exist_ok=True)
        return self._temporary.open("wb")

    async def commit(self, key: str, exclusive: bool = False) -> None:
        """Publish the blob under `key`, replacing what was there; `exclusive`: raise
        FileExistsError instead (the temporary stays, for another key or `discard`)."""
        final = self._store.path(key)
        await _in_thread(self._publish, final, exclusive)

    def _publish(self, final: Path, exclusive: bool) -> None:
        if self._handle is None:  # an empty blob, or one an exclusive commit left
            self._temporary.parent.mkdir(parents=True, exist_ok=True)
            self._temporary.touch()
        else:
            self._handle.flush()
            os.fsync(self._handle.fileno())  # the metadata row may say it exists only if it does
            self._handle.close()
            self._handle = None
        final.parent.mkdir(parents=True, exist_ok=True)
        if exclusive:  # a hard link is created only where no file is: no clobbering race
            os.link(self._temporary, final)
            self._temporary.unlink()
        else:
            os.replace(self._temporary, final)

    async def discard(self) -> None:
        def remove() -> None:
            if self._handle is not None:
                self._handle.close()
            with contextlib.suppress(FileNotFoundError):
                self._temporary.unlink()

        await asyncio.to_thread(remove)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        # Keys are made by this server (kind/id); refuse anything that could leave the root.
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

    def writer(self, limit: int) -> BlobWriter:
        return BlobWriter(self, limit)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks (for streaming a download)."""
        handle = await asyncio.to_thread(self.path(key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def read_all(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def delete(self, key: str) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.path(key).unlink()

        await asyncio.to_thread(remove)

    async def remove_leftovers(self, older_than_seconds: float) -> int:
        """Delete temporary files of uploads that never finished (a crash mid-upload); only
        old ones, since replicas sharing this directory may be uploading right now."""

        def sweep() -> int:
            folder = self.root / "tmp"
            if not folder.exists():
                return 0
            cutoff = time.time() - older_than_seconds
            removed = 0
            for path in folder.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)
