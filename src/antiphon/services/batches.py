"""The Message Batches use case: create, list, retrieve, cancel, delete, read results.

A batch is accepted whole or refused whole: every request is checked with the Messages rules
before anything is stored, and the batch and its requests are written in one transaction.
The batch worker (`batch_worker.py`) runs the requests; `batch_finisher.py` ends batches.
Times come from an injectable clock, so expiry and retention can be tested without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from antiphon.errors import AntiphonError, Conflict, InvalidRequest, NotFound
from antiphon.ids import new_id, rfc3339, utc_now
from antiphon.protocol.batches import MessageBatch, RequestCounts
from antiphon.protocol.messages import MessagesRequest
from antiphon.services.batch_finisher import BatchFinisher, Clock, results_key
from antiphon.store.batches import BatchStore, NewRequest
from antiphon.store.blobs import LocalBlobStore
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import MessageBatchRow

EXPIRES_AFTER = timedelta(hours=24)
RETENTION = timedelta(days=29)
CANCELED_RESULT = '{"type":"canceled"}'
EXPIRED_RESULT = '{"type":"expired"}'


@dataclass(frozen=True)
class BatchEntry:
    """One request of a batch being created: parsed already, with its JSON as sent."""

    custom_id: str
    request: MessagesRequest
    params_json: str


def batch_object(batch: MessageBatchRow, base_url: str) -> MessageBatch:
    """The API's view of a batch; `results_url` under `base_url` once it has ended."""
    ended = batch.processing_status == "ended"
    counts = RequestCounts(**batch.request_counts) if batch.request_counts else RequestCounts(
        processing=batch.request_total)
    results_url = f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None
    return MessageBatch(
        id=batch.id, processing_status=batch.processing_status,  # type: ignore[arg-type]
        request_counts=counts, created_at=rfc3339(batch.created_at),
        expires_at=rfc3339(batch.expires_at),
        ended_at=rfc3339(batch.ended_at) if batch.ended_at else None,
        cancel_initiated_at=rfc3339(batch.cancel_initiated_at) if batch.cancel_initiated_at else None,
        results_url=results_url,
    )


class BatchService:
    def __init__(
        self,
        store: BatchStore,
        blobs: LocalBlobStore,
        check_request: Callable[[MessagesRequest], None],
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._check = check_request  # the Messages rules that need no tokenizing
        self.clock = clock
        self.finisher = BatchFinisher(store, blobs, clock)

    def _validate(self, entries: Sequence[BatchEntry]) -> None:
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            where = f"requests.{index} (custom_id {entry.custom_id!r})"
            if entry.custom_id in seen:
                raise InvalidRequest(
                    f"{where}: custom_id is also used by requests.{seen[entry.custom_id]}; "
                    "custom_ids must be unique within a batch")
            seen[entry.custom_id] = index
            if entry.request.stream:
                raise InvalidRequest(f"{where}: params.stream: batch requests cannot be streamed")
            try:
                self._check(entry.request)
            except AntiphonError as error:
                raise InvalidRequest(f"{where}: params: {error.message}") from None

    async def create(
        self, workspace_id: str, api_key_id: str | None, entries: Sequence[BatchEntry]
    ) -> MessageBatchRow:
        await asyncio.to_thread(self._validate, entries)  # up to 100,000 requests: not on the loop
        now = self.clock()
        batch = MessageBatchRow(
            id=new_id("msgbatch"), workspace_id=workspace_id, api_key_id=api_key_id,
            processing_status="in_progress", request_total=len(entries), request_counts=None,
            created_at=now, expires_at=now + EXPIRES_AFTER, ended_at=None,
            cancel_initiated_at=None, finalizing_until=None,
        )
        await self._store.create(batch, [NewRequest(e.custom_id, e.params_json) for e in entries])
        return batch

    async def get(self, workspace_id: str, batch_id: str) -> MessageBatchRow:
        found = await self._store.get(workspace_id, batch_id)
        if found is None:
            raise NotFound(f"message batch {batch_id!r} not found")
        return found

    async def list(self, workspace_id: str, page: PageRequest) -> Page[MessageBatchRow]:
        return await self._store.page(workspace_id, page)

    async def answered(self, batch: MessageBatchRow) -> int:
        """Requests with a result so far (progress; the API's counts move only at the end)."""
        if batch.processing_status == "ended":
            return batch.request_total
        return await self._store.answered(batch.id)

    async def cancel(self, workspace_id: str, batch_id: str) -> MessageBatchRow:
        batch = await self.get(workspace_id, batch_id)
        if batch.processing_status == "ended":
            raise Conflict(f"message batch {batch_id!r} has already ended; there is nothing to cancel")
        if batch.processing_status == "in_progress":
            await self._store.cancel(batch_id, self.clock(), CANCELED_RESULT)
            await self.finisher.end_if_done(batch_id)  # nothing was running: it ends now
        return await self.get(workspace_id, batch_id)

    async def delete(self, workspace_id: str, batch_id: str) -> None:
        batch = await self.get(workspace_id, batch_id)
        if batch.processing_status != "ended":
            raise Conflict(
                f"message batch {batch_id!r} is still {batch.processing_status}; "
                "cancel it and wait until it has ended before deleting it")
        if await self._store.delete(batch_id, workspace_id):
            await self._blobs.delete(results_key(batch_id))

    async def results(self, workspace_id: str, batch_id: str) -> AsyncIterator[bytes]:
        batch = await self.get(workspace_id, batch_id)
        if batch.processing_status != "ended":
            raise Conflict(
                f"message batch {batch_id!r} is {batch.processing_status}; its results can be "
                "read once processing_status is ended")
        return self._blobs.read(results_key(batch_id))

    async def expire_and_remove_old(self) -> None:
        """The periodic sweep: expire overdue batches, end finished ones, and remove batches
        (and their results) past the retention period."""
        now = self.clock()
        await self._store.expire(now, EXPIRED_RESULT)
        await self.finisher.end_every_done()
        for batch_id in await self._store.created_before(now - RETENTION):
            await self._store.delete(batch_id)
            await self._blobs.delete(results_key(batch_id))
