"""A served model's limits: how long a sequence may be (and how the model's positions reach
that far), and how long one answer may be.

A model is trained on contexts up to some length; agents such as Claude Code send ~12,000
tokens before the user has said anything, more than many small models were trained on. A
window longer than the training context is reached with YaRN RoPE scaling, as llama.cpp
offers it (`--rope-scaling yarn`): positions are compressed by window / trained, with YaRN's
interpolation of the low frequencies and its attention temperature, so that attention over
the longer range stays in the distribution the model learned.

Agents also ask for 32,000–128,000 output tokens whatever the model; a model's output limit
bounds that (a small model that has not stopped after a few thousand tokens is looping).

Pure: decided from numbers read off the model, before a llama.cpp context exists.
"""

from __future__ import annotations

from dataclasses import dataclass

# Assumed when a file does not say how long its training context was (never extended).
UNKNOWN_TRAINING_CONTEXT = 4096


@dataclass(frozen=True)
class ContextWindow:
    """The positions each sequence may use, and the RoPE scaling that makes them usable."""

    tokens: int  # the window: prompt and output of one sequence together
    trained: int  # the model's training context
    yarn_factor: float = 1.0  # > 1: positions are scaled by YaRN to reach `tokens`

    @property
    def extended(self) -> bool:
        return self.yarn_factor > 1.0

    @property
    def max_input_tokens(self) -> int:
        """The longest prompt accepted: one position stays free for the answer."""
        return self.tokens - 1

    def describe(self) -> str:
        """For the start-up line, e.g. "32768-token window (trained on 8192, extended ×4
        with YaRN)"."""
        if self.extended:
            return (f"{self.tokens}-token window (trained on {self.trained}, extended "
                    f"×{self.yarn_factor:g} with YaRN)")
        if self.tokens > self.trained:
            return (f"{self.tokens}-token window (trained on {self.trained}; this model has no "
                    "RoPE to scale, so answers past that may degrade)")
        return f"{self.tokens}-token window"


def plan_context_window(
    trained: int, requested: int | None, min_ctx: int, rope_scalable: bool
) -> ContextWindow:
    """The window a model is served with.

    `requested` (`--ctx`) sets it exactly. Otherwise the model gets its training context,
    extended to `min_ctx` when it is shorter (0 never extends). Whenever the window is longer
    than the training context and the model uses RoPE, YaRN scales positions by the ratio.
    """
    if trained <= 0:  # nothing to scale from
        trained, rope_scalable = UNKNOWN_TRAINING_CONTEXT, False
    tokens = requested if requested is not None else max(trained, min_ctx)
    if tokens > trained and rope_scalable:
        return ContextWindow(tokens, trained, yarn_factor=tokens / trained)
    if requested is None and not rope_scalable:
        return ContextWindow(trained, trained)  # nothing to scale: stay where it was trained
    return ContextWindow(tokens, trained)


def fit_to_budget(window: ContextWindow, kv_cells: int, exact: bool) -> ContextWindow:
    """The window within a KV budget of `kv_cells`: the budget bounds memory, so a default
    window longer than it shrinks to it (still YaRN-scaled if past the training context); a
    window set exactly (`--ctx`) that does not fit is an error."""
    if kv_cells >= window.tokens:
        return window
    if exact:
        raise ValueError(
            f"kv_cache: {kv_cells} tokens is less than the {window.tokens}-token context "
            "window of one sequence (--ctx)"
        )
    factor = kv_cells / window.trained
    return ContextWindow(kv_cells, window.trained, factor if window.extended and factor > 1 else 1.0)


# Without a configured or recommended limit: a quarter of the window, within these bounds.
MIN_DEFAULT_MAX_OUTPUT = 4096
MAX_DEFAULT_MAX_OUTPUT = 32768


def output_limit(window: ContextWindow, configured: int | None, recommended: int | None) -> int:
    """The most tokens one answer may have: `configured` (the model's own option, else
    `--max-output-tokens`), else what we recommend for a model we ship, else a quarter of the
    window within 4096-32768; never past the window."""
    limit = configured or recommended
    if limit is None:
        limit = max(MIN_DEFAULT_MAX_OUTPUT, min(window.tokens // 4, MAX_DEFAULT_MAX_OUTPUT))
    return min(limit, window.max_input_tokens)
