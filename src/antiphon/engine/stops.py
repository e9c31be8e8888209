"""Stop-sequence matching on text that arrives in pieces.

The engine detokenizes incrementally, so a stop sequence can be split across any number of
pieces ("\\n\\nHu" + "man:"). The matcher therefore holds back the tail of the text that could
still grow into a stop sequence and streams everything else out at once.

Which stop sequence wins is defined on the whole text, independently of how it was split:
the match that starts earliest, and among those the longest. That makes the answer depend
only on what the model generated, never on token boundaries. The price is that a match which
could still be beaten (stops "\\n\\nH" and "\\n\\nHuman:" after "\\n\\nH") is not reported until
the text rules the rival in or out, or generation ends; either way nothing past the match
start is ever emitted.

Cost per `feed`: one `str.find` per stop sequence over the new text plus the held-back tail
(shorter than the longest stop sequence), and a scan of that tail for the hold-back point, so
it never grows with the length of the generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StopScan:
    """What one `feed` produced."""

    emit: str  # text that is safe to send to the client now
    stop_sequence: str | None  # the stop sequence that matched, if any (then generation must end)


@dataclass(frozen=True)
class _Match:
    start: int
    stop: str


class StopMatcher:
    """Finds the first stop sequence in a stream of text pieces; one instance per generation."""

    def __init__(self, stop_sequences: Sequence[str]) -> None:
        if any(stop == "" for stop in stop_sequences):
            raise ValueError("stop sequences must not be empty")
        # Longest first, so that `_first_match` settles ties at one start on the longest.
        self._stops: tuple[str, ...] = tuple(
            sorted(dict.fromkeys(stop_sequences), key=len, reverse=True)
        )
        self._proper_prefixes: frozenset[str] = frozenset(
            stop[:length] for stop in self._stops for length in range(1, len(stop))
        )
        self._longest_prefix = max((len(stop) - 1 for stop in self._stops), default=0)
        self._held = ""
        self._stop_sequence: str | None = None
        self._finished = False

    @property
    def held(self) -> str:
        """Text received but not yet emitted, because it may be the start of a stop sequence."""
        return self._held

    @property
    def stop_sequence(self) -> str | None:
        """The stop sequence that ended the text: set by `feed`, or by `flush` if still pending."""
        return self._stop_sequence

    def feed(self, text: str) -> StopScan:
        """Take the next piece of generated text; say what may be sent and whether to stop."""
        if self._finished:
            raise RuntimeError("StopMatcher.feed called after a match or after flush")
        if not self._stops:
            return StopScan(emit=text, stop_sequence=None)
        # The held tail never contains a settled match and emitted text never contains the
        # start of one, so searching `held + text` finds every match there is.
        buffer = self._held + text
        hold_from = self._hold_point(buffer)
        match = _first_match(buffer, self._stops)
        if match is not None and match.start < hold_from:
            # No stop sequence could still start at or before this match: it is final.
            self._finish(match.stop)
            return StopScan(emit=buffer[: match.start], stop_sequence=match.stop)
        # Either no match, or one that a still-growing rival starting no later may beat; the
        # rival's start is the hold point, so the match stays inside the held tail for now.
        self._held = buffer[hold_from:]
        return StopScan(emit=buffer[:hold_from], stop_sequence=None)

    def flush(self) -> str:
        """End of generation: release the held-back text, up to a match if it contains one.

        A match found here (possible only when one stop sequence is a prefix of, or occurs
        inside, another) is available from `stop_sequence` afterwards.
        """
        if self._finished:
            return ""
        held, self._held = self._held, ""
        match = _first_match(held, self._stops)
        self._finish(match.stop if match is not None else None)
        return held if match is None else held[: match.start]

    def _finish(self, stop: str | None) -> None:
        self._stop_sequence = stop
        self._held = ""
        self._finished = True

    def _hold_point(self, buffer: str) -> int:
        """Start of the longest suffix of `buffer` that is a proper prefix of a stop sequence.

        Returns len(buffer) when there is none. Only the last `_longest_prefix` characters
        can qualify, which keeps this independent of how much text came before.
        """
        for start in range(max(0, len(buffer) - self._longest_prefix), len(buffer)):
            if buffer[start:] in self._proper_prefixes:
                return start
        return len(buffer)


def _first_match(text: str, stops: tuple[str, ...]) -> _Match | None:
    """The match that starts earliest in `text`; at equal starts, the first in `stops` (longest)."""
    best: _Match | None = None
    for stop in stops:
        # Once a match is known, only an occurrence starting strictly before it can win.
        limit = len(text) if best is None else best.start - 1 + len(stop)
        start = text.find(stop, 0, limit)
        if start != -1:
            best = _Match(start=start, stop=stop)
    return best
