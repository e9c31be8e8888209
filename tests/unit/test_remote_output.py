"""A remote generation's per-token decisions (engine/remote/output.py), on a toy vocabulary
where token n is the character chr(n) and 0 ends the turn."""

from __future__ import annotations

from antiphon.engine.base import GenerationRequest, Grammar, SamplingParams, ThinkingControl
from antiphon.engine.remote.output import Next, RemoteOutput, Vocabulary
from antiphon.engine.repetition import TokenKinds

END = 0
CONTROL = 1


def vocabulary() -> Vocabulary:
    return Vocabulary(
        piece=lambda token: b"" if token in (END, CONTROL) else chr(token).encode(),
        end_of_generation=frozenset({END}),
        control_tokens=(CONTROL,),
        tokenize_template_text=lambda text: [ord(c) for c in text],
        token_kinds=TokenKinds(),
    )


def output(max_new: int = 50, **request: object) -> RemoteOutput:
    full = GenerationRequest("r", (5, 6, 7), max_new, SamplingParams(0.0), **request)  # type: ignore[arg-type]
    return RemoteOutput(full, vocabulary(), context_window=100, repetition_window=0)


def feed(out: RemoteOutput, text: str) -> tuple[str, Next]:
    chunks: list = []
    verdict = Next.MORE
    for char in text:
        verdict = out.accept(ord(char), chunks)
        if verdict is not Next.MORE:
            break
    return "".join(chunk.text for chunk in chunks), verdict


def test_text_until_the_end_of_turn() -> None:
    out = output()
    text, verdict = feed(out, "hi")
    assert (text, verdict) == ("hi", Next.MORE)
    assert out.accept(END, []) is Next.FINISHED
    assert out.finished is not None and out.finished.reason == "end_turn"
    assert out.finished.output_tokens == 2


def test_a_stop_sequence_is_held_back_and_ends_the_answer() -> None:
    out = output(stop_sequences=("END",))
    text, verdict = feed(out, "abENxEND")
    assert verdict is Next.FINISHED and text == "abENx"
    assert out.finished is not None and out.finished.stop_sequence == "END"


def test_the_output_limit_and_the_window() -> None:
    out = output(max_new=3)
    assert feed(out, "abcd")[1] is Next.FINISHED
    assert out.finished is not None and out.finished.reason == "max_tokens"
    long = GenerationRequest("r", tuple(range(2, 98)), 50, SamplingParams(0.0))
    windowed = RemoteOutput(long, vocabulary(), context_window=100, repetition_window=0)
    feed(windowed, "abcdef")
    assert windowed.finished is not None and windowed.finished.reason == "context_exhausted"
    assert len(windowed.generated) == 4


def test_segments_carry_what_was_written_and_the_grammar() -> None:
    grammar = Grammar('root ::= "x"')
    out = output(grammar=grammar)
    feed(out, "ab")
    segment = out.next_segment()
    assert segment.tokens == (5, 6, 7, ord("a"), ord("b")) and segment.max_tokens == 48
    assert segment.grammar == grammar and segment.banned_tokens == (CONTROL,)
    assert not segment.end_of_generation_banned


def test_thinking_bans_the_end_then_a_new_segment_brings_the_grammar() -> None:
    thinking = ThinkingControl(close_tag="</t>", close_text="</t>\n", budget_tokens=None)
    out = output(grammar=Grammar('root ::= "x"'), thinking=thinking)
    segment = out.next_segment()
    assert segment.end_of_generation_banned and segment.grammar is None
    text, verdict = feed(out, "hmm</t>")
    assert verdict is Next.NEW_SEGMENT and text == "hmm</t>"
    after = out.next_segment()
    assert after.grammar is not None and not after.end_of_generation_banned


def test_a_spent_budget_is_closed_by_antiphon() -> None:
    thinking = ThinkingControl(close_tag="</t>", close_text="</t>\n", budget_tokens=4)
    out = output(thinking=thinking)
    assert out.next_segment().max_tokens == 4  # the upstream stops at the budget
    text, verdict = feed(out, "abcd")
    assert verdict is Next.NEW_SEGMENT
    assert text == "abcd</t>\n" and not out.thinking_open
    assert len(out.generated) == 4 + len("</t>\n")


def test_an_upstream_stop_without_progress_ends_the_generation() -> None:
    out = output()
    assert out.upstream_ended("limit", 0, []) is Next.FINISHED
    assert out.finished is not None and out.finished.reason == "context_exhausted"
    prefill = output(max_new=0)
    assert prefill.upstream_ended("limit", 0, []) is Next.FINISHED
    assert prefill.finished is not None and prefill.finished.reason == "max_tokens"
