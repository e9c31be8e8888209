"""Where a generation stands relative to its thinking section: pure bookkeeping, no model.

The output starts inside the section. It closes when the model writes the close tag, or when
the budget is spent and the engine writes the close text itself (token by token, through
`forced`). The engine asks `next_forced` before sampling and reports every token's text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from antiphon.engine.base import ThinkingControl


class ThinkingSection:
    def __init__(
        self, control: ThinkingControl, tokenize_close: Callable[[str], Sequence[int]]
    ) -> None:
        self._control = control
        self._tokenize_close = tokenize_close
        self._tail = ""  # the last characters written, to find a close tag split across tokens
        self._forced: deque[int] = deque()
        self.open = True
        self.tokens = 0

    @property
    def forcing(self) -> bool:
        """Whether the engine writes the next token itself (`next_forced`)."""
        return bool(self._forced)

    def next_forced(self) -> int | None:
        """The next token the engine must write instead of sampling, if any."""
        return self._forced.popleft() if self._forced else None

    def on_token(self, text: str) -> None:
        """Record a token written (sampled or forced) with its text."""
        if not self.open:
            return
        self.tokens += 1
        self._tail = (self._tail + text)[-4 * len(self._control.close_tag) :]
        if self._control.close_tag in self._tail:
            self.open = False
            return
        budget = self._control.budget_tokens
        if budget is not None and self.tokens >= budget and not self._forced:
            self.force_close()

    def force_close(self) -> None:
        """Write the close text next (budget spent, or the model tried to end its turn)."""
        if self.open and not self._forced:
            self._forced.extend(self._tokenize_close(self._control.close_text))
