"""The prefix cache's host-memory tier on the real engine: a cached prefix no running request
uses leaves the KV pool (every decode step attends over the pool's used cells) and is copied
back, not prefilled, when the next request starts with it: read as cached, the same answer
at temperature 0."""

from __future__ import annotations

from pathlib import Path

import anthropic

from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_metrics import scrape
from tests.e2e.test_prefix_disk_tier import SYSTEM


def ask(server: Server, system: str, question: str, max_tokens: int) -> anthropic.types.Message:
    client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    return client.messages.create(
        model=server.model, max_tokens=max_tokens, extra_body={"temperature": 0},
        system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": question}],
    )


def test_an_idle_prefix_waits_in_host_memory_and_comes_back_as_a_copy(tmp_path: Path) -> None:
    process, server = start_server(
        tmp_path, "host", ["--ctx", "4096", "--prefix-cache-disk", "0"], "smollm2-135m-instruct"
    )
    try:
        first = ask(server, SYSTEM, "Which metal is named first?", 8)
        written = first.usage.cache_creation_input_tokens
        assert written > 1024
        ask(server, "You are terse.", "Name a colour.", 16)  # runs without the long prefix
        between = scrape(server)
        again = ask(server, SYSTEM, "Which metal is named first?", 8)
        after = scrape(server)
    finally:
        stop_server(process)
    # While the second request ran, the long prefix left the pool for host memory.
    assert between["antiphon_prefix_ram_spilled_tokens_total"] >= written
    assert between["antiphon_prefix_ram_cells"] >= written
    assert between["antiphon_prefix_cache_cells"] < 200
    # The third loaded it back: read as cached, not prefilled, the same answer.
    assert after["antiphon_prefix_ram_loaded_tokens_total"] >= written
    assert after["antiphon_prompt_tokens_total"] - between["antiphon_prompt_tokens_total"] < 40
    assert again.usage.cache_read_input_tokens == written
    assert again.usage.cache_creation_input_tokens == 0
    assert again.content[0].text == first.content[0].text
