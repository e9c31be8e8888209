"""Ending a batch: once none of its requests is pending or running, its results are written
as one JSONL blob (streamed page by page from the store, never whole in memory), then the
batch is marked ended with its counts and its request rows are dropped, in one transaction.

Whoever notices first ends it (the worker after an answer, cancel, the periodic sweep); a
claim with a lease on the batch row makes that one replica, and a crash halfway only means
the next sweep writes the same blob again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from antiphon.store.batches import OPEN_STATES, BatchStore
from antiphon.store.blobs import LocalBlobStore

log = logging.getLogger(__name__)
_PAGE = 1000  # results read from the store at a time
_WRITE_BYTES = 1024 * 1024  # results written to the blob at a time
_ENDING_LEASE = timedelta(minutes=10)
_NO_SIZE_LIMIT = 1 << 62

Clock = Callable[[], datetime]


def results_key(batch_id: str) -> str:
    return f"batches/{batch_id}.jsonl"


class BatchFinisher:
    def __init__(self, store: BatchStore, blobs: LocalBlobStore, clock: Clock) -> None:
        self._store = store
        self._blobs = blobs
        self._clock = clock

    async def end_if_done(self, batch_id: str) -> bool:
        """End the batch if every request has its result; True if this call ended it."""
        counts = await self._store.counts(batch_id)
        if any(counts.get(state) for state in OPEN_STATES):
            return False
        now = self._clock()
        if not await self._store.claim_ending(batch_id, now, now + _ENDING_LEASE):
            return False  # ended already, or another replica is ending it
        await self._write_results(batch_id)
        request_counts = {
            "processing": 0,
            **{state: counts.get(state, 0) for state in ("succeeded", "errored", "canceled", "expired")},
        }
        await self._store.end(batch_id, request_counts, self._clock())
        log.info("batch %s ended: %s", batch_id, request_counts)
        return True

    async def _write_results(self, batch_id: str) -> None:
        writer = self._blobs.writer(_NO_SIZE_LIMIT)
        try:
            async for chunk in self._result_chunks(batch_id):
                await writer.write(chunk)
            await writer.commit(results_key(batch_id))
        except BaseException:
            await writer.discard()
            raise

    async def _result_chunks(self, batch_id: str) -> AsyncIterator[bytes]:
        """`{"custom_id": …, "result": …}` lines in submission order, about 1 MB at a time."""
        after, buffer = 0, bytearray()
        while lines := await self._store.results(batch_id, after, _PAGE):
            for line in lines:
                # custom_id matches [a-zA-Z0-9_-]: it needs no JSON escaping.
                buffer += f'{{"custom_id":"{line.custom_id}","result":{line.result}}}\n'.encode()
            after = lines[-1].seq
            if len(buffer) >= _WRITE_BYTES:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    async def end_every_done(self) -> int:
        """The sweep's share: end each unended batch that has nothing left to run."""
        ended = 0
        for batch_id in await self._store.unended_without_open_requests():
            ended += await self.end_if_done(batch_id)
        return ended
