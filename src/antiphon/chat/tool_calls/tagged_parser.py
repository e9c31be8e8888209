"""Incremental parser for calls written between tags: `<tool_call>…</tool_call>`.

Between the tags is one call object (Hermes, Qwen) or a JSON list of them (antiphon's generic
format, the one SmolLM2 was trained on); both are accepted whatever the format asked for.
Text outside the tags is the answer's text. A tag may arrive split across tokens, so text
that could be the start of one is held back until it is known not to be.
"""

from __future__ import annotations

from enum import Enum, auto

from antiphon.chat.tool_calls.call_scanner import CallScanner
from antiphon.chat.tool_calls.events import OutputEvent, TextOut


class _Mode(Enum):
    TEXT = auto()
    BODY = auto()  # inside the tags, before or between calls
    CALL = auto()  # inside a call object
    CLOSE = auto()  # after the body, waiting for the close tag


def held_prefix_length(text: str, tag: str) -> int:
    """How many characters at the end of `text` could begin `tag`."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


class TaggedCallParser:
    def __init__(self, open_tag: str = "<tool_call>", close_tag: str = "</tool_call>") -> None:
        self.open_tag = open_tag
        self.close_tag = close_tag
        self._mode = _Mode.TEXT
        self._pending = ""  # text not yet decided (a possible tag start)
        self._in_list = False
        self._call = CallScanner()
        self.calls = 0

    def feed(self, text: str) -> list[OutputEvent]:
        out: list[OutputEvent] = []
        self._pending += text
        while self._pending:
            if not self._step(out):
                break
        return out

    def finish(self) -> list[OutputEvent]:
        """End of output: release held text, and close a call the output cut short."""
        out: list[OutputEvent] = []
        if self._mode is _Mode.TEXT and self._pending:
            out.append(TextOut(self._pending))
        elif self._mode is _Mode.CALL:
            self._call.finish(out)
            self.calls += 1
        self._pending = ""
        return out

    def _step(self, out: list[OutputEvent]) -> bool:
        """Consume what can be decided of `_pending`; False when more text is needed."""
        if self._mode is _Mode.TEXT:
            return self._text(out)
        if self._mode is _Mode.CLOSE:
            return self._close()
        char, self._pending = self._pending[0], self._pending[1:]
        if self._mode is _Mode.CALL:
            self._call.feed(char, out)
            if self._call.done:
                self.calls += 1
                self._call = CallScanner()
                self._mode = _Mode.BODY if self._in_list else _Mode.CLOSE
        else:
            self._body(char, out)
        return True

    def _text(self, out: list[OutputEvent]) -> bool:
        start = self._pending.find(self.open_tag)
        if start >= 0:
            if start:
                out.append(TextOut(self._pending[:start]))
            self._pending = self._pending[start + len(self.open_tag) :]
            self._mode, self._in_list = _Mode.BODY, False
            return True
        held = held_prefix_length(self._pending, self.open_tag)
        if len(self._pending) > held:
            out.append(TextOut(self._pending[: len(self._pending) - held]))
            self._pending = self._pending[len(self._pending) - held :]
        return False

    def _body(self, char: str, out: list[OutputEvent]) -> None:
        if char.isspace() or (char == "," and self._in_list):
            return
        if char == "[" and not self._in_list:
            self._in_list = True
        elif char == "]" and self._in_list:
            self._mode = _Mode.CLOSE
        elif char == "{":
            self._mode = _Mode.CALL
            self._call.feed(char, out)
        elif char == "<":  # a close tag without a body, or a body the model never finished
            self._pending = char + self._pending
            self._mode = _Mode.CLOSE

    def _close(self) -> bool:
        stripped = self._pending.lstrip()
        if stripped.startswith(self.close_tag):
            self._pending = stripped[len(self.close_tag) :]
            self._mode = _Mode.TEXT
            return True
        if self.close_tag.startswith(stripped):
            return False  # the tag may still be arriving
        # Something else follows the body: read on as text, without the missing tag.
        self._pending, self._mode = stripped, _Mode.TEXT
        return True
