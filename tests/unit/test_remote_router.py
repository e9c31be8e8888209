"""Prefix affinity with bounded load (engine/remote/router.py)."""

from __future__ import annotations

import random

from antiphon.engine.remote.router import BLOCK_TOKENS, Candidate, Router, block_hashes


def prompt(seed: int, tokens: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(50_000) for _ in range(tokens)]


def idle(count: int) -> list[Candidate]:
    return [Candidate(index, 0) for index in range(count)]


def test_block_hashes_chain_over_whole_blocks_only() -> None:
    tokens = prompt(1, 3 * BLOCK_TOKENS + 10)
    hashes = block_hashes(tokens)
    assert len(hashes) == 3
    assert block_hashes(tokens[: 2 * BLOCK_TOKENS]) == hashes[:2]
    changed = list(tokens)
    changed[0] += 1  # a change early on changes every later block's hash
    assert not set(block_hashes(changed)) & set(hashes)
    assert block_hashes(tokens[: BLOCK_TOKENS - 1]) == []


def test_a_conversation_stays_where_its_prefix_went() -> None:
    router = Router(3)
    conversations = {n: prompt(n, 4 * BLOCK_TOKENS) for n in range(6)}
    homes = {n: router.choose(idle(3), block_hashes(c), 0).index for n, c in conversations.items()}
    assert len(set(homes.values())) == 3  # new prefixes spread over the idle pool
    for turn in range(3):
        for n, conversation in conversations.items():
            conversation += prompt(100 * turn + n, 2 * BLOCK_TOKENS)  # the next turn grows it
            choice = router.choose(idle(3), block_hashes(conversation), 0)
            assert choice.index == homes[n]
            assert choice.matched_tokens >= 4 * BLOCK_TOKENS


def test_a_loaded_upstream_is_passed_over_despite_its_prefix() -> None:
    router = Router(2)
    shared = block_hashes(prompt(7, 8 * BLOCK_TOKENS))
    home = router.choose(idle(2), shared, 0).index
    other = 1 - home
    busy = [Candidate(home, 6), Candidate(other, 0)]
    assert router.choose(busy, shared, total_load=6).index == other
    # Within its share it keeps the request.
    assert router.choose([Candidate(home, 1), Candidate(other, 0)], shared, 1).index == home


def test_round_robin_ignores_prefixes() -> None:
    router = Router(3, "round-robin")
    hashes = block_hashes(prompt(3, 4 * BLOCK_TOKENS))
    assert [router.choose(idle(3), hashes, 0).index for _ in range(6)] == [0, 1, 2, 0, 1, 2]


def test_forgetting_an_upstream_drops_its_affinity() -> None:
    router = Router(2)
    hashes = block_hashes(prompt(9, 4 * BLOCK_TOKENS))
    home = router.choose(idle(2), hashes, 0).index
    router.forget(home)
    assert router.choose([Candidate(home, 0)], hashes, 0).matched_tokens == 0
