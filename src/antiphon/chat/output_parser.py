"""A model's output text → thinking, answer text and tool calls, as the text streams in."""

from __future__ import annotations

from antiphon.chat.thinking_tags import ThinkingSplitter
from antiphon.chat.tool_calls.events import CallInput, OutputEvent, TextOut, ThinkingOut
from antiphon.chat.tool_calls.tagged_parser import TaggedCallParser


class OutputParser:
    def __init__(
        self, thinking: ThinkingSplitter | None, calls: TaggedCallParser | None
    ) -> None:
        self._thinking = thinking
        self._calls = calls

    def feed(self, text: str) -> list[OutputEvent]:
        events: list[OutputEvent] = []
        if self._thinking is not None:
            thoughts, text = self._thinking.feed(text)
            events.extend(thoughts)
        if text:
            events.extend(self._calls.feed(text) if self._calls else [TextOut(text)])
        return coalesce(events)

    def finish(self) -> list[OutputEvent]:
        events: list[OutputEvent] = []
        if self._thinking is not None:
            events.extend(self._thinking.finish())
        if self._calls is not None:
            events.extend(self._calls.finish())
        return coalesce(events)


def coalesce(events: list[OutputEvent]) -> list[OutputEvent]:
    """Join runs of the same kind of fragment (the call scanner yields one per character),
    so a client gets one delta per token at most, not one per character."""
    joined: list[OutputEvent] = []
    for event in events:
        previous = joined[-1] if joined else None
        if isinstance(event, CallInput) and isinstance(previous, CallInput):
            joined[-1] = CallInput(previous.fragment + event.fragment)
        elif isinstance(event, TextOut) and isinstance(previous, TextOut):
            joined[-1] = TextOut(previous.text + event.text)
        elif isinstance(event, ThinkingOut) and isinstance(previous, ThinkingOut):
            joined[-1] = ThinkingOut(previous.text + event.text)
        else:
            joined.append(event)
    return joined
