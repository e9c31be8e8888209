"""Message Batches and their requests: the durable queue that batch workers drain.

A request moves pending → running (claimed by one worker, under a lease) → an end state
with its result. Every state change is a conditional UPDATE, so two workers (replicas on
one PostgreSQL) never both own a request: claiming locks rows with FOR UPDATE SKIP LOCKED,
and an answer is kept only if its worker still holds the request when it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update

from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import BatchRequestRow, MessageBatchRow

OPEN_STATES = ("pending", "running")
END_STATES = ("succeeded", "errored", "canceled", "expired")
_INSERT_CHUNK = 5000  # rows a statement, well under the databases' parameter limits


@dataclass(frozen=True)
class NewRequest:
    custom_id: str
    params: str  # JSON


@dataclass(frozen=True)
class ClaimedRequest:
    seq: int
    batch_id: str
    custom_id: str
    params: str
    workspace_id: str
    api_key_id: str | None


@dataclass(frozen=True)
class ResultLine:
    seq: int
    custom_id: str
    result: str  # the result object's JSON


class BatchStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, batch: MessageBatchRow, requests: Sequence[NewRequest]) -> None:
        """The batch and all its requests, in one transaction: all queued or none."""
        async with self._db.transaction() as session:
            session.add(batch)
            await session.flush()
            for start in range(0, len(requests), _INSERT_CHUNK):
                rows = [
                    {"batch_id": batch.id, "custom_id": request.custom_id,
                     "params": request.params, "state": "pending"}
                    for request in requests[start:start + _INSERT_CHUNK]
                ]
                await session.execute(insert(BatchRequestRow), rows)

    async def get(self, workspace_id: str, batch_id: str) -> MessageBatchRow | None:
        async with self._db.transaction() as session:
            found = await session.get(MessageBatchRow, batch_id)
            return found if found is not None and found.workspace_id == workspace_id else None

    async def page(self, workspace_id: str, page: PageRequest) -> Page[MessageBatchRow]:
        query = select(MessageBatchRow).where(MessageBatchRow.workspace_id == workspace_id)
        async with self._db.transaction() as session:
            return await fetch_page(session, MessageBatchRow, query, page)

    async def answered(self, batch_id: str) -> int:
        """How many of an unfinished batch's requests have their result already."""
        query = select(func.count()).where(
            BatchRequestRow.batch_id == batch_id, BatchRequestRow.state.in_(END_STATES))
        async with self._db.transaction() as session:
            return int((await session.execute(query)).scalar_one())

    async def has_open(self, batch_id: str) -> bool:
        """Whether any request of the batch is still pending or running (an index probe)."""
        query = select(exists().where(
            BatchRequestRow.batch_id == batch_id, BatchRequestRow.state.in_(OPEN_STATES)))
        async with self._db.transaction() as session:
            return bool((await session.execute(query)).scalar_one())

    async def cancel(self, batch_id: str, now: datetime, canceled_result: str) -> None:
        """Canceling: requests not started are canceled now; running ones finish."""
        async with self._db.transaction() as session:
            await session.execute(
                update(MessageBatchRow)
                .where(MessageBatchRow.id == batch_id, MessageBatchRow.processing_status == "in_progress")
                .values(processing_status="canceling", cancel_initiated_at=now))
            await session.execute(
                update(BatchRequestRow)
                .where(BatchRequestRow.batch_id == batch_id, BatchRequestRow.state == "pending")
                .values(state="canceled", result=canceled_result))

    async def delete(self, batch_id: str, workspace_id: str | None = None) -> bool:
        """Delete an ended batch (`workspace_id`: only if it is that workspace's). An ended
        batch has no request rows left: `end` dropped them with its results written."""
        query = delete(MessageBatchRow).where(
            MessageBatchRow.id == batch_id, MessageBatchRow.processing_status == "ended")
        if workspace_id is not None:
            query = query.where(MessageBatchRow.workspace_id == workspace_id)
        async with self._db.transaction() as session:
            return bool((await session.execute(query)).rowcount)  # type: ignore[attr-defined]

    # --- the worker's side -------------------------------------------------------------

    async def claim(self, worker_id: str, limit: int, lease_until: datetime) -> list[ClaimedRequest]:
        """Up to `limit` pending requests, oldest first, now running under this worker.

        The UPDATE comes first so that SQLite takes its write lock at once (a read that later
        turns into a write can fail under concurrent writers); on PostgreSQL the subquery
        skips rows another replica is claiming right now."""
        pending = (
            select(BatchRequestRow.seq)
            .where(BatchRequestRow.state == "pending")
            .order_by(BatchRequestRow.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._db.transaction() as session:
            claimed = await session.execute(
                update(BatchRequestRow).where(BatchRequestRow.seq.in_(pending))
                .values(state="running", worker_id=worker_id, lease_until=lease_until)
                .returning(BatchRequestRow.seq))
            seqs = [seq for (seq,) in claimed.all()]
            if not seqs:
                return []
            rows = await session.execute(
                select(BatchRequestRow.seq, BatchRequestRow.batch_id, BatchRequestRow.custom_id,
                       BatchRequestRow.params, MessageBatchRow.workspace_id, MessageBatchRow.api_key_id)
                .join(MessageBatchRow, MessageBatchRow.id == BatchRequestRow.batch_id)
                .where(BatchRequestRow.seq.in_(seqs))
                .order_by(BatchRequestRow.seq))
            return [ClaimedRequest(*row) for row in rows.all()]

    async def renew(self, worker_id: str, seqs: Sequence[int], lease_until: datetime) -> set[int]:
        """Extend this worker's leases; returns the requests it still holds (the others were
        expired, or taken over after a lapsed lease)."""
        if not seqs:
            return set()
        owned = (BatchRequestRow.seq.in_(seqs), BatchRequestRow.worker_id == worker_id,
                 BatchRequestRow.state == "running")
        async with self._db.transaction() as session:
            await session.execute(update(BatchRequestRow).where(*owned).values(lease_until=lease_until))
            return set((await session.scalars(select(BatchRequestRow.seq).where(*owned))).all())

    async def answer(self, seq: int, worker_id: str, state: str, result: str) -> bool:
        """Record a request's result if this worker still holds it; False: it was not kept."""
        async with self._db.transaction() as session:
            outcome = await session.execute(
                update(BatchRequestRow)
                .where(BatchRequestRow.seq == seq, BatchRequestRow.worker_id == worker_id,
                       BatchRequestRow.state == "running")
                .values(state=state, result=result, worker_id=None, lease_until=None))
            return bool(outcome.rowcount)  # type: ignore[attr-defined]

    async def release(self, worker_id: str, seqs: Sequence[int]) -> None:
        """Give requests back to the queue unanswered (shutting down, or the engine is full)."""
        if not seqs:
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(BatchRequestRow)
                .where(BatchRequestRow.seq.in_(seqs), BatchRequestRow.worker_id == worker_id,
                       BatchRequestRow.state == "running")
                .values(state="pending", worker_id=None, lease_until=None))

    async def requeue_lapsed(self, now: datetime, every_running: bool = False) -> int:
        """Running requests whose worker stopped renewing (it died) go back to pending;
        `every_running` when no other worker can exist (SQLite: one process owns the file)."""
        query = update(BatchRequestRow).where(BatchRequestRow.state == "running")
        if not every_running:
            query = query.where(BatchRequestRow.lease_until < now)
        async with self._db.transaction() as session:
            outcome = await session.execute(query.values(state="pending", worker_id=None, lease_until=None))
            return int(outcome.rowcount)  # type: ignore[attr-defined]

    async def expire(self, now: datetime, expired_result: str) -> int:
        """Batches past `expires_at`: every request without a result expires (and the batch
        then ends as any other). Returns how many requests expired."""
        overdue = select(MessageBatchRow.id).where(
            MessageBatchRow.processing_status != "ended", MessageBatchRow.expires_at <= now)
        async with self._db.transaction() as session:
            outcome = await session.execute(
                update(BatchRequestRow)
                .where(BatchRequestRow.batch_id.in_(overdue), BatchRequestRow.state.in_(OPEN_STATES))
                .values(state="expired", result=expired_result, worker_id=None, lease_until=None))
            return int(outcome.rowcount)  # type: ignore[attr-defined]

    # --- ending a batch ----------------------------------------------------------------

    async def unended_without_open_requests(self) -> list[str]:
        still_open = exists().where(
            BatchRequestRow.batch_id == MessageBatchRow.id, BatchRequestRow.state.in_(OPEN_STATES))
        async with self._db.transaction() as session:
            return list((await session.scalars(select(MessageBatchRow.id).where(
                MessageBatchRow.processing_status != "ended", ~still_open))).all())

    async def claim_ending(self, batch_id: str, now: datetime, until: datetime) -> bool:
        """Take the job of writing a batch's results; one replica gets it."""
        free = (MessageBatchRow.finalizing_until.is_(None)) | (MessageBatchRow.finalizing_until < now)
        async with self._db.transaction() as session:
            outcome = await session.execute(
                update(MessageBatchRow)
                .where(MessageBatchRow.id == batch_id, MessageBatchRow.processing_status != "ended", free)
                .values(finalizing_until=until))
            return bool(outcome.rowcount)  # type: ignore[attr-defined]

    async def counts(self, batch_id: str) -> dict[str, int]:
        query = (select(BatchRequestRow.state, func.count())
                 .where(BatchRequestRow.batch_id == batch_id).group_by(BatchRequestRow.state))
        async with self._db.transaction() as session:
            return {state: int(count) for state, count in (await session.execute(query)).all()}

    async def results(self, batch_id: str, after_seq: int, limit: int) -> list[ResultLine]:
        """A page of answered requests in submission order (keyset: never all in memory)."""
        query = (
            select(BatchRequestRow.seq, BatchRequestRow.custom_id, BatchRequestRow.result)
            .where(BatchRequestRow.batch_id == batch_id, BatchRequestRow.seq > after_seq)
            .order_by(BatchRequestRow.seq).limit(limit))
        async with self._db.transaction() as session:
            return [ResultLine(seq, custom_id, result or "")
                    for seq, custom_id, result in (await session.execute(query)).all()]

    async def end(self, batch_id: str, counts: dict[str, Any], now: datetime) -> None:
        """The batch is ended with its counts; its request rows go (the results blob has them)."""
        async with self._db.transaction() as session:
            await session.execute(
                update(MessageBatchRow).where(MessageBatchRow.id == batch_id)
                .values(processing_status="ended", request_counts=counts, ended_at=now,
                        finalizing_until=None))
            await session.execute(delete(BatchRequestRow).where(BatchRequestRow.batch_id == batch_id))

    async def created_before(self, cutoff: datetime) -> list[str]:
        """Ended batches older than the retention period."""
        async with self._db.transaction() as session:
            return list((await session.scalars(select(MessageBatchRow.id).where(
                MessageBatchRow.created_at < cutoff, MessageBatchRow.processing_status == "ended"))).all())
