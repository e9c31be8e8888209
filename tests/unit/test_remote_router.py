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
    router = Router(2)
    home = router.choose(idle(2), shared, 0).index
    assert router.choose([Candidate(home, 1), Candidate(1 - home, 0)], shared, 1).index == home


def test_a_prefix_held_by_several_goes_to_the_least_loaded_of_them() -> None:
    """A system prompt every conversation shares, once on two upstreams: new conversations
    go to whichever of the two is less busy, not always to the first."""
    router = Router(3)
    system = prompt(5, 8 * BLOCK_TOKENS)
    first = router.choose(idle(3), block_hashes(system + prompt(1, BLOCK_TOKENS)), 0).index
    busy = [Candidate(first, 2), *(Candidate(i, 0) for i in range(3) if i != first)]
    second = router.choose(busy, block_hashes(system + prompt(2, BLOCK_TOKENS)), 2).index
    assert second != first  # past its share: another upstream gets the shared prompt too
    loads = {first: 1, second: 0}
    third_upstream = ({0, 1, 2} - {first, second}).pop()
    candidates = [Candidate(i, loads.get(i, 0)) for i in range(3)]
    third = router.choose(candidates, block_hashes(system + prompt(3, BLOCK_TOKENS)), 1).index
    assert third == second and third != third_upstream  # holds the prompt, and is less busy


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
