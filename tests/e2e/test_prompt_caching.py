"""Prompt caching and the prefix cache, through the official SDK on the embedded model.

The `cache_server` keeps a small KV budget (so eviction happens) and a 5m TTL of a few
seconds (so expiry can be watched).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_metrics import scrape

SHORT_TTL = 8.0  # long enough for a few requests on a busy 2-core machine
KV_CELLS = 4096
WORDS = "river stone lantern orchard copper meadow harbor violet thunder ember glacier".split()


@pytest.fixture(scope="module")
def cache_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A short ping interval: message_start waits at most half of it for the cache usage.
    args = ["--parallel", "2", "--ctx", "2048", "--kv-cache", str(KV_CELLS),
            "--cache-ttl-5m", str(SHORT_TTL), "--max-queue", "8", "--ping-interval", "1"]
    process, server = start_server(
        tmp_path_factory.mktemp("cache"), "cache", args, "smollm2-135m-instruct"
    )
    yield server
    stop_server(process)


def _client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def _system(seed: int, sentences: int = 30) -> str:
    """A long system prompt no other test sends."""
    words = [WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(sentences * 6)]
    return f"Session {seed}. " + ". ".join(
        " ".join(words[i : i + 6]).capitalize() for i in range(0, len(words), 6)
    )


def _ask(client: anthropic.Anthropic, system: Any, question: str = "Name a color.",
         max_tokens: int = 12, **extra: Any) -> anthropic.types.Message:
    return client.messages.create(
        model="smollm2-135m-instruct", max_tokens=max_tokens, system=system,
        messages=[{"role": "user", "content": question}],
        extra_body={"temperature": 0, **extra},
    )


def _marked(text: str, ttl: str = "5m") -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


def test_a_repeated_request_reads_exactly_the_prefix_it_wrote(cache_server: Server) -> None:
    client = _client(cache_server)
    system = _marked(_system(1))
    first = _ask(client, system)
    total = client.messages.count_tokens(
        model="smollm2-135m-instruct", system=system,
        messages=[{"role": "user", "content": "Name a color."}],
    ).input_tokens
    written = first.usage.cache_creation_input_tokens
    assert written > 200 and first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == written
    assert first.usage.input_tokens + written == total
    second = _ask(client, system)
    assert second.usage.cache_read_input_tokens == written
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens
    assert second.usage.service_tier == "standard"


def test_message_start_reports_the_read_while_the_rest_of_the_prompt_prefills(
    cache_server: Server,
) -> None:
    """Claude Code reads a turn's cache usage from message_start: it is known when the
    sequence starts, not after the first prompt chunk (seconds, for a long new message)."""
    client = _client(cache_server)
    system = _marked(_system(30))
    written = _ask(client, system).usage.cache_creation_input_tokens
    long_question = _system(31, 160) + " Name a color."
    with client.messages.stream(
        model="smollm2-135m-instruct", max_tokens=4, system=system,
        messages=[{"role": "user", "content": long_question}], extra_body={"temperature": 0},
    ) as stream:
        start = next(event for event in stream if event.type == "message_start")
        final = stream.get_final_message()
    assert final.usage.input_tokens > 1024  # two prompt chunks at least, after the cached part
    assert start.message.usage.cache_read_input_tokens == written > 200
    assert final.usage.cache_read_input_tokens == written


def test_breakpoints_split_creation_by_ttl_and_a_longer_prefix_builds_on_a_shorter(
    cache_server: Server,
) -> None:
    client = _client(cache_server)
    system = _marked(_system(2), ttl="1h")
    question = [{"type": "text", "text": "Which season is warmest? " * 12,
                 "cache_control": {"type": "ephemeral"}}]

    def ask() -> anthropic.types.Message:
        return client.messages.create(
            model="smollm2-135m-instruct", max_tokens=8, system=system,
            messages=[{"role": "user", "content": question}], extra_body={"temperature": 0},
        )

    first = ask()
    hour, five = (first.usage.cache_creation.ephemeral_1h_input_tokens,
                  first.usage.cache_creation.ephemeral_5m_input_tokens)
    assert hour > 200 and five > 50 and first.usage.cache_creation_input_tokens == hour + five
    second = ask()
    assert second.usage.cache_read_input_tokens == hour + five
    time.sleep(SHORT_TTL + 1)  # the 5m pin expires; the 1h one holds
    third = ask()
    assert third.usage.cache_read_input_tokens == hour
    assert third.usage.cache_creation.ephemeral_5m_input_tokens == five
    assert third.usage.cache_creation.ephemeral_1h_input_tokens == 0


def test_ttl_expiry_ends_the_pinning(cache_server: Server) -> None:
    client = _client(cache_server)
    system = _marked(_system(3))
    written = _ask(client, system).usage.cache_creation_input_tokens
    assert _ask(client, system).usage.cache_read_input_tokens == written
    time.sleep(SHORT_TTL + 1)
    expired = _ask(client, system)
    assert expired.usage.cache_read_input_tokens == 0
    assert expired.usage.cache_creation_input_tokens == written  # written and pinned again


def test_output_is_the_same_with_and_without_a_cache_hit(cache_server: Server) -> None:
    client = _client(cache_server)
    system = _system(4)  # no breakpoint: reuse still happens, as free speed
    before = scrape(cache_server)
    cold = _ask(client, system, max_tokens=40)
    middle = scrape(cache_server)
    warm = _ask(client, system, max_tokens=40)
    after = scrape(cache_server)
    prompt = cold.usage.input_tokens
    cached = "antiphon_cached_prompt_tokens_total"
    assert middle[cached] - before[cached] < prompt / 4  # at most the template's opening
    assert after[cached] - middle[cached] == prompt - 1  # all but the token decoded for logits
    prefilled = after["antiphon_prompt_tokens_total"]
    assert after["antiphon_prefix_cache_hit_ratio"] == after[cached] / (after[cached] + prefilled)
    assert warm.usage.input_tokens == prompt and warm.usage.cache_read_input_tokens == 0
    assert warm.content[0].text == cold.content[0].text  # type: ignore[union-attr]


def test_max_tokens_zero_prewarms_the_cache(cache_server: Server) -> None:
    client = _client(cache_server)
    system = _marked(_system(5))
    warmed = _ask(client, system, max_tokens=0)
    assert warmed.content == [] and warmed.stop_reason == "max_tokens"
    assert warmed.usage.output_tokens == 0 and warmed.usage.cache_creation_input_tokens > 200
    answer = _ask(client, system)
    assert answer.usage.cache_read_input_tokens == warmed.usage.cache_creation_input_tokens
    assert answer.content


def test_breakpoint_rules_are_the_hosted_apis(cache_server: Server) -> None:
    client = _client(cache_server)
    five = [{"type": "text", "text": f"Part {i}.", "cache_control": {"type": "ephemeral"}}
            for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks"):
        _ask(client, five)
    mixed = [{"type": "text", "text": "A.", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
             {"type": "text", "text": "B.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    with pytest.raises(anthropic.BadRequestError, match="ttl='1h'"):
        _ask(client, mixed)
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks"):
        client.messages.count_tokens(model="smollm2-135m-instruct", system=five,
                                     messages=[{"role": "user", "content": "Hi"}])


def test_eviction_under_pressure_never_breaks_a_running_stream(cache_server: Server) -> None:
    client = _client(cache_server)
    before = scrape(cache_server)
    results: list[anthropic.types.Message] = []

    def pressure() -> None:
        for seed in range(10, 16):  # ~600-token prompts: the budget holds only a few
            results.append(_ask(client, _marked(_system(seed, 60)), max_tokens=4))

    with client.messages.stream(
        model="smollm2-135m-instruct", max_tokens=400, system=_system(9, 60),
        messages=[{"role": "user", "content": "Tell a long story about a lighthouse."}],
        extra_body={"temperature": 0.8, "seed": 2},
    ) as stream:
        worker = threading.Thread(target=pressure)
        worker.start()
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        worker.join()
    after = scrape(cache_server)
    assert after["antiphon_prefix_cache_evicted_cells_total"] > before[
        "antiphon_prefix_cache_evicted_cells_total"
    ]
    assert final.stop_reason in ("end_turn", "max_tokens") and final.usage.output_tokens > 20
    assert text and len(results) == 6 and all(r.stop_reason == "max_tokens" for r in results)
    assert after["antiphon_kv_cells_used"] <= KV_CELLS


def test_a_disconnect_frees_the_sequence_and_its_cells(cache_server: Server) -> None:
    before = cache_server.wait_idle()
    body = {"model": "smollm2-135m-instruct", "max_tokens": 500, "stream": True, "temperature": 1,
            "messages": [{"role": "user", "content": "Write a very long essay about tides."}]}
    with httpx.stream("POST", f"{cache_server.base_url}/v1/messages", json=body,
                      headers=cache_server.headers(), timeout=60) as response:
        for line in response.iter_lines():
            if "content_block_delta" in line:
                break  # leave mid-answer
    stats = cache_server.wait_idle()
    assert stats["aborted_total"] == before["aborted_total"] + 1
    # Nothing running holds cells: what is left is the prefix cache's.
    assert stats["kv_cells_used"] == stats["prefix_cache_cells"]
