"""Whether a lazy grammar has taken over: output is free text until one of its trigger
words appears, and constrained from then on. Both engines watch the text they write with
this, to know whether an answer is still free text (where a loop may be cut short)."""

from __future__ import annotations

from antiphon.engine.base import Grammar


class TriggerWatch:
    def __init__(self, grammar: Grammar | None) -> None:
        self._triggers = grammar.lazy_triggers if grammar is not None else ()
        # Free text until a grammar applies: from the start, or from a lazy trigger on.
        self.constrained = grammar is not None and not self._triggers
        self._recent_text = ""  # enough of the output's tail to see a trigger arrive

    @property
    def watching(self) -> bool:
        """Whether text written now could start the grammar (callers skip decoding if not)."""
        return bool(self._triggers) and not self.constrained

    def on_text(self, text: str) -> None:
        if not self.watching:
            return
        longest = max(len(trigger) for trigger in self._triggers)
        recent = self._recent_text + text
        self.constrained = any(trigger in recent for trigger in self._triggers)
        self._recent_text = recent[-2 * longest:]
