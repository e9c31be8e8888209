"""Grammars compiled off the engine thread.

llama.cpp parses a grammar and builds its first stacks when the sampler is created: for a
request with a large tool set that is milliseconds to seconds. On the engine thread it would
stall every running stream for that long, so requests with a grammar pass through this
thread first, which builds their `GrammarSampler` and then hands them to the engine. The
sampler only reads the vocabulary, which nothing writes after load.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import llama_cpp

from antiphon.engine.grammar_sampling import GrammarSampler
from antiphon.engine.llamacpp_sequence import Submission
from antiphon.engine.os_thread import name_this_thread
from antiphon.errors import AntiphonError, InternalError

log = logging.getLogger(__name__)


class GrammarIntake:
    def __init__(
        self,
        name: str,
        vocab: llama_cpp.llama_vocab_p,
        n_vocab: int,
        forward: Callable[[Submission], None],
        fail: Callable[[Submission, AntiphonError], None],
    ) -> None:
        """`forward` passes a compiled submission on to the engine; `fail` answers one whose
        grammar could not be built."""
        self._vocab, self._n_vocab = vocab, n_vocab
        self._forward, self._fail = forward, fail
        self._jobs: queue.SimpleQueue[Submission | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, submission: Submission) -> None:
        self._jobs.put(submission)

    def close(self) -> None:
        """Stop after the submissions already queued (they are forwarded or failed)."""
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        name_this_thread(self._thread.name)
        while (submission := self._jobs.get()) is not None:
            if submission.abandoned:  # the client left while it waited
                continue
            try:
                self._compile(submission)
            except AntiphonError as error:  # a grammar llama.cpp refused
                self._fail(submission, error)
                continue
            except Exception:  # a bug: answer this one rather than lose it
                log.exception("%s: building its grammar failed", submission.request.request_id)
                self._fail(submission, InternalError("the request's grammar could not be built"))
                continue
            self._forward(submission)

    def _compile(self, submission: Submission) -> None:
        grammar = submission.request.grammar
        assert grammar is not None
        submission.grammar_sampler = GrammarSampler(self._vocab, grammar, self._n_vocab)
