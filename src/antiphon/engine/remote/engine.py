"""A served model whose tokens come from a pool of upstream engine servers.

The Engine contract of `engine/base.py`, kept the same way as the embedded engine keeps it:
the prompt arrives as token ids (rendered and tokenized by antiphon with the model's own
vocabulary, loaded here without its weights), every decision about the output is made by
`RemoteOutput`, and the events reach the caller through the same `GenerationStream`. Each
request is one asyncio task on the event loop: it waits for a place in the pool, streams
its segments from the upstream it was given, and is cancelled when its client goes away,
which closes the upstream's stream and so stops that generation too.

A call that fails before the request's first token is tried again on another upstream; a
failure after it ends the generation with an error, which a stream reports as an `error`
event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import aiohttp

from antiphon.engine.base import (
    Admitted,
    EngineStats,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelCard,
    Prompt,
    TextChunk,
)
from antiphon.engine.cache_accounting import cache_usage
from antiphon.engine.latency import LatencyHistogram
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.remote.dialects import Dialect
from antiphon.engine.remote.output import Next, RemoteOutput, Vocabulary
from antiphon.engine.remote.pool import Lease, UpstreamPool
from antiphon.engine.remote.router import block_hashes
from antiphon.engine.remote.segment import (
    Segment,
    UpstreamEnded,
    UpstreamFailed,
    UpstreamReused,
)
from antiphon.engine.stream import GenerationStream
from antiphon.errors import AntiphonError, InternalError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteLimits:
    repetition_window: int = 0
    health_interval: float = 5.0  # seconds between health checks of each upstream
    headers: tuple[tuple[str, str], ...] = ()  # on every upstream call (an API key)


@dataclass
class _Counters:
    completed: int = 0
    aborted: int = 0
    repetition_stops: int = 0
    prompt_tokens: int = 0  # prefilled by the upstreams
    cached_prompt_tokens: int = 0  # found in their prefix caches
    output_tokens: int = 0


class RemoteEngine:
    def __init__(self, card: ModelCard, vocabulary_model: LlamaModel, vocabulary: Vocabulary,
                 pool: UpstreamPool, dialect: Dialect, limits: RemoteLimits) -> None:
        self.card = card
        self.failure: str | None = None  # no thread of its own to die: upstreams come back
        self.model = vocabulary_model
        self.pool = pool
        self._dialect = dialect
        self._vocabulary = vocabulary
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None  # made on the event loop
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._counts = _Counters()
        self._first_token = LatencyHistogram()
        self._between_tokens = LatencyHistogram()
        self._health: asyncio.Task[None] | None = None

    @property
    def _client(self) -> aiohttp.ClientSession:
        """The HTTP client for the upstreams, made on first use on the event loop. A
        connection per call: llama-server may close a kept-alive connection right after a
        streamed answer, and a call sent on it would fail as if the upstream were down."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=dict(self._limits.headers),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0),
                connector=aiohttp.TCPConnector(limit=0, force_close=True),
            )
        return self._session

    def tokenize(self, prompt: Prompt) -> list[int]:
        return self.model.tokenize_prompt(prompt)

    def check_capacity(self, pending: int = 0) -> None:
        self._start_health_checks()
        self.pool.check_capacity(len(self._tasks) + pending)

    def generate(self, request: GenerationRequest) -> GenerationStream:
        self.check_capacity()
        events: asyncio.Queue[GenerationEvent] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self._serve(request, events))
        self._tasks[request.request_id] = task
        return GenerationStream(request.request_id, events, self._on_stream_closed)

    def _on_stream_closed(self, request_id: str, unfinished: bool) -> None:
        task = self._tasks.pop(request_id, None)
        if unfinished and task is not None and not task.done():
            task.cancel()  # closes the upstream stream: the upstream stops generating
            self._counts.aborted += 1

    def stats(self) -> EngineStats:
        self._start_health_checks()  # /health and /metrics read this: keep it current
        counts = self._counts
        return EngineStats(
            running=self.pool.running, waiting=self.pool.waiting, in_flight=len(self._tasks),
            completed_total=counts.completed, aborted_total=counts.aborted,
            repetition_stops_total=counts.repetition_stops,
            prompt_tokens_total=counts.prompt_tokens,
            cached_prompt_tokens_total=counts.cached_prompt_tokens,
            output_tokens_total=counts.output_tokens, steps_total=0, decode_seconds_total=0.0,
            kv_cells_total=0, kv_cells_used=0, prefix_cache_cells=0, prefix_cache_nodes=0,
            prefix_cache_evicted_cells_total=0,
            time_to_first_token=self._first_token.snapshot(),
            inter_token_latency=self._between_tokens.snapshot(),
            upstreams=tuple(upstream.stats() for upstream in self.pool.upstreams),
        )

    def close(self) -> None:
        """From a worker thread at shutdown: stop the health checks, close the shared
        routing memory's connections, free the vocabulary."""
        health = self._health  # started by the first request: none, nothing to close
        if health is not None and not health.done():
            loop = health.get_loop()
            loop.call_soon_threadsafe(health.cancel)
            if self.pool.shared is not None:
                closing = asyncio.run_coroutine_threadsafe(self.pool.shared.close(), loop)
                with contextlib.suppress(Exception):  # shutting down: nothing left to tell
                    closing.result(timeout=3)
        self.model.free()

    # ----- health ------------------------------------------------------------------

    def _start_health_checks(self) -> None:
        if self._health is None or self._health.done():
            self._health = asyncio.get_running_loop().create_task(self._check_health_forever())

    async def check_health(self) -> None:
        """One health check of every upstream, all at once."""
        upstreams = self.pool.upstreams
        verdicts = await asyncio.gather(
            *(self._dialect.is_healthy(self._client, upstream.url) for upstream in upstreams)
        )
        for index, healthy in enumerate(verdicts):
            self.pool.mark_healthy(index, healthy)

    async def _check_health_forever(self) -> None:
        while True:
            await self.check_health()
            await asyncio.sleep(self._limits.health_interval)

    # ----- one request -------------------------------------------------------------

    async def _serve(self, request: GenerationRequest,
                     events: asyncio.Queue[GenerationEvent]) -> None:
        output = RemoteOutput(request, self._vocabulary, self.card.context_window,
                              self._limits.repetition_window)
        hashes = block_hashes(request.prompt_tokens)
        failed: frozenset[int] = frozenset()
        submitted = time.perf_counter()
        timing = _TokenTiming(submitted, self._first_token, self._between_tokens)
        try:
            while output.finished is None:
                lease = await self.pool.acquire(hashes, request.priority, failed)
                try:
                    await self._run(lease, output, events, timing)
                except UpstreamFailed as failure:
                    if failure.retryable:  # the upstream's fault, not this request's
                        self.pool.eject(lease.index, str(failure))
                    if output.generated or not failure.retryable:
                        raise InternalError(
                            f"the upstream engine serving {self.card.id} failed: {failure}"
                        ) from None
                    failed |= {lease.index}  # nothing sent yet: another upstream may serve it
                finally:
                    self.pool.release(lease)
        except AntiphonError as error:
            output.finished = Finished("end_turn", len(output.generated), None, error)
        except Exception:  # a bug: fail this request rather than leave its client waiting
            log.exception("%s: generation %s failed", self.card.id, request.request_id)
            stopped = InternalError("the generation stopped unexpectedly")
            output.finished = Finished("end_turn", len(output.generated), None, stopped)
        assert output.finished is not None
        self._counts.completed += 1
        self._counts.output_tokens += len(output.generated)
        self._counts.repetition_stops += output.finished.reason == "repetition"
        events.put_nowait(output.finished)

    async def _run(self, lease: Lease, output: RemoteOutput,
                   events: asyncio.Queue[GenerationEvent], timing: _TokenTiming) -> None:
        """The request's segments on one upstream, until it finishes."""
        while output.finished is None:
            await self._run_segment(lease, output.next_segment(), output, events, timing)

    async def _run_segment(self, lease: Lease, segment: Segment, output: RemoteOutput,
                           events: asyncio.Queue[GenerationEvent], timing: _TokenTiming) -> None:
        upstream = self.pool.upstreams[lease.index]
        produced = 0
        reused: int | None = None
        stream = self._dialect.stream(self._client, lease.url, segment)
        try:
            # Leaving early closes the upstream's stream at once: it stops generating.
            async with contextlib.aclosing(stream):
                async for event in stream:
                    if isinstance(event, UpstreamReused):
                        reused = event.cached_tokens
                        self._on_reused(output, len(segment.tokens), reused, events)
                        continue
                    chunks: list[TextChunk] = []
                    if isinstance(event, UpstreamEnded):
                        verdict = output.upstream_ended(event.reason, produced, chunks)
                    else:
                        verdict = Next.MORE
                        for token in event.tokens:
                            produced += 1
                            timing.observe(upstream.first_token)
                            verdict = output.accept(token, chunks)
                            if verdict is not Next.MORE:
                                break
                    for chunk in chunks:
                        events.put_nowait(chunk)
                    if verdict is not Next.MORE:
                        return
        finally:
            if reused is None and (produced or output.finished is not None):
                # Cut short before the upstream said what it reused (vLLM says it last):
                # the prompt counts as computed, none of it as read from a cache.
                self._on_reused(output, len(segment.tokens), 0, events)

    def _on_reused(self, output: RemoteOutput, tokens: int, cached: int,
                   events: asyncio.Queue[GenerationEvent]) -> None:
        cached = min(cached, tokens)
        self._counts.cached_prompt_tokens += cached
        self._counts.prompt_tokens += tokens - cached
        if output.admitted:
            return  # a later segment or another try: the usage was told once, at the start
        output.admitted = True
        breakpoints = output.request.cache_breakpoints
        # Pins cannot be enforced upstream: what it reused up to the last breakpoint is read.
        last = max((b.tokens for b in breakpoints), default=0)
        events.put_nowait(Admitted(cache_usage(breakpoints, (min(cached, last),), cached)))


@dataclass
class _TokenTiming:
    """Time to first token and between tokens, for the engine and for the upstream."""

    submitted: float
    first_token: LatencyHistogram
    between_tokens: LatencyHistogram
    last: float | None = None

    def observe(self, upstream_first_token: LatencyHistogram) -> None:
        now = time.perf_counter()
        if self.last is None:
            self.first_token.observe(now - self.submitted)
            upstream_first_token.observe(now - self.submitted)
        else:
            self.between_tokens.observe(now - self.last)
        self.last = now

