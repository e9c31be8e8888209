"""What the output parsers produce from a model's text, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TextOut:
    text: str


@dataclass(frozen=True)
class ThinkingOut:
    text: str


@dataclass(frozen=True)
class CallStart:
    name: str


@dataclass(frozen=True)
class CallInput:
    """A fragment of the call's input JSON; a call's fragments join into its exact input."""

    fragment: str


@dataclass(frozen=True)
class CallEnd:
    input: dict[str, Any]


OutputEvent = TextOut | ThinkingOut | CallStart | CallInput | CallEnd
