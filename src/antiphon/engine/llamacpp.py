"""The embedded engine: llama.cpp with continuous batching on one thread.

One engine thread owns the llama.cpp context, the KV cache and its prefix cache, the batch
and the scheduler (llama.cpp server's rule: one thread owns the slots). Each step it applies
pending commands (submit, abort), asks the scheduler for a plan, runs one `llama_decode` over
every sequence's tokens, samples one token for each sequence that asked for logits, and sends
the resulting events to the event loop in one `call_soon_threadsafe`.

The event loop's side (admission, queueing, events back) is `llamacpp_door.EngineDoor`.
When the engine thread ends, for a bug or at shutdown, it closes the door's queue, then
answers everything that was queued or running with an error: no request can be left
waiting for a thread that is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import llama_cpp

from antiphon.engine import faults, repetition
from antiphon.engine.base import (
    Admitted,
    EngineStats,
    Finished,
    FinishReason,
    GenerationRequest,
    ModelCard,
    Prompt,
    TextChunk,
)
from antiphon.engine.command_queue import Stop
from antiphon.engine.decode_batch import DecodeBatch
from antiphon.engine.engine_counters import EngineCounters, KvGauges
from antiphon.engine.grammar_sampling import GrammarDeadEnd
from antiphon.engine.llamacpp_disk_tier import DiskTier
from antiphon.engine.llamacpp_door import EngineDoor, Outbox, ended, send
from antiphon.engine.llamacpp_kv import (
    LLAMA_MAX_SEQ,
    LlamaKvCells,
    create_context,
    prefix_cache_supported,
)
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.llamacpp_sequence import SequenceRun, Submission, VocabularyFacts
from antiphon.engine.os_thread import name_this_thread
from antiphon.engine.prefix_cache import PrefixCache
from antiphon.engine.prefix_store import PrefixStore
from antiphon.engine.row_sampling import pick_tokens, step_logits
from antiphon.engine.scheduler import Scheduler, Sequence, StepItem
from antiphon.engine.stream import GenerationStream
from antiphon.errors import AntiphonError, InternalError, Overloaded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineLimits:
    context_window: int
    parallel: int
    max_queue: int
    batch_tokens: int
    threads: int
    kv_cells: int  # the KV budget: running sequences and the prefix cache share it
    repetition_window: int = 0  # tokens of a loop that end an answer (0: never)
    prefix_cache_ram: int = 0  # bytes of host memory for prefixes out of the pool (0: none)
    spill_idle: bool = True  # idle prefixes leave the pool each step (Scheduler's argument)


class LlamaCppEngine:
    def __init__(
        self, model: LlamaModel, card: ModelCard, limits: EngineLimits,
        store: PrefixStore | None = None,
    ) -> None:
        self.card = card
        self.model = model
        self.limits = limits
        cacheable = prefix_cache_supported(model)
        store = store if cacheable else None
        # Ids: the running slots, the prefix cache's holders, and a scratch id for the disk tier.
        holders = LLAMA_MAX_SEQ - limits.parallel - (store is not None) if cacheable else 0
        self._context = create_context(
            model, limits.kv_cells, LLAMA_MAX_SEQ if cacheable else limits.parallel,
            limits.batch_tokens, limits.threads, card.yarn_factor,
        )
        cells = LlamaKvCells(self._context)
        self._disk = DiskTier(cells, store, LLAMA_MAX_SEQ - 1) if store else None
        self._unsaved: set[str] = set()  # prefilled, their breakpoints' prefixes not yet saved
        self._batch = DecodeBatch(limits.batch_tokens)
        cache = PrefixCache(
            range(limits.parallel, limits.parallel + holders), cells, limits.prefix_cache_ram
        )
        self._scheduler = Scheduler(
            limits.parallel, limits.batch_tokens, limits.kv_cells, card.context_window, cache,
            cells, spill_idle=limits.spill_idle,
        )
        self._facts = VocabularyFacts(
            vocab=model.vocab,
            n_vocab=model.n_vocab,
            end_of_generation=model.end_of_generation_tokens,
            control_tokens=tuple(
                token for token in model.control_tokens.ids
                if token not in model.end_of_generation_tokens
            ),
            tokenize_template_text=lambda text: model.tokenize(text, False, True),
        )
        self._token_kinds = repetition.TokenKinds()  # the engine thread reads them first
        self._active: dict[str, SequenceRun] = {}
        self._door = EngineDoor(card.id, limits.parallel, limits.max_queue, model)
        self._commands = self._door.commands
        self._counts = EngineCounters()  # written by the engine thread
        self._thread = threading.Thread(target=self._run, name=f"engine-{card.id}", daemon=True)
        self._thread.start()

    # ----- event loop side -------------------------------------------------------------

    def tokenize(self, prompt: Prompt) -> list[int]:
        return self.model.tokenize_prompt(prompt)

    @property
    def failure(self) -> str | None:
        return self._door.failure

    def check_capacity(self, pending: int = 0) -> None:
        self._door.check_capacity(pending)

    def generate(self, request: GenerationRequest) -> GenerationStream:
        return self._door.submit(request)

    def stats(self) -> EngineStats:
        scheduler = self._scheduler
        return self._counts.stats(
            len(scheduler.running), len(scheduler.waiting), self._door.in_flight,
            self.limits.kv_cells, self._disk.store if self._disk else None,
        )

    def close(self) -> None:
        self._commands.put(Stop())
        self._thread.join(timeout=30)
        self._door.close_grammars()
        if self._thread.is_alive():  # still inside llama_decode: freeing now would crash it
            log.warning("engine thread for %s did not stop; leaving its memory", self.card.id)
            return
        if self._disk is not None:
            self._disk.store.close()  # entries queued for writing are written first
        self._batch.free()
        llama_cpp.llama_free(self._context)
        self.model.free()

    # ----- engine thread ---------------------------------------------------------------

    def _run(self) -> None:
        name_this_thread(self._thread.name)
        error: AntiphonError = Overloaded("the server is shutting down")
        try:
            self._serve()
        except Exception as crash:  # a bug: fail every request rather than hang them
            log.exception("engine thread for %s crashed", self.card.id)
            self._door.failure = f"{type(crash).__name__}: {crash}"
            error = InternalError(f"the engine serving {self.card.id} stopped unexpectedly")
        finally:
            self._answer_all(error)

    def _serve(self) -> None:
        """The engine loop, until told to stop."""
        if self.limits.repetition_window:  # a pass over the vocabulary: 0.4 s for 49k
            self._token_kinds = repetition.TokenKinds.of_vocabulary(
                self.model.n_vocab, self.model.render_piece
            )
        while self._apply_commands(block=self._idle()):
            self._idle()
            plan = self._scheduler.schedule()
            # Sent before the step: a prompt chunk can take seconds, and message_start
            # waits for what the prompt found in the cache.
            send(self._admitted_events())
            if plan:
                self._step(plan)
            cache = self._scheduler.cache
            self._counts.kv = KvGauges(
                self._scheduler.cells_used, cache.cells_used, cache.node_count,
                cache.evicted_cells, cache.ram,
            )

    def _idle(self) -> bool:
        """Whether the engine has nothing to do; the disk tier's writer works only then."""
        idle = not self._scheduler.has_work
        if self._disk is not None:
            self._disk.store.gate.engine_busy(not idle)
        return idle

    def _answer_all(self, error: AntiphonError) -> None:
        """Close the door's queue, then end everything queued or running with `error`."""
        send(self._door.close_queue(error) + self._fail_running(error))

    def _apply_commands(self, block: bool) -> bool:
        """Apply queued commands; block for one when idle. False once told to stop."""
        command = self._commands.get(block=block)
        while command is not None:
            if isinstance(command, Stop):
                return False
            if isinstance(command, Submission):
                self._start(command)
            else:
                self._abort(command.request_id)
            command = self._commands.get(block=False)
        return True

    def _start(self, submission: Submission) -> None:
        if submission.abandoned:  # its client left while it was queued
            submission.discard()
            return
        try:
            run = SequenceRun(submission, self._facts, self.model.piece)
        except AntiphonError as error:  # fail this one only
            send([ended(submission, error)])
            return
        self._active[run.request_id] = run
        if self._disk is not None:
            restored = self._disk.restore(run.sequence.prompt, self._scheduler)
            self._counts.disk_restored_tokens += restored
        self._scheduler.add(run.sequence)

    def _abort(self, request_id: str) -> None:
        active = self._active.pop(request_id, None)
        if active is None:
            return  # it had finished already
        if request_id in self._unsaved:  # its client left; its prompt is worth keeping
            self._save_prefixes(active.sequence)
        self._scheduler.abort(request_id)  # what it computed stays in the prefix cache
        active.free()
        self._counts.aborted += 1

    def _admitted_events(self) -> Outbox:
        """Tell each newly started sequence what its prompt found in the cache."""
        outbox: Outbox = []
        for sequence in self._scheduler.admitted:
            self._counts.cached_prompt_tokens += sequence.reused
            run = self._active[sequence.request_id]
            outbox.append((run.submission, Admitted(sequence.cache)))
        self._scheduler.admitted.clear()
        return outbox

    def _step(self, plan: list[StepItem]) -> None:
        outbox: Outbox = []
        sample_rows = self._batch.fill(plan)
        self._counts.prompt_tokens += sum(
            len(item.tokens) for item in plan if item.start_position < len(item.sequence.prompt)
        )
        started = time.perf_counter()
        status = llama_cpp.llama_decode(self._context, self._batch.handle)
        # On a GPU the step runs asynchronously until its logits are read: wait for it here,
        # so that decode time is the device's and the rest of a step is ours.
        llama_cpp.llama_synchronize(self._context)
        self._counts.decode_seconds += time.perf_counter() - started
        self._counts.steps += 1
        faults.after_step(self._counts.steps)
        if status != 0:
            error = InternalError(f"the model failed to decode (llama_decode returned {status})")
            for item in plan:  # their cells' contents are unknown now: not cached
                run = self._active[item.sequence.request_id]
                self._finish(run, "end_turn", outbox, error, keep_cells=False)
            send(outbox)
            return
        self._scheduler.commit(plan)
        if self._disk is not None:  # saved when it ends (_save_prefixes), not on its way
            self._unsaved.update(s.request_id for s in self._scheduler.prefilled if s.breakpoints)
        self._scheduler.prefilled.clear()
        for sequence in self._scheduler.prewarmed:  # max_tokens 0: the prompt is cached
            self._finish(self._active[sequence.request_id], "max_tokens", outbox)
        self._scheduler.prewarmed.clear()
        picks = self._row_picks(sample_rows)
        for output, (row, item) in enumerate(sample_rows):
            run = self._active[item.sequence.request_id]
            try:
                token = picks[output]
                if token is None:
                    token = run.next_token(self._context, row)
            except GrammarDeadEnd:
                error = InternalError(
                    "generation stopped: no token of this model's vocabulary continues the "
                    "required output format (a schema value the model cannot spell)"
                )
                self._finish(run, "end_turn", outbox, error)
                continue
            self._on_token(run, token, outbox)
        send(outbox)

    def _row_picks(self, sample_rows: list[tuple[int, StepItem]]) -> list[int | None]:
        """The next token of each sequence of the step that has a row sampler, picked over
        the step's logits; None for the others (a forced token, or a grammar's pick through
        its own chain)."""
        samplers = [
            self._active[item.sequence.request_id].row_sampler for _, item in sample_rows
        ]
        # A step of prompt chunks only may have no logits to read.
        if all(sampler is None for sampler in samplers):
            return [None] * len(samplers)
        return pick_tokens(step_logits(self._context, len(samplers), self.model.n_vocab), samplers)

    def _on_token(self, run: SequenceRun, token: int, outbox: Outbox) -> None:
        run.last_token_at = self._counts.observe_token(
            run.submission.submitted_at, run.last_token_at
        )
        sequence = run.sequence
        if self.model.is_end_of_generation(token):
            self._finish(run, "end_turn", outbox)
            return
        self._scheduler.append_token(sequence, token)
        self._counts.output_tokens += 1
        run.note_written(token)
        decoded = run.detokenizer.add(token)
        if decoded.text:
            outbox.append((run.submission, TextChunk(decoded.text, len(sequence.generated))))
        if decoded.stop_sequence is not None:
            self._finish(run, "stop_sequence", outbox, stop_sequence=decoded.stop_sequence)
        elif len(sequence.generated) >= sequence.max_new_tokens:
            self._finish(run, "max_tokens", outbox)
        elif len(sequence.prompt) + len(sequence.generated) >= self.card.context_window:
            self._finish(run, "context_exhausted", outbox)
        elif (block := self._loop_block(run)) is not None:
            self._counts.repetition_stops += 1
            log.warning(
                "%s: ended after %d tokens: its last %d repeat one %d-token block",
                run.request_id, len(sequence.generated), self.limits.repetition_window, block,
            )
            self._finish(run, "repetition", outbox)

    def _loop_block(self, run: SequenceRun) -> int | None:
        """The block a free-text answer has been repeating verbatim, if it fell into a loop."""
        window, generated = self.limits.repetition_window, run.sequence.generated
        if not (repetition.due(len(generated), window) and run.writes_free_text):
            return None
        return repetition.repeating_block(generated, window, self._token_kinds)

    def _finish(
        self,
        run: SequenceRun,
        reason: FinishReason,
        outbox: Outbox,
        error: AntiphonError | None = None,
        stop_sequence: str | None = None,
        keep_cells: bool = True,
    ) -> None:
        if stop_sequence is None and error is None:
            tail = run.detokenizer.finish()
            if tail.text:
                outbox.append((run.submission, TextChunk(tail.text, len(run.sequence.generated))))
            if tail.stop_sequence is not None:
                reason, stop_sequence = "stop_sequence", tail.stop_sequence
        sequence = run.sequence
        outbox.append((run.submission, Finished(reason, len(sequence.generated), stop_sequence, error)))
        if keep_cells and sequence.request_id in self._unsaved:
            send(list(outbox))  # the answer is on its way before its prefixes are copied
            outbox.clear()
            self._save_prefixes(sequence)
        self._unsaved.discard(sequence.request_id)
        self._scheduler.finish(sequence, keep=keep_cells)
        run.free()
        del self._active[sequence.request_id]
        self._counts.completed += 1

    def _save_prefixes(self, sequence: Sequence) -> None:
        """Hand the disk tier the prefixes at `sequence`'s breakpoints while its slot still
        holds their cells. Done as it ends, not when its prompt is prefilled: the copy (a
        few hundred MB for Claude Code's system prompt) would otherwise delay its tokens."""
        self._unsaved.discard(sequence.request_id)
        if self._disk is not None:
            self._disk.persist(sequence)

    def _fail_running(self, error: AntiphonError) -> Outbox:
        """End every running sequence with `error`. Cleanup that fails is logged and passed
        over: answering the others comes first."""
        outbox: Outbox = []
        for run in list(self._active.values()):
            sequence = run.sequence
            try:
                self._scheduler.abort(sequence.request_id)
                run.free()
            except Exception:
                log.exception("%s: cleanup failed while the engine stopped", run.request_id)
            outbox.append(ended(run.submission, error, len(sequence.generated)))
        self._active.clear()
        self._unsaved.clear()
        return outbox
