"""The way into the embedded engine, on the event loop's side, and the way events come back.

A request is admitted if there is room (`parallel` running and `max_queue` waiting), then
queued for the engine thread, its grammar built first on the grammar thread (which would
otherwise stall every stream for as long as llama.cpp takes to parse it). Once the engine
thread has stopped, nothing more is queued: a submission is answered with the reason
instead. Events go back to each request's event loop in one wake-up per step (`send`).
"""

from __future__ import annotations

import asyncio

from antiphon.engine.base import Finished, GenerationEvent, GenerationRequest
from antiphon.engine.command_queue import Abort, CommandQueue
from antiphon.engine.grammar_intake import GrammarIntake
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.llamacpp_sequence import Submission
from antiphon.engine.stream import GenerationStream
from antiphon.errors import AntiphonError, InternalError, Overloaded

Outbox = list[tuple[Submission, GenerationEvent]]


def send(outbox: Outbox) -> None:
    """Hand events to their event loops: one wake-up per loop, not per token. Any thread."""
    by_loop: dict[asyncio.AbstractEventLoop, Outbox] = {}
    for submission, event in outbox:
        by_loop.setdefault(submission.loop, []).append((submission, event))
    for loop, deliveries in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, deliveries)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            pass


def _deliver(deliveries: Outbox) -> None:
    for submission, event in deliveries:
        submission.events.put_nowait(event)


def ended(submission: Submission, error: AntiphonError, generated: int = 0) -> tuple[Submission, Finished]:
    """The event that ends a submission with `error`."""
    return submission, Finished("end_turn", generated, None, error)


class EngineDoor:
    def __init__(self, model_id: str, parallel: int, max_queue: int, model: LlamaModel) -> None:
        self._model_id = model_id
        self._parallel, self._max_queue = parallel, max_queue
        self.commands = CommandQueue()  # read by the engine thread
        self.failure: str | None = None  # why the engine thread died, once it has
        self.in_flight = 0  # event loop thread only
        self._grammars = GrammarIntake(
            f"grammar-{model_id}", model.vocab, model.n_vocab, self._enqueue, self._refuse
        )

    def check_capacity(self, pending: int = 0) -> None:
        if self.commands.closed:  # it crashed or was closed: nobody would answer
            raise self.stopped_error()
        if self.in_flight + pending >= self._parallel + self._max_queue:
            raise Overloaded(
                f"{self._model_id} is busy: {self._parallel} requests running and "
                f"{self._max_queue} waiting; retry shortly",
                retry_after_seconds=1.0,
            )

    def submit(self, request: GenerationRequest) -> GenerationStream:
        self.check_capacity()
        self.in_flight += 1
        events: asyncio.Queue[GenerationEvent] = asyncio.Queue()
        submission = Submission(request, asyncio.get_running_loop(), events)
        if request.grammar is None:
            self._enqueue(submission)
        else:  # built off the engine thread, which would stall every stream meanwhile
            self._grammars.submit(submission)

        def on_close(request_id: str, unfinished: bool) -> None:
            self.in_flight -= 1
            if unfinished:
                submission.abandoned = True  # in case it has not started yet
                self.commands.put(Abort(request_id))

        return GenerationStream(request.request_id, events, on_close)

    def stopped_error(self) -> InternalError:
        why = "it failed" if self.failure is not None else "the server is shutting down"
        return InternalError(f"the engine serving {self._model_id} has stopped: {why}")

    def close_queue(self, error: AntiphonError) -> Outbox:
        """Engine thread, at its end: take no more submissions; the events that end those
        still queued with `error`."""
        outbox: Outbox = []
        for submission in self.commands.close():
            submission.discard()
            outbox.append(ended(submission, error))
        return outbox

    def close_grammars(self) -> None:
        """After the engine thread: what the grammar thread still holds is refused."""
        self._grammars.close()

    def _enqueue(self, submission: Submission) -> None:
        """Queue a submission for the engine thread, or answer it at once if that thread has
        stopped taking them. Any thread."""
        if not self.commands.submit(submission):
            self._refuse(submission, self.stopped_error())

    def _refuse(self, submission: Submission, error: AntiphonError) -> None:
        """End a submission that never started with `error`. Any thread."""
        submission.discard()
        send([ended(submission, error)])
