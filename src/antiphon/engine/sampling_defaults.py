"""A model's sampling where a request leaves a parameter unset.

Open-weight models are published with the sampling they were tuned for (SmolLM2's model card
samples at temperature 0.2 with top_p 0.9; Qwen3 asks for 0.6, top_k 20, top_p 0.95), and
GGUF files may carry it as `general.sampling.*`, which llama.cpp's own server applies. The
API's default, temperature 1.0 over the whole vocabulary, suits Claude; a 135M model sampled
that way rambles until its output limit on a third of plain chat prompts and on most of
Claude Code's, which sends no temperature (BENCHMARKS.md). So, for each parameter the request
leaves unset, in order: what the operator set for the model (`;temperature=…` after
`--model`), what the file says, what the model's makers recommend where we ship it, and only
then the API's default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from antiphon.engine.base import SamplingDefaults

# GGUF keys (llama.h's LLAMA_MODEL_META_KEY_SAMPLING_*) and how to read their values.
GGUF_KEYS = {
    "temperature": ("general.sampling.temp", float),
    "top_k": ("general.sampling.top_k", int),
    "top_p": ("general.sampling.top_p", float),
}


@dataclass(frozen=True)
class SamplingChoice:
    """Sampling parameters someone chose for a model; None: not chosen."""

    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None

    @property
    def empty(self) -> bool:
        return self.temperature is None and self.top_k is None and self.top_p is None


def from_gguf(metadata: Callable[[str], str | None]) -> SamplingChoice:
    """The `general.sampling.*` values a GGUF file carries (unreadable ones are skipped)."""
    values: dict[str, float | int] = {}
    for name, (key, kind) in GGUF_KEYS.items():
        text = metadata(key)
        if text is None:
            continue
        try:
            values[name] = kind(float(text)) if kind is int else kind(text)
        except ValueError:
            continue
    return SamplingChoice(**values)  # type: ignore[arg-type]


def resolve_sampling(*sources: tuple[str, SamplingChoice]) -> SamplingDefaults:
    """Each parameter from the first (origin, choice) that sets it; the API's default after.
    The origin shown is that of the first source that set anything."""
    chosen: dict[str, float | int] = {}
    origins: list[str] = []
    for origin, choice in sources:
        for name in GGUF_KEYS:
            value = getattr(choice, name)
            if value is not None and name not in chosen:
                chosen[name] = value
                if origin not in origins:
                    origins.append(origin)
    if not origins:
        return SamplingDefaults()
    return SamplingDefaults(**chosen, origin=", ".join(origins))  # type: ignore[arg-type]
