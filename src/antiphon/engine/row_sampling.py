"""The next token of every sequence of a step that no grammar governs, picked in numpy over
the step's logits.

llama.cpp's samplers work one row at a time and start each row by copying the whole
vocabulary into a candidate array: 50 µs a row for greedy decoding, 0.3–1.5 ms for top-p
and temperature over SmolLM2's 49,152 tokens (an `expf` per token). At 64 sequences that is
20–90 ms a step, far more than a GPU needs for the step itself. Here a row costs a few
vectorised passes: its largest logit, then only the tokens within `NEGLIGIBLE_LOGITS` of it
go through top-k, top-p and temperature.

The distribution is the one `sampling.build_sampler_chain` builds, in its order: bans, top-k,
then top-p over the probabilities at temperature 1, then temperature, then a draw. Rows under
a grammar sample through llama.cpp chains of their own (engine/grammar_sampling.py), and
tokens a thinking section forces are written as they are (engine/llamacpp_sequence.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import llama_cpp
import numpy

from antiphon.engine.base import SamplingParams

# A token this far (in logits at temperature 1) below the row's best has a probability under
# e^-28 of the best's, and all 49,152 such tokens together under 4e-8 of the total: below
# float32's resolution of a sum of probabilities, so leaving them out changes no draw's odds
# that llama.cpp's own float arithmetic would show.
NEGLIGIBLE_LOGITS = 28.0
# Windows below a row's best logit that top-p looks in first, widest last.
WINDOWS = (2.0, 4.0, 8.0, 16.0)
# A nucleus window larger than this is narrowed down before it is sorted, in at most
# NARROWING_STEPS halvings.
SORT_AT_ONCE = 1024
NARROWING_STEPS = 12
# top-k looks at every (vocabulary / (TOP_K_SAMPLE × k))-th logit first.
TOP_K_SAMPLE = 32
# Weights summed per block before a draw looks inside one block.
DRAW_BLOCK = 512


@dataclass
class RowSampler:
    """How one sequence picks its tokens: greedy (temperature 0), or drawn from its own
    random stream (seeded, so a seed repeats an answer); never one of `banned`."""

    temperature: float
    top_k: int | None
    top_p: float | None
    random: numpy.random.Generator
    banned: numpy.ndarray = field(default_factory=lambda: numpy.empty(0, dtype=numpy.intp))

    @classmethod
    def of(cls, params: SamplingParams) -> RowSampler:
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        return cls(params.temperature, params.top_k, params.top_p, numpy.random.default_rng(seed))

    def banning(self, tokens: Sequence[int]) -> RowSampler:
        """The same sampler, drawing from the same random stream, that never picks `tokens`."""
        return replace(self, banned=numpy.array(tokens, dtype=numpy.intp))

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def distribution(self, row: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        """The tokens this row can draw and their weights (relative probabilities), in no
        particular order: a draw needs no sort, only top-p does. Bans are the caller's."""
        best = row.max()
        # At a temperature above 1 tokens further down keep weight: widen the cut to match.
        reach = NEGLIGIBLE_LOGITS * max(1.0, self.temperature)
        tokens: numpy.ndarray | None = None
        if self.top_k is not None and self.top_k > 0:
            tokens = top_k(row, best, self.top_k, reach)
        if self.top_p is not None and self.top_p < 1.0:
            tokens = top_p(row, best, self.top_p, reach, tokens)
        if tokens is None:
            tokens = numpy.flatnonzero(row >= best - reach)
        return tokens, numpy.exp((row[tokens] - best) / numpy.float32(self.temperature))

    def draw(self, row: numpy.ndarray) -> int:
        if self.banned.size:
            row = row.copy()
            row[self.banned] = -numpy.inf
        if self.greedy:  # ties to the lowest id, as llama.cpp's greedy sampler
            return int(row.argmax())
        tokens, weights = self.distribution(row)
        return int(tokens[weighted_index(weights, self.random.random())])


def widening(best: numpy.float32, reach: float) -> Iterator[numpy.float32]:
    """Cut-off logits from just below the best down to `reach` below it: most rows' nucleus
    lies within a few logits of the best, and a compare over the vocabulary costs far less
    than a sort of it."""
    for below in WINDOWS:
        if below < reach:
            yield best - numpy.float32(below)
    yield best - numpy.float32(reach)


def top_k(row: numpy.ndarray, best: numpy.float32, k: int, reach: float) -> numpy.ndarray:
    """The `k` best tokens (fewer where the rest are negligible). The k-th best of every
    `stride`-th logit is a cut that at least k tokens reach (a subset holds no more above any
    value than the whole), and about k × stride of them do: only those are partitioned."""
    stride = max(1, len(row) // (TOP_K_SAMPLE * k))
    sample = row[::stride]
    cut = max(numpy.partition(sample, len(sample) - k)[len(sample) - k], best - reach)
    tokens = numpy.flatnonzero(row >= cut)
    if len(tokens) <= k:
        return tokens
    logits = row[tokens]
    kth = numpy.partition(logits, len(tokens) - k)[len(tokens) - k]
    above, tied = tokens[logits > kth], tokens[logits == kth]
    return numpy.concatenate((above, tied[: k - len(above)]))  # ties at the edge: lowest ids


def top_p(
    row: numpy.ndarray, best: numpy.float32, p: float, reach: float,
    tokens: numpy.ndarray | None,
) -> numpy.ndarray:
    """The fewest best of `tokens` (the whole row if None) whose probabilities at
    temperature 1 reach `p`, at least one, as llama.cpp's top-p sampler keeps them."""
    if tokens is None:
        weights = numpy.exp(row - best)
        total = weights.sum(dtype=numpy.float64)
        tokens = numpy.flatnonzero(row >= nucleus_cut(row, weights, p * total, best, reach))
    else:
        total = None  # the sum over `tokens` themselves
    # Best first, equal ones in id order (llama.cpp leaves their order unspecified; a fixed
    # one keeps a seeded answer the same): a stable sort of tokens in id order.
    tokens = numpy.sort(tokens)
    tokens = tokens[numpy.argsort(-row[tokens], kind="stable")]
    cumulative = numpy.cumsum(numpy.exp(row[tokens] - best), dtype=numpy.float64)
    cumulative /= cumulative[-1] if total is None else total
    keep = int(numpy.searchsorted(cumulative, p, side="left")) + 1
    return tokens[: min(keep, len(tokens))]


def nucleus_cut(
    row: numpy.ndarray, weights: numpy.ndarray, needed: float, best: numpy.float32,
    reach: float,
) -> numpy.float32:
    """A logit such that the tokens at or above it hold `needed` of the weight, and are not
    many more than the nucleus: only those get sorted."""
    def mass(cut: numpy.float32) -> float:
        return float(weights[row >= cut].sum(dtype=numpy.float64))

    short = best + numpy.float32(1.0)  # no token reaches it
    for cut in widening(best, reach):
        if mass(cut) >= needed:
            break
        short = cut
    # A flat row's nucleus can take thousands of tokens, its window tens of thousands:
    # halve the gap between a cut too high and one low enough while the window is large.
    for _ in range(NARROWING_STEPS):
        if numpy.count_nonzero(row >= cut) <= SORT_AT_ONCE:
            break
        middle = numpy.float32((short + cut) / 2)
        if mass(middle) >= needed:
            cut = middle
        else:
            short = middle
    return cut


def weighted_index(weights: numpy.ndarray, uniform: float) -> int:
    """The index a uniform draw in [0, 1) lands on, each index with a chance proportional to
    its weight. A running sum over the whole vocabulary is slow in numpy (~0.5 ms for 49k), so
    it runs over block sums first and then within the one block the draw falls in."""
    if len(weights) <= DRAW_BLOCK:
        running = numpy.cumsum(weights, dtype=numpy.float64)
        index = int(numpy.searchsorted(running, uniform * running[-1], side="right"))
        return min(index, len(weights) - 1)
    blocks = -(-len(weights) // DRAW_BLOCK)
    padded = numpy.zeros(blocks * DRAW_BLOCK, dtype=numpy.float64)
    padded[: len(weights)] = weights
    block_sums = numpy.cumsum(padded.reshape(blocks, DRAW_BLOCK).sum(axis=1))
    target = uniform * block_sums[-1]
    block = min(int(numpy.searchsorted(block_sums, target, side="right")), blocks - 1)
    within = target - (block_sums[block - 1] if block else 0.0)
    running = numpy.cumsum(padded[block * DRAW_BLOCK : (block + 1) * DRAW_BLOCK])
    index = block * DRAW_BLOCK + int(numpy.searchsorted(running, within, side="right"))
    return min(index, len(weights) - 1)


def step_logits(context: llama_cpp.llama_context_p, outputs: int, n_vocab: int) -> numpy.ndarray:
    """The step's logits, one row per output in batch order (llama.cpp keeps them contiguous),
    read in place."""
    return numpy.ctypeslib.as_array(llama_cpp.llama_get_logits(context), shape=(outputs, n_vocab))


def pick_tokens(
    logits: numpy.ndarray, samplers: Sequence[RowSampler | None]
) -> list[int | None]:
    """The next token of each row that has a sampler; None for the others."""
    return [
        None if sampler is None else sampler.draw(logits[output])
        for output, sampler in enumerate(samplers)
    ]
