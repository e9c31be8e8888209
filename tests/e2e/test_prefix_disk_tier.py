"""The prefix cache's disk tier: a long cached prefix outlives the process.

A request marks a ~1,500-token system prompt for caching; the server saves its KV state in
DATA_DIR. After a restart the same request restores it instead of prefilling it: it reads
what it wrote (its 5m TTL still runs) and answers the same at temperature 0. A damaged or
truncated entry is detected, dropped and prefilled again, with the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_metrics import scrape

WORDS = "harbor lantern copper orchard meadow violet ember glacier thunder river stone".split()
SYSTEM = "Facts to keep in mind. " + ". ".join(
    " ".join(WORDS[(i * 5 + j) % len(WORDS)] for j in range(7)).capitalize() for i in range(180)
)


def ask(server: Server) -> anthropic.types.Message:
    client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    return client.messages.create(
        model=server.model, max_tokens=8, extra_body={"temperature": 0},
        system=[{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Which metal is named first?"}],
    )


def wait_for(server: Server, metric: str, value: float, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while scrape(server)[metric] < value:
        assert time.monotonic() < deadline, f"{metric} never reached {value}"
        time.sleep(0.2)


def restarted(tmp: Path, change: Callable[[Path], None] | None = None) -> tuple[object, Server]:
    """Start the server on the data dir the earlier process used, after `change` is applied
    to its one stored entry."""
    if change is not None:
        (entry,) = (tmp / "disk-data" / "prefix-cache").glob("*/*.kv")
        change(entry)
    return start_server(tmp, "disk", ["--ctx", "4096"], "smollm2-135m-instruct")


def flip_a_byte(entry: Path) -> None:
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))


def cut_short(entry: Path) -> None:
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) * 2 // 3])


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("disk-tier")


def test_a_restarted_server_restores_the_prefix_and_reads_what_it_wrote(tmp: Path) -> None:
    process, server = restarted(tmp)
    try:
        first = ask(server)
        written = first.usage.cache_creation_input_tokens
        assert written > 1024 and first.usage.cache_read_input_tokens == 0
        wait_for(server, "antiphon_prefix_disk_writes_total", 1)
    finally:
        stop_server(process)
    process, server = restarted(tmp)
    try:
        again = ask(server)
        metrics = scrape(server)
    finally:
        stop_server(process)
    assert metrics["antiphon_prefix_disk_hits_total"] == 1
    assert metrics["antiphon_prefix_disk_restored_tokens_total"] == written
    assert metrics["antiphon_prompt_tokens_total"] < first.usage.input_tokens + 8  # not prefilled
    assert again.usage.cache_read_input_tokens == written
    assert again.usage.cache_creation_input_tokens == 0
    assert again.content[0].text == first.content[0].text


@pytest.mark.parametrize("damage", [flip_a_byte, cut_short], ids=["flipped", "truncated"])
def test_a_damaged_entry_is_dropped_and_prefilled_again(
    tmp: Path, damage: Callable[[Path], None]
) -> None:
    process, server = restarted(tmp)
    try:
        reference = ask(server)  # the entry is whole: restored
        assert reference.usage.cache_read_input_tokens > 1024
    finally:
        stop_server(process)
    process, server = restarted(tmp, damage)
    try:
        answer = ask(server)
        metrics = scrape(server)
        wait_for(server, "antiphon_prefix_disk_writes_total", 1)  # written anew
    finally:
        stop_server(process)
    assert metrics["antiphon_prefix_disk_hits_total"] == 0
    assert metrics["antiphon_prefix_disk_rejected_total"] == 1
    assert answer.usage.cache_read_input_tokens == 0
    assert answer.usage.cache_creation_input_tokens == reference.usage.cache_read_input_tokens
    assert answer.content[0].text == reference.content[0].text
