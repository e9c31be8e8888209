"""Scans one call object, `{"name": "…", "arguments": {…}}`, a character at a time.

The name is known as soon as its string closes, so the call can be announced while its
arguments are still arriving; the arguments' raw JSON text is then passed through as it comes,
which is what lets a client show a long input as it is written. Only JSON structure is tracked
here (nesting, strings, escapes); values are decoded once complete.
"""

from __future__ import annotations

import json
from enum import Enum, auto
from typing import Any

from antiphon.chat.tool_calls.events import CallEnd, CallInput, CallStart, OutputEvent

ARGUMENT_KEYS = ("arguments", "parameters", "input")


class _State(Enum):
    EXPECT_OPEN = auto()
    EXPECT_KEY = auto()
    IN_KEY = auto()
    EXPECT_COLON = auto()
    EXPECT_VALUE = auto()
    IN_VALUE = auto()
    EXPECT_COMMA = auto()
    DONE = auto()


class CallScanner:
    def __init__(self) -> None:
        self._state = _State.EXPECT_OPEN
        self._key_chars: list[str] = []
        self._key = ""
        self._value: list[str] = []  # raw text of the value being read
        self._depth = 0  # nesting inside the value being read
        self._in_string = False
        self._escape = False
        self._name: str | None = None
        self._arguments: str | None = None
        self._started = False
        self._streaming = False  # passing the arguments through as they arrive

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    @property
    def started(self) -> bool:
        return self._state is not _State.EXPECT_OPEN

    def feed(self, char: str, out: list[OutputEvent]) -> None:
        """One character of the call object. Characters after its end are not accepted."""
        state = self._state
        if state is _State.IN_VALUE:
            self._value_char(char, out)
        elif state is _State.IN_KEY:
            self._key_char(char)
        elif char.isspace():
            return
        elif state is _State.EXPECT_OPEN and char == "{":
            self._state = _State.EXPECT_KEY
        elif state is _State.EXPECT_KEY and char == '"':
            self._state, self._key_chars = _State.IN_KEY, ['"']
        elif state is _State.EXPECT_KEY and char == "}":
            self._end(out)
        elif state is _State.EXPECT_COLON and char == ":":
            self._state = _State.EXPECT_VALUE
        elif state is _State.EXPECT_VALUE:
            self._begin_value(char, out)
        elif state is _State.EXPECT_COMMA and char == ",":
            self._state = _State.EXPECT_KEY
        elif state is _State.EXPECT_COMMA and char == "}":
            self._end(out)
        # Anything else is not JSON; a grammar-constrained model never writes it, and an
        # unconstrained one gets its call read as far as it makes sense.

    def finish(self, out: list[OutputEvent]) -> None:
        """The text ended inside the call (max_tokens): close it with what arrived."""
        if self._state in (_State.EXPECT_OPEN, _State.DONE):
            return
        if self._state is _State.IN_VALUE and self._key in ARGUMENT_KEYS:
            self._arguments = "".join(self._value)
        if self._name is None and not self._started:
            return  # not even a name: nothing a client could use
        self._announce(out)
        out.append(CallEnd(_partial_object(self._arguments or "")))
        self._state = _State.DONE

    # ----- keys and values -------------------------------------------------------------

    def _key_char(self, char: str) -> None:
        self._key_chars.append(char)
        if self._escape:
            self._escape = False
        elif char == "\\":
            self._escape = True
        elif char == '"':
            self._key = _decode(''.join(self._key_chars), default="")
            self._state = _State.EXPECT_COLON

    def _begin_value(self, char: str, out: list[OutputEvent]) -> None:
        self._state, self._value, self._depth = _State.IN_VALUE, [], 0
        self._in_string = self._escape = False
        if self._key in ARGUMENT_KEYS and char == "{" and self._name is not None:
            self._announce(out)
            self._streaming = True
        self._value_char(char, out)

    def _value_char(self, char: str, out: list[OutputEvent]) -> None:
        if self._ends_primitive(char):
            self._complete_value(out)
            self.feed(char, out)  # the `,` or `}` belongs to the call object
            return
        self._value.append(char)
        if self._streaming:
            out.append(CallInput(char))
        if self._in_string:
            if self._escape:
                self._escape = False
            elif char == "\\":
                self._escape = True
            elif char == '"':
                self._in_string = False
                if self._depth == 0:
                    self._complete_value(out)
        elif char == '"':
            self._in_string = True
        elif char in "{[":
            self._depth += 1
        elif char in "}]":
            self._depth -= 1
            if self._depth == 0:
                self._complete_value(out)

    def _ends_primitive(self, char: str) -> bool:
        """A number, true, false or null ends at the `,` or `}` after it."""
        return (
            char in ",}"
            and self._depth == 0
            and not self._in_string
            and bool(self._value)
            and self._value[0] not in '"{['
        )

    def _complete_value(self, out: list[OutputEvent]) -> None:
        raw = "".join(self._value).strip()
        self._state, self._streaming = _State.EXPECT_COMMA, False
        if self._key == "name":
            name = _decode(raw, default=None)
            self._name = name if isinstance(name, str) else raw
        elif self._key in ARGUMENT_KEYS:
            self._arguments = raw

    def _announce(self, out: list[OutputEvent]) -> None:
        if not self._started:
            self._started = True
            out.append(CallStart(self._name or ""))

    def _end(self, out: list[OutputEvent]) -> None:
        """The call object closed: announce it if its arguments came first, then end it."""
        arguments = _arguments_object(self._arguments)
        if not self._started:
            self._announce(out)
            text = json.dumps(arguments, ensure_ascii=False)
            out.append(CallInput(text))
        self._state = _State.DONE
        out.append(CallEnd(arguments))


def _decode(text: str, default: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return default


def _arguments_object(raw: str | None) -> dict[str, Any]:
    """Arguments as the object a tool_use input must be. Some models write them as a JSON
    string holding the object; that is unwrapped."""
    value = _decode(raw, default=None) if raw else {}
    if isinstance(value, str):
        value = _decode(value, default=None)
    return value if isinstance(value, dict) else {}


def _partial_object(raw: str) -> dict[str, Any]:
    """The object a truncated JSON text was becoming, as far as it can be closed."""
    closers: list[str] = []
    in_string = escape = False
    for char in raw:
        if in_string:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]" and closers:
            closers.pop()
    text = raw + ('"' if in_string else "")
    for attempt in (text, text.rstrip().rstrip(",")):
        value = _decode(attempt + "".join(reversed(closers)), default=None)
        if isinstance(value, dict):
            return value
    return {}
