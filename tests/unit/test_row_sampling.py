"""Plain rows' tokens picked in numpy (engine/row_sampling.py) follow the distribution that
llama.cpp's own chain (top-k → top-p → temperature → draw) gives, on the model's real logits;
greedy rows pick what llama.cpp's greedy sampler picks; a seed repeats a draw."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import llama_cpp
import numpy
import pytest

from antiphon.engine.base import SamplingParams
from antiphon.engine.llamacpp_kv import create_context
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources
from antiphon.engine.row_sampling import RowSampler, pick_tokens, step_logits, weighted_index
from antiphon.engine.sampling import build_sampler_chain

SEQUENCES = 16
PROMPTS = (
    "<|im_start|>user\nWrite a poem about the sea.<|im_end|>\n<|im_start|>assistant\nThe",
    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the mountains, there lived a",
    "def fibonacci(n):\n    if n < 2:\n        return",
)


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaModel]:
    loaded, _ = LlamaModel.load(resolve_sources(())[0])
    yield loaded
    loaded.free()


@pytest.fixture(scope="module")
def rows(model: LlamaModel) -> Iterator[numpy.ndarray]:
    """Real next-token logits: the last position of a few prompts and every position of one
    (a prompt's early positions give flat rows, its later ones peaked rows), and two rows
    flattened further."""
    context = create_context(model, 2048, 1, 512, 2)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    collected: list[numpy.ndarray] = []
    try:
        for number, text in enumerate(PROMPTS):
            tokens = model.tokenize(text, False, True)
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(context), True)
            every = number == 0
            for position, token in enumerate(tokens):
                batch.token[position] = token
                batch.pos[position] = position
                batch.n_seq_id[position] = 1
                batch.seq_id[position][0] = 0
                batch.logits[position] = every or position == len(tokens) - 1
            batch.n_tokens = len(tokens)
            assert llama_cpp.llama_decode(context, batch) == 0
            outputs = len(tokens) if every else 1
            collected.extend(step_logits(context, outputs, model.n_vocab).copy())
        # Flattened copies: nuclei of thousands of tokens, in windows of tens of thousands.
        collected.extend([collected[-1] * 0.1, collected[-1] * 0.3])
        yield numpy.stack(collected)
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)


def llama_distribution(row: numpy.ndarray, params: SamplingParams) -> numpy.ndarray:
    """What llama.cpp's chain leaves to draw from (top-k, top-p, temperature, then softmax),
    as a probability for every token of the vocabulary."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if params.top_k:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(params.top_k))
    if params.top_p is not None:
        top_p = llama_cpp.llama_sampler_init_top_p(params.top_p, 1)
        llama_cpp.llama_sampler_chain_add(chain, top_p)
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(params.temperature))
    data = (llama_cpp.llama_token_data * len(row))()
    fields = numpy.ctypeslib.as_array(data)
    fields["id"], fields["logit"] = numpy.arange(len(row)), row
    candidates = llama_cpp.llama_token_data_array(data, len(row), -1, False)
    llama_cpp.llama_sampler_apply(chain, ctypes.byref(candidates))
    llama_cpp.llama_sampler_free(chain)
    kept = fields[: candidates.size]
    logits = kept["logit"].astype(numpy.float64)
    return dense(len(row), kept["id"], numpy.exp(logits - logits.max()))


def exact_distribution(row: numpy.ndarray, params: SamplingParams) -> numpy.ndarray:
    """The chain's definition over the whole vocabulary in float64, without shortcuts."""
    logits = row.astype(numpy.float64)
    order = numpy.argsort(-logits, kind="stable")[: params.top_k or None]
    if params.top_p is not None:
        weights = numpy.exp(logits[order] - logits[order[0]])
        cumulative = numpy.cumsum(weights / weights.sum())
        order = order[: int(numpy.searchsorted(cumulative, params.top_p)) + 1]
    chosen = logits[order]
    return dense(len(row), order, numpy.exp((chosen - chosen.max()) / params.temperature))


def dense(vocabulary: int, tokens: numpy.ndarray, weights: numpy.ndarray) -> numpy.ndarray:
    probabilities = numpy.zeros(vocabulary)
    probabilities[tokens] = weights / weights.sum()
    return probabilities


def assert_same_draws(ours: numpy.ndarray, theirs: numpy.ndarray, boundary: float) -> None:
    """The same tokens with the same odds, but for the negligible tail and for top-p's last
    tokens, those whose running sum lies within `boundary` of top_p (rounding decides)."""
    differ = (ours > 0) != (theirs > 0)
    assert (ours[differ] + theirs[differ]).sum() < boundary
    common = (ours > 0) & (theirs > 0)
    numpy.testing.assert_allclose(
        ours[common] / ours[common].sum(), theirs[common] / theirs[common].sum(),
        rtol=1e-4, atol=1e-8,
    )


def test_the_rows_are_of_several_shapes(rows: numpy.ndarray) -> None:
    """Flat rows and peaked ones: tokens within 2 logits of the best vary widely."""
    near_best = {int(numpy.count_nonzero(row >= row.max() - 2)) for row in rows}
    assert len(rows) >= 20 and min(near_best) <= 3 and max(near_best) >= 5_000


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=0.7, top_p=0.9),
        SamplingParams(temperature=0.2, top_p=0.9),
        SamplingParams(temperature=1.0),
        SamplingParams(temperature=0.5, top_k=5),
        SamplingParams(temperature=0.7, top_k=40, top_p=0.95),
        SamplingParams(temperature=1.0, top_p=0.5),
        SamplingParams(temperature=1.0, top_p=0.999),
    ],
    ids=repr,
)
def test_the_distribution_is_the_chains(rows: numpy.ndarray, params: SamplingParams) -> None:
    sampler = RowSampler.of(params)
    for row in rows:
        tokens, weights = sampler.distribution(row)
        ours = dense(len(row), tokens, weights)
        # Against the definition: only the negligible tail (and exact float64 ties) differ.
        assert_same_draws(ours, exact_distribution(row, params), boundary=1e-6)
        # Against llama.cpp: its float32 sums over the vocabulary run ~1e-4 high, so its
        # nucleus can end a few small tokens earlier.
        assert_same_draws(ours, llama_distribution(row, params), boundary=2e-3)


def test_greedy_rows_pick_what_llama_cpps_greedy_sampler_picks(model: LlamaModel) -> None:
    context = create_context(model, 1024, SEQUENCES, 64, 2)
    batch = llama_cpp.llama_batch_init(64, 0, 1)
    chain = build_sampler_chain(SamplingParams(temperature=0.0))
    try:
        # Each sequence: a few prompt tokens, logits only for its last one, as a step asks.
        row = 0
        for sequence in range(SEQUENCES):
            for position in range(3):
                batch.token[row] = 1000 + 37 * sequence + position
                batch.pos[row] = position
                batch.n_seq_id[row] = 1
                batch.seq_id[row][0] = sequence
                batch.logits[row] = position == 2
                row += 1
        batch.n_tokens = row
        assert llama_cpp.llama_decode(context, batch) == 0
        expected = [
            int(llama_cpp.llama_sampler_sample(chain, context, 3 * sequence + 2))
            for sequence in range(SEQUENCES)
        ]
        greedy = RowSampler.of(SamplingParams(temperature=0.0))
        logits = step_logits(context, SEQUENCES, model.n_vocab)
        assert pick_tokens(logits, [greedy] * SEQUENCES) == expected
        assert len(set(expected)) > 1  # the rows differ: a mix-up of rows would show
    finally:
        llama_cpp.llama_sampler_free(chain)
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)


def test_rows_without_a_sampler_are_left_to_their_chains(rows: numpy.ndarray) -> None:
    greedy = RowSampler.of(SamplingParams(temperature=0.0))
    sampled = RowSampler.of(SamplingParams(temperature=0.7, top_p=0.9, seed=3))
    picks = pick_tokens(rows[:3], [None, greedy, sampled])
    assert picks[0] is None
    assert picks[1] == int(rows[1].argmax())
    assert picks[2] in sampled.distribution(rows[2])[0].tolist()


def test_a_seed_repeats_its_draws_and_another_seed_does_not(rows: numpy.ndarray) -> None:
    def draws(seed: int) -> list[int]:
        sampler = RowSampler.of(SamplingParams(temperature=1.0, seed=seed))
        return [sampler.draw(row) for row in rows]

    assert draws(11) == draws(11)
    assert draws(11) != draws(12)


def test_draws_land_in_proportion_to_their_weights() -> None:
    # Nonzero weights spread over several of the draw's blocks, zeros between them.
    weights = numpy.zeros(3000)
    chosen = {7: 1.0, 600: 2.0, 1500: 3.0, 2999: 4.0}
    for index, weight in chosen.items():
        weights[index] = weight
    generator = numpy.random.default_rng(5)
    counts = numpy.bincount(
        [weighted_index(weights, generator.random()) for _ in range(20_000)], minlength=3000
    )
    assert set(numpy.flatnonzero(counts).tolist()) == set(chosen)
    for index, weight in chosen.items():
        assert counts[index] / 20_000 == pytest.approx(weight / 10.0, abs=0.015)
    assert weighted_index(weights, 0.0) == 7
    assert weighted_index(weights, 0.9999999) == 2999


def test_a_banned_token_is_never_picked_even_when_it_is_the_best(rows: numpy.ndarray) -> None:
    """A thinking section bans the tokens that end the turn, whatever the model prefers."""
    for params in (SamplingParams(temperature=0.0), SamplingParams(temperature=1.0, seed=2)):
        plain = RowSampler.of(params)
        for row in rows[:8]:
            best = int(row.argmax())
            banning = plain.banning([best])
            picks = [banning.draw(row) for _ in range(20)]
            assert best not in picks
            if params.temperature == 0.0:  # the next best, as llama.cpp's bias + greedy gives
                assert picks[0] == int(numpy.argsort(-row, kind="stable")[1])
    best = int(rows[0].argmax())
    banning = RowSampler.of(SamplingParams(temperature=0.0)).banning([best])
    assert pick_tokens(rows[:1], [banning])[0] != best


def test_top_k_keeps_exactly_k_taking_ties_at_the_edge_by_id() -> None:
    row = numpy.zeros(1000, dtype=numpy.float32)
    row[[5, 10, 15]] = 2.0
    sampler = RowSampler.of(SamplingParams(temperature=1.0, top_k=2))
    assert sorted(sampler.distribution(row)[0].tolist()) == [5, 10]
    sampler = RowSampler.of(SamplingParams(temperature=1.0, top_k=5))
    assert sorted(sampler.distribution(row)[0].tolist()) == [0, 1, 5, 10, 15]
