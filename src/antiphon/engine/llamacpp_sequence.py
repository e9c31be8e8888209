"""Engine-thread state of one sequence in the llama.cpp backend: how its next token is chosen.

Its tokens are picked with the rest of the step's (engine/row_sampling.py): while a thinking
section is open, never one that ends the turn; after it, as the request samples. Under a
grammar, the answer samples through a llama.cpp chain that carries it instead, and tokens
the engine writes itself (the close of a thinking section) bypass both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field

import llama_cpp

from antiphon.engine import faults
from antiphon.engine.base import GenerationEvent, GenerationRequest
from antiphon.engine.detokenizer import Detokenizer
from antiphon.engine.grammar_sampling import GrammarSampler
from antiphon.engine.lazy_trigger import TriggerWatch
from antiphon.engine.row_sampling import RowSampler
from antiphon.engine.sampling import build_sampler_chain
from antiphon.engine.scheduler import Sequence
from antiphon.engine.thinking_section import ThinkingSection


@dataclass
class Submission:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[GenerationEvent]
    submitted_at: float = field(default_factory=time.perf_counter)
    # Built by the grammar intake thread before the engine sees it (engine/grammar_intake).
    grammar_sampler: GrammarSampler | None = None
    # Set on the event loop when the client leaves before the end: a submission that had
    # not started yet is then dropped instead of run for nobody.
    abandoned: bool = False

    def discard(self) -> None:
        """Free what was built for a submission that will never run."""
        if self.grammar_sampler is not None:
            self.grammar_sampler.free()
            self.grammar_sampler = None


@dataclass(frozen=True)
class VocabularyFacts:
    """What sampling needs to know about the model, computed once at load."""

    vocab: llama_cpp.llama_vocab_p
    n_vocab: int
    end_of_generation: tuple[int, ...]
    control_tokens: tuple[int, ...]  # not end-of-generation ones
    tokenize_template_text: Callable[[str], Seq[int]]


class SequenceRun:
    def __init__(
        self,
        submission: Submission,
        facts: VocabularyFacts,
        piece: Callable[[int], bytes],
    ) -> None:
        request = submission.request
        self.submission = submission
        self.sequence = Sequence(
            request.request_id,
            request.prompt_tokens,
            request.max_new_tokens,
            request.priority,
            request.cache_breakpoints,
        )
        self.detokenizer = Detokenizer(piece, request.stop_sequences)
        self._piece = piece
        self.last_token_at: float | None = None  # for the latency histograms
        self._grammar: GrammarSampler | None = None
        self._trigger = TriggerWatch(request.grammar)
        banned: tuple[int, ...] = ()
        if request.grammar is not None:
            # Built on the grammar thread before the engine saw it (engine/llamacpp_door.py).
            self._grammar, submission.grammar_sampler = submission.grammar_sampler, None
            assert self._grammar is not None, "a grammar request reached the engine unbuilt"
            # Control tokens render as no text, but the grammar judges them by their literal
            # text: one could pass the grammar yet vanish from the output it constrains.
            banned = facts.control_tokens
        # Without a grammar its tokens are picked with the rest of the step's, in numpy
        # (engine/row_sampling.py); under one, through a llama.cpp chain of its own.
        rows = RowSampler.of(request.sampling)
        self._answer_rows = rows if request.grammar is None else None
        self._answer = None if request.grammar is None else build_sampler_chain(
            request.sampling, n_vocab=facts.n_vocab, banned_tokens=banned
        )
        self.thinking: ThinkingSection | None = None
        self._thinking_rows: RowSampler | None = None
        if request.thinking is not None:
            self.thinking = ThinkingSection(request.thinking, facts.tokenize_template_text)
            # Thinking cannot end the turn: it ends by its close tag, which the model writes
            # or the engine forces when the budget is spent.
            self._thinking_rows = rows.banning(facts.end_of_generation)

    @property
    def request_id(self) -> str:
        return self.sequence.request_id

    @property
    def row_sampler(self) -> RowSampler | None:
        """How the step picks its next token with the others' (engine/row_sampling.py); None
        when `next_token` gives it: forced, or sampled under its grammar."""
        thinking = self.thinking
        if thinking is not None and thinking.forcing:
            return None
        if thinking is not None and thinking.open:
            return self._thinking_rows
        return self._answer_rows

    def next_token(self, context: llama_cpp.llama_context_p, row: int) -> int:
        """The token to append after the logits in `row`, where `row_sampler` is None: the
        thinking section's forced close, or the grammar's pick."""
        thinking = self.thinking
        if thinking is not None and (forced := thinking.next_forced()) is not None:
            return forced
        assert self._grammar is not None and self._answer is not None, "picked by the step"
        return self._grammar.sample(self._answer, context, row)  # may raise GrammarDeadEnd

    def note_written(self, token: int) -> None:
        """Track the thinking section, and whether a lazy grammar took over, through the
        text of every token written."""
        if self.thinking is not None and self.thinking.open:
            self.thinking.on_token(self._piece(token).decode("utf-8", errors="ignore"))
        elif self._trigger.watching:
            self._trigger.on_text(self._piece(token).decode("utf-8", errors="ignore"))

    @property
    def writes_free_text(self) -> bool:
        """Whether the model is writing an answer no grammar or thinking section governs
        (where a repetition loop may be cut short without breaking a format)."""
        thinking_open = self.thinking is not None and self.thinking.open
        return not thinking_open and not self._trigger.constrained

    def free(self) -> None:
        faults.on_free()
        if self._answer is not None:
            llama_cpp.llama_sampler_free(self._answer)
        if self._grammar is not None:
            self._grammar.free()
