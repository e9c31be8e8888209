"""What a tool-call format is: how it writes tools, calls and results into the template's
messages, and which tags its calls are written between (for the parser and the grammar)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from antiphon.chat.conversation import Turn
from antiphon.chat.tool_specs import ToolSpec

# Wraps client text so it is tokenized as text, never as control tokens (see chat/prompt.py).
Hold = Callable[[str], str]


@dataclass(frozen=True)
class TemplateInput:
    """Messages (and extra variables) for the chat template."""

    messages: list[dict[str, Any]]
    variables: dict[str, Any] = field(default_factory=dict)


class ToolFormat(Protocol):
    name: str
    open_tag: str
    close_tag: str
    calls_in_list: bool  # the tags hold a JSON list of calls, rather than one call each

    def template_input(
        self,
        system: str | None,
        turns: Sequence[Turn],
        tools: Sequence[ToolSpec],
        hold: Hold,
        notes: Sequence[str] = (),
    ) -> TemplateInput:
        """`notes` are instructions of the server's, placed after the client's system text."""
        ...
