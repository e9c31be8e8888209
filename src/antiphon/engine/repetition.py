"""Degenerate loops: an answer whose tail is one block of tokens repeated verbatim.

Small models fall into them often (SmolLM2-135M at its recommended temperature 0.2 repeats
one sentence until its output limit on about one Claude Code turn in eight), and large ones
now and then; no sampler setting ends them, and each costs the whole output limit: minutes
of decoding, after which an agent asks the model to continue and it loops again. vLLM
(`repetition_detection`) and several MLX servers stop such a generation; so does this.

The test is strict, so that ordinary text never trips it: the last `window` tokens must be
a single block of at most `window / MIN_COPIES` tokens repeated back to back, exactly. A
list, a table or code with repeated lines still varies somewhere within 256 tokens.

Pure and cheap: list slice comparisons in C, run every CHECK_EVERY tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_COPIES = 4
CHECK_EVERY = 16


def repeating_block(tokens: Sequence[int], window: int) -> int | None:
    """The length of the block that the last `window` tokens repeat, if they do."""
    if window <= 0 or len(tokens) < window:
        return None
    tail = list(tokens[-window:])
    for period in range(1, window // MIN_COPIES + 1):
        # Period p: every token equals the one p before it, across the whole window.
        if tail[period:] == tail[:-period]:
            return period
    return None


def due(generated: int, window: int) -> bool:
    """Whether to look after the `generated`-th token (once there is a window to look at)."""
    return window > 0 and generated >= window and generated % CHECK_EVERY == 0
