"""One remote generation's output: the upstream's tokens in, the engine's events out.

Everything the embedded engine decides per token is decided here, the same way, so that a
remote model keeps every guarantee: our detokenizer (complete UTF-8, stop sequences held
back), the thinking section (no end of turn while it is open, the close written by antiphon
once the budget is spent), the answer's grammar from the right point on, the output limit,
the window and the loop stop. The upstream only samples under the constraints of the
current `Segment`; when they change, the generation continues in a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, auto

from antiphon.engine import repetition
from antiphon.engine.base import Finished, FinishReason, GenerationRequest, TextChunk
from antiphon.engine.detokenizer import Detokenizer
from antiphon.engine.lazy_trigger import TriggerWatch
from antiphon.engine.remote.segment import Segment
from antiphon.engine.thinking_section import ThinkingSection


@dataclass(frozen=True)
class Vocabulary:
    """What the output needs to know about the served model's tokens (the local copy of
    the vocabulary the upstream samples from)."""

    piece: Callable[[int], bytes]
    end_of_generation: frozenset[int]
    control_tokens: tuple[int, ...]  # not end-of-generation ones: banned under a grammar
    tokenize_template_text: Callable[[str], Sequence[int]]
    token_kinds: repetition.TokenKinds

    @property
    def end_of_generation_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.end_of_generation))


class Next(Enum):
    MORE = auto()  # the segment goes on
    NEW_SEGMENT = auto()  # the constraints changed: continue in a new segment
    FINISHED = auto()


class RemoteOutput:
    def __init__(self, request: GenerationRequest, vocabulary: Vocabulary,
                 context_window: int, repetition_window: int) -> None:
        self.request = request
        self.generated: list[int] = []
        self.finished: Finished | None = None
        self.admitted = False  # the request's cache usage has been told
        self._vocabulary = vocabulary
        self._window = context_window
        self._repetition_window = repetition_window
        self._detokenizer = Detokenizer(vocabulary.piece, request.stop_sequences)
        self._trigger = TriggerWatch(request.grammar)
        self.thinking = (
            ThinkingSection(request.thinking, vocabulary.tokenize_template_text)
            if request.thinking is not None else None
        )

    @property
    def thinking_open(self) -> bool:
        return self.thinking is not None and self.thinking.open

    def next_segment(self) -> Segment:
        request = self.request
        remaining = request.max_new_tokens - len(self.generated)
        tokens = request.prompt_tokens + tuple(self.generated)
        if self.thinking is not None and self.thinking.open:
            budget = self.thinking_budget_left()
            # Banned outright: some engines' "ignore EOS" only stops them ending on it.
            return Segment(tokens, remaining if budget is None else min(remaining, budget),
                           request.sampling, banned_tokens=self._vocabulary.end_of_generation_ids,
                           end_of_generation_banned=True)
        grammar = request.grammar
        # Control tokens render as no text, but a grammar judges them by their literal text.
        banned = self._vocabulary.control_tokens if grammar is not None else ()
        return Segment(tokens, remaining, request.sampling, grammar, banned)

    def thinking_budget_left(self) -> int | None:
        control, thinking = self.request.thinking, self.thinking
        if control is None or control.budget_tokens is None or thinking is None:
            return None
        return max(1, control.budget_tokens - thinking.tokens)

    def accept(self, token: int, out: list[TextChunk]) -> Next:
        """A token the upstream sampled; the text it releases goes to `out`."""
        if token in self._vocabulary.end_of_generation:
            self._finish("end_turn", out)
            return Next.FINISHED
        thinking_was_open = self.thinking_open
        verdict = self._write(token, out)
        if verdict is not Next.MORE or not thinking_was_open:
            return verdict
        thinking = self.thinking
        assert thinking is not None
        forced = thinking.next_forced()  # the budget is spent: antiphon writes the close
        while forced is not None:
            verdict = self._write(forced, out)
            if verdict is Next.FINISHED:
                return verdict
            forced = thinking.next_forced()
        return Next.MORE if thinking.open else Next.NEW_SEGMENT

    def upstream_ended(self, reason: str, tokens_in_segment: int, out: list[TextChunk]) -> Next:
        """The upstream stopped the segment on its own."""
        if self.request.max_new_tokens == 0 or len(self.generated) >= self.request.max_new_tokens:
            self._finish("max_tokens", out)
        elif reason == "eos":
            self._finish("end_turn", out)
        elif tokens_in_segment == 0:  # it can write nothing more: its own window is full
            self._finish("context_exhausted", out)
        else:
            return Next.NEW_SEGMENT
        return Next.FINISHED

    def _write(self, token: int, out: list[TextChunk]) -> Next:
        self.generated.append(token)
        text_bytes = self._vocabulary.piece(token)
        if self.thinking is not None and self.thinking.open:
            self.thinking.on_token(text_bytes.decode("utf-8", errors="ignore"))
        elif self._trigger.watching:
            self._trigger.on_text(text_bytes.decode("utf-8", errors="ignore"))
        decoded = self._detokenizer.add(token)
        if decoded.text:
            out.append(TextChunk(decoded.text, len(self.generated)))
        generated = len(self.generated)
        if decoded.stop_sequence is not None:
            self._finish("stop_sequence", out, decoded.stop_sequence)
        elif generated >= self.request.max_new_tokens:
            self._finish("max_tokens", out)
        elif len(self.request.prompt_tokens) + generated >= self._window:
            self._finish("context_exhausted", out)
        elif self._looping():
            self._finish("repetition", out)
        else:
            return Next.MORE
        return Next.FINISHED

    def _looping(self) -> bool:
        window = self._repetition_window
        if not repetition.due(len(self.generated), window):
            return False
        if self.thinking_open or self._trigger.constrained:
            return False  # never inside thinking or a grammar
        return repetition.repeating_block(
            self.generated, window, self._vocabulary.token_kinds
        ) is not None

    def _finish(self, reason: FinishReason, out: list[TextChunk],
                stop_sequence: str | None = None) -> None:
        if stop_sequence is None:
            tail = self._detokenizer.finish()
            if tail.text:
                out.append(TextChunk(tail.text, len(self.generated)))
            if tail.stop_sequence is not None:
                reason, stop_sequence = "stop_sequence", tail.stop_sequence
        self.finished = Finished(reason, len(self.generated), stop_sequence)
