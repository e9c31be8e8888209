"""The batch worker: drains the store's queue of batch requests into the engine.

Requests run at `Priority.BATCH`, so the engine starts them only when no interactive request
waits, and at most `concurrency` at once (by default a quarter of the engine's sequences, so
that interactive requests find free ones and share decode steps with few batch sequences).

Each claimed request is held under a lease that a renewal loop extends; a request whose
lease lapses (its replica died) goes back to the queue, and its answer, should the old
worker still produce one, is not kept. On SQLite one process owns the store, so a start
requeues everything left running by a crash.

A request whose batch was created by a key since disabled or archived (archiving a
workspace archives its keys) does not run: it ends `errored` with a permission_error that
says why, so the rest of such a batch ends within a sweep or two instead of spending the
engine on work nobody may still ask for.

A periodic sweep expires overdue batches, ends finished ones and removes old ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from antiphon.engine.base import Priority
from antiphon.errors import AntiphonError, InvalidRequest, Overloaded, PermissionDenied
from antiphon.ids import request_id
from antiphon.protocol.messages import Message, MessagesRequest
from antiphon.services.batches import BatchService
from antiphon.services.keys import KeyService, Principal
from antiphon.services.messages import MessagesService
from antiphon.services.metering import Metering
from antiphon.store.batches import BatchStore, ClaimedRequest

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 1.0  # how often an idle worker looks for work other replicas queued
SWEEP_SECONDS = 5.0
OVERLOADED_BACKOFF_SECONDS = 0.5

# An error as the API would have answered it: `{"type": "error", "error": {…}}`.
DescribeError = Callable[[BaseException], dict[str, Any]]


class BatchWorker:
    def __init__(
        self,
        store: BatchStore,
        batches: BatchService,
        messages: MessagesService,
        metering: Metering,
        keys: KeyService,
        describe_error: DescribeError,
        concurrency: int,
        lease_seconds: float,
        sole_process: bool,
    ) -> None:
        self._store = store
        self._batches = batches
        self._messages = messages
        self._metering = metering
        self._keys = keys
        self._describe = describe_error
        self._concurrency = concurrency
        self._lease = timedelta(seconds=lease_seconds)
        self._sole_process = sole_process
        self.worker_id = f"worker_{uuid.uuid4().hex}"
        self._tasks: dict[int, asyncio.Task[None]] = {}  # by request seq
        self._leased: set[int] = set()  # held and not yet answered
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.answered_total = 0  # for /metrics
        self.requeued_total = 0

    @property
    def running(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        requeued = await self._store.requeue_lapsed(self._batches.clock(), every_running=self._sole_process)
        if requeued:
            log.info("requeued %d batch requests left running by an earlier process", requeued)
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="batch-claim"),
            asyncio.create_task(self._renew_loop(), name="batch-renew"),
            asyncio.create_task(self._sweep_loop(), name="batch-sweep"),
        ]

    async def close(self) -> None:
        """Stop claiming, abort what runs and give it back to the queue for the next start."""
        for loop in self._loops:
            loop.cancel()
        running = list(self._tasks.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*self._loops, *running, return_exceptions=True)
        with contextlib.suppress(AntiphonError):
            await self._store.release(self.worker_id, sorted(self._leased))

    async def _claim_loop(self) -> None:
        while True:
            claimed: list[ClaimedRequest] = []
            free = self._concurrency - len(self._tasks)
            if free > 0:
                try:
                    lease_until = self._batches.clock() + self._lease
                    claimed = await self._store.claim(self.worker_id, free, lease_until)
                except AntiphonError as error:  # the store is down: try again later
                    log.warning("claiming batch requests failed: %s", error)
                except Exception:
                    log.exception("claiming batch requests failed")
            for request in claimed:
                self._leased.add(request.seq)
                self._tasks[request.seq] = asyncio.create_task(self._run(request), name=f"batch-{request.seq}")
            if not claimed or len(self._tasks) >= self._concurrency:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            leased = sorted(self._leased)
            try:
                held = await self._store.renew(self.worker_id, leased, self._batches.clock() + self._lease)
            except Exception as error:  # the store is down: the next renewal may succeed
                log.warning("renewing batch leases failed: %s", error)
                continue
            for seq in set(leased) - held:
                if seq in self._leased:  # expired, or taken over: stop spending the engine on it
                    self._leased.discard(seq)
                    if (task := self._tasks.get(seq)) is not None:
                        task.cancel()

    async def _sweep_loop(self) -> None:
        while True:
            try:
                if not self._sole_process:
                    self.requeued_total += await self._store.requeue_lapsed(self._batches.clock())
                await self._batches.expire_and_remove_old()
            except AntiphonError as error:
                log.warning("the batch sweep failed: %s", error)
            except Exception:
                log.exception("the batch sweep failed")
            await asyncio.sleep(SWEEP_SECONDS)

    async def _run(self, claimed: ClaimedRequest) -> None:
        try:
            state, result = await self._answer(claimed)
        except Overloaded:  # the engine's queue is full: back to the store, retried soon
            self._leased.discard(claimed.seq)
            with contextlib.suppress(AntiphonError):  # if the store is down too, the lease lapses
                await self._store.release(self.worker_id, [claimed.seq])
            await asyncio.sleep(OVERLOADED_BACKOFF_SECONDS)
            return
        finally:
            self._tasks.pop(claimed.seq, None)
            self._wake.set()
        if claimed.seq not in self._leased:
            return  # expired or taken over meanwhile: the answer is not ours to keep
        self._leased.discard(claimed.seq)
        try:
            kept = await self._store.answer(claimed.seq, self.worker_id, state, json.dumps(result))
            if kept:
                self.answered_total += 1
                if not await self._store.has_open(claimed.batch_id):
                    await self._batches.finisher.end_if_done(claimed.batch_id)
        except AntiphonError as error:  # the lease lapses and the request runs again
            log.warning("storing the answer to batch request %d failed: %s", claimed.seq, error)

    async def _answer(self, claimed: ClaimedRequest) -> tuple[str, dict[str, Any]]:
        """Run one request: ("succeeded", {message}) or ("errored", {error}); Overloaded
        (the engine is full) propagates so that the request is retried."""
        try:
            message = await self._generate(claimed)
        except Overloaded:
            raise
        except AntiphonError as error:
            return "errored", {"type": "errored", "error": self._describe(error)}
        except Exception as error:  # a bug: the request errors, the worker goes on
            log.exception("batch request %s of %s failed", claimed.custom_id, claimed.batch_id)
            return "errored", {"type": "errored", "error": self._describe(error)}
        return "succeeded", {"type": "succeeded", "message": message.model_dump(mode="json")}

    async def _generate(self, claimed: ClaimedRequest) -> Message:
        if claimed.api_key_id is not None:
            revoked = await self._keys.revoked(claimed.api_key_id)
            if revoked is not None:
                raise PermissionDenied(
                    f"the API key that created this batch ({claimed.api_key_id}) is {revoked}: "
                    "its remaining requests do not run"
                )
        try:
            request = MessagesRequest.model_validate_json(claimed.params)
        except ValidationError as error:  # validated at creation; only a changed server gets here
            raise InvalidRequest(f"params: {error.errors(include_url=False)[0]['msg']}") from None
        principal = Principal(claimed.api_key_id, "api", claimed.workspace_id) if claimed.api_key_id else None
        meter = self._metering.meter(principal, request_id(), service_tier="batch")
        started = await self._messages.start(request, meter, claimed.workspace_id, priority=Priority.BATCH)
        try:
            message = await self._messages.create(started)
        finally:
            await started.close()
        return message.model_copy(update={"usage": message.usage.model_copy(update={"service_tier": "batch"})})
