"""The batch queue on SQLite and PostgreSQL, driven by an injectable clock: expiry after 24 h,
retention for 29 days, leases that lapse when a worker dies, answers kept exactly once, and
replicas that never claim the same request."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from antiphon.errors import Conflict, InvalidRequest, NotFound
from antiphon.ids import new_id
from antiphon.protocol.messages import MessagesRequest
from antiphon.services.batch_finisher import results_key
from antiphon.services.batches import BatchEntry, BatchService
from antiphon.store.batches import BatchStore
from antiphon.store.blobs import LocalBlobStore
from antiphon.store.database import Database, async_url
from antiphon.store.pages import PageRequest
from antiphon.store.tables import Workspace
from antiphon.store.workspaces import WorkspaceStore

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _entries(count: int, prefix: str = "q") -> list[BatchEntry]:
    params = {"model": "any", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    text = json.dumps(params)
    return [BatchEntry(f"{prefix}{i}", MessagesRequest.model_validate_json(text), text) for i in range(count)]


async def _setup(url: str, tmp_path: Path, clock: Clock) -> tuple[Database, BatchStore, BatchService, str]:
    database = await Database.open(url)
    workspace = Workspace(id=new_id("wrkspc"), name="w", display_color="#000000", tags={},
                          is_default=True, created_at=START, archived_at=None, spend_limit_cents=None)
    await WorkspaceStore(database).add(workspace)
    store = BatchStore(database)
    # Each request's Messages checks are the e2e tests' business; here every request passes.
    service = BatchService(store, LocalBlobStore(tmp_path / "blobs"), lambda request: None, clock)
    return database, store, service, workspace.id


async def _results(service: BatchService, workspace_id: str, batch_id: str) -> list[dict]:
    body = b"".join([chunk async for chunk in await service.results(workspace_id, batch_id)])
    return [json.loads(line) for line in body.decode().splitlines()]


def test_a_batch_not_done_in_24_hours_expires_and_is_removed_after_29_days(url: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        database, store, service, workspace = await _setup(url, tmp_path, clock)
        batch = await service.create(workspace, None, _entries(3))
        assert batch.expires_at == START + timedelta(hours=24)
        [first] = await store.claim("w1", 1, clock() + LEASE)
        assert await store.answer(first.seq, "w1", "succeeded", '{"type":"succeeded","message":{}}')
        await store.claim("w1", 1, clock() + LEASE)  # running when the batch expires

        clock.now = START + timedelta(hours=23, minutes=59)
        await service.expire_and_remove_old()
        assert (await service.get(workspace, batch.id)).processing_status == "in_progress"

        clock.now = START + timedelta(hours=24)
        await service.expire_and_remove_old()
        ended = await service.get(workspace, batch.id)
        assert ended.processing_status == "ended" and ended.ended_at == clock.now
        assert ended.request_counts == {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 2}
        lines = await _results(service, workspace, batch.id)
        assert [(line["custom_id"], line["result"]["type"]) for line in lines] == [
            ("q0", "succeeded"), ("q1", "expired"), ("q2", "expired")]
        # The worker that held q1 finishes late: its answer is not kept.
        assert not await store.answer(first.seq + 1, "w1", "succeeded", "{}")

        clock.now = START + timedelta(days=29) - timedelta(seconds=1)
        await service.expire_and_remove_old()
        assert (await service.get(workspace, batch.id)).id == batch.id
        clock.now = START + timedelta(days=29, seconds=1)
        await service.expire_and_remove_old()
        with pytest.raises(NotFound):
            await service.get(workspace, batch.id)
        assert not (tmp_path / "blobs" / results_key(batch.id)).exists()
        await database.close()

    asyncio.run(scenario())


def test_a_lapsed_lease_hands_the_request_to_another_worker_and_only_its_answer_counts(
    url: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        clock = Clock()
        database, store, service, workspace = await _setup(url, tmp_path, clock)
        batch = await service.create(workspace, None, _entries(1))
        [held] = await store.claim("dead", 5, clock() + LEASE)
        assert await store.claim("other", 5, clock() + LEASE) == []  # held: nobody else gets it
        clock.now += LEASE / 2
        assert await store.requeue_lapsed(clock()) == 0
        clock.now += LEASE
        assert await store.requeue_lapsed(clock()) == 1
        [taken] = await store.claim("alive", 5, clock() + LEASE)
        assert taken.seq == held.seq and taken.custom_id == "q0"
        assert await store.renew("dead", [held.seq], clock() + LEASE) == set()
        assert not await store.answer(held.seq, "dead", "succeeded", '{"type":"succeeded"}')
        assert await store.answer(taken.seq, "alive", "errored", '{"type":"errored"}')
        assert not await store.answer(taken.seq, "alive", "succeeded", '{"type":"succeeded"}')
        assert await service.finisher.end_if_done(batch.id)
        lines = await _results(service, workspace, batch.id)
        assert lines == [{"custom_id": "q0", "result": {"type": "errored"}}]
        await database.close()

    asyncio.run(scenario())


def test_concurrent_claims_never_share_a_request(url: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        database, store, service, workspace = await _setup(url, tmp_path, clock)
        await service.create(workspace, None, _entries(60))
        claims = await asyncio.gather(*(store.claim(f"w{i}", 7, clock() + LEASE) for i in range(12)))
        seqs = [request.seq for claim in claims for request in claim]
        assert len(seqs) == 60 and len(set(seqs)) == 60
        await database.close()

    asyncio.run(scenario())


def test_cancel_cancels_what_has_not_started_and_refuses_once_ended(url: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        database, store, service, workspace = await _setup(url, tmp_path, clock)
        batch = await service.create(workspace, "key", _entries(4))
        [running] = await store.claim("w1", 1, clock() + LEASE)
        canceling = await service.cancel(workspace, batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at == START
        with pytest.raises(Conflict):
            await service.delete(workspace, batch.id)
        assert await store.answer(running.seq, "w1", "succeeded", '{"type":"succeeded"}')
        assert await service.finisher.end_if_done(batch.id)
        ended = await service.get(workspace, batch.id)
        assert ended.request_counts == {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 3, "expired": 0}
        with pytest.raises(Conflict):
            await service.cancel(workspace, batch.id)
        await service.delete(workspace, batch.id)
        with pytest.raises(NotFound):
            await service.get(workspace, batch.id)
        await database.close()

    asyncio.run(scenario())


def test_custom_ids_must_be_unique(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        database, _, service, workspace = await _setup(async_url(None, tmp_path), tmp_path, clock)
        entries = [*_entries(2), *_entries(1)]
        with pytest.raises(InvalidRequest, match=r"requests.2 \(custom_id 'q0'\).*also used by requests.0"):
            await service.create(workspace, None, entries)
        assert (await service.list(workspace, PageRequest())).rows == []  # nothing half-stored
        await database.close()

    asyncio.run(scenario())
