"""Splits a model's output into its thinking section and the answer after it.

The output starts inside the section (the prompt opened it) and the close tag ends it; a tag
split across tokens is held back until complete. Whitespace at the edges of the thinking is
not part of it, so it is held too and dropped if the section ends there.
"""

from __future__ import annotations

from antiphon.chat.tool_calls.events import ThinkingOut
from antiphon.chat.tool_calls.tagged_parser import held_prefix_length

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class ThinkingSplitter:
    def __init__(self, close_tag: str = THINK_CLOSE) -> None:
        self.close_tag = close_tag
        self.inside = True
        self._pending = ""
        self._started = False  # leading whitespace is dropped until the first real character
        self._answer_started = False

    def feed(self, text: str) -> tuple[list[ThinkingOut], str]:
        """Thinking released by `text`, and the answer text that follows the section."""
        if not self.inside:
            if not self._answer_started:  # the blank lines after the close tag are not the answer
                text = text.lstrip()
                self._answer_started = bool(text)
            return [], text
        self._pending += text
        if not self._started:
            self._pending = self._pending.lstrip()
            self._started = bool(self._pending)
        end = self._pending.find(self.close_tag)
        if end >= 0:
            thinking = self._pending[:end].rstrip()
            after = self._pending[end + len(self.close_tag) :]
            self._pending, self.inside = "", False
            after = after.lstrip()
            self._answer_started = bool(after)
            return ([ThinkingOut(thinking)] if thinking else []), after
        tag_start = len(self._pending) - held_prefix_length(self._pending, self.close_tag)
        ready = self._pending[:tag_start].rstrip()  # whitespace before a possible tag waits too
        self._pending = self._pending[len(ready) :]
        return ([ThinkingOut(ready)] if ready else []), ""

    def finish(self) -> list[ThinkingOut]:
        """The output ended inside the section (max_tokens): what was held is thinking."""
        text, self._pending = self._pending.rstrip(), ""
        return [ThinkingOut(text)] if self.inside and text else []

