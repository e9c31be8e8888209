"""Parsed output → content blocks and stream events, in the API's order."""

from __future__ import annotations

import json

from antiphon.chat.tool_calls.events import CallEnd, CallInput, CallStart, TextOut, ThinkingOut
from antiphon.engine.base import ThinkingControl
from antiphon.engine.thinking_section import ThinkingSection
from antiphon.services.response_builder import ResponseBuilder
from antiphon.services.thinking_seal import ThinkingSeal

SEAL = ThinkingSeal(b"k" * 32)


def build(
    events: list, display: str = "summarized", opens_thinking: bool = False
) -> tuple[ResponseBuilder, list[dict]]:
    builder = ResponseBuilder(SEAL, display, opens_thinking=opens_thinking)  # type: ignore[arg-type]
    stream = [out for event in events for out in builder.on_event(event)] + builder.close()
    return builder, [event.model_dump() for event in stream]


def test_thinking_text_and_call_each_get_their_block_with_signature_last() -> None:
    builder, stream = build([
        ThinkingOut("hmm"), ThinkingOut(" ok"), TextOut("\n"), TextOut("Let me check."),
        CallStart("get"), CallInput('{"a":'), CallInput(" 1}"), CallEnd({"a": 1}),
    ])
    kinds = [(e["type"], e.get("index"), (e.get("delta") or {}).get("type")) for e in stream]
    assert kinds == [
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, None),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
    ]
    thinking, text, call = builder.blocks
    assert SEAL.verify(thinking.thinking, thinking.signature) == "hmm ok"  # type: ignore[union-attr]
    assert text.text == "Let me check."  # type: ignore[union-attr]
    fragments = "".join(e["delta"]["partial_json"] for e in stream if e.get("index") == 2 and e["type"] == "content_block_delta")
    assert json.loads(fragments) == call.input == {"a": 1}  # type: ignore[union-attr]
    assert call.id.startswith("toolu_") and builder.tool_calls == 1  # type: ignore[union-attr]


def test_omitted_display_streams_no_thinking_but_the_signature_carries_it() -> None:
    builder, stream = build([ThinkingOut("secret"), TextOut("answer")], display="omitted")
    assert not any((e.get("delta") or {}).get("type") == "thinking_delta" for e in stream)
    block = builder.blocks[0]
    assert block.thinking == "" and SEAL.open_signature(block.signature) == "secret"  # type: ignore[union-attr]


def test_redacted_display_returns_encrypted_thinking() -> None:
    builder, _ = build([ThinkingOut("private"), TextOut("answer")], display="redacted")
    block = builder.blocks[0]
    assert block.type == "redacted_thinking" and SEAL.unredact(block.data) == "private"  # type: ignore[union-attr]


def test_thinking_section_closes_on_its_tag_or_forces_the_close_at_the_budget() -> None:
    control = ThinkingControl("</think>", "\n</think>\n\n", budget_tokens=3)
    natural = ThinkingSection(control, lambda text: [7, 8])
    for piece in ["a", "</th", "ink>"]:
        natural.on_token(piece)
    assert not natural.open and natural.next_forced() is None

    budgeted = ThinkingSection(control, lambda text: [7, 8])
    for piece in ["a", "b", "c"]:
        budgeted.on_token(piece)
    assert budgeted.next_forced() == 7 and budgeted.next_forced() == 8
    assert budgeted.next_forced() is None


def test_a_thinking_section_closed_at_once_still_opens_the_response_with_a_signed_block() -> None:
    """Thinking enabled, and the model's first token closed the section: the response still
    starts with a thinking block (empty, its signature valid), as it would with any thought."""
    builder, stream = build([TextOut("42")], opens_thinking=True)
    kinds = [(e["type"], e.get("index"), (e.get("delta") or {}).get("type")) for e in stream]
    assert kinds == [
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
    ]
    thinking, text = builder.blocks
    assert SEAL.verify(thinking.thinking, thinking.signature) == ""  # type: ignore[union-attr]
    assert text.text == "42"  # type: ignore[union-attr]


def test_an_owed_thinking_block_comes_once_and_before_a_call_or_the_end() -> None:
    builder, _ = build([CallStart("get"), CallInput("{}"), CallEnd({})], opens_thinking=True)
    assert [block.type for block in builder.blocks] == ["thinking", "tool_use"]
    builder, _ = build([], opens_thinking=True, display="redacted")
    assert [block.type for block in builder.blocks] == ["redacted_thinking"]
    builder, _ = build([ThinkingOut("hm"), TextOut("a")], opens_thinking=True)
    assert [block.type for block in builder.blocks] == ["thinking", "text"]
    builder, _ = build([TextOut("a")])  # no thinking section: no thinking block
    assert [block.type for block in builder.blocks] == ["text"]
