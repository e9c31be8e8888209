"""Generated tokens → text a client may see.

Two things are held back: bytes of a UTF-8 character split across tokens (released once the
character is complete), and text that might be the start of a stop sequence (released once it
cannot be, or dropped when the stop sequence completes).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from antiphon.engine.stops import StopMatcher


class Utf8Assembler:
    """Bytes in, complete characters out; invalid bytes become U+FFFD rather than an error."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


@dataclass(frozen=True)
class Decoded:
    text: str
    stop_sequence: str | None


class Detokenizer:
    def __init__(self, piece: Callable[[int], bytes], stop_sequences: Sequence[str]) -> None:
        self._piece = piece
        self._utf8 = Utf8Assembler()
        self._stops = StopMatcher(stop_sequences)

    def add(self, token: int) -> Decoded:
        text = self._utf8.feed(self._piece(token))
        if not text:
            return Decoded("", None)
        scan = self._stops.feed(text)
        return Decoded(scan.emit, scan.stop_sequence)

    def finish(self) -> Decoded:
        """End of generation without a match so far: release whatever is held. A match can
        still be decided here, when one stop sequence is a prefix of another."""
        tail = self._utf8.flush()
        emitted = ""
        if tail:
            scan = self._stops.feed(tail)
            if scan.stop_sequence is not None:
                return Decoded(scan.emit, scan.stop_sequence)
            emitted = scan.emit
        emitted += self._stops.flush()
        return Decoded(emitted, self._stops.stop_sequence)
