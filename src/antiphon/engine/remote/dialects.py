"""How antiphon talks to each kind of upstream engine server: one module per dialect, each
offering the same four calls, picked here by the kind a `--model` spec names."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from antiphon.engine.remote import llama_server, sglang, vllm
from antiphon.engine.remote.segment import Segment, UpstreamEvent, UpstreamFacts
from antiphon.engine.remote.source import UpstreamKind


@dataclass(frozen=True)
class Dialect:
    # The upstream's events for one segment; raises UpstreamFailed.
    stream: Callable[[aiohttp.ClientSession, str, Segment], AsyncGenerator[UpstreamEvent, None]]
    # Its window, slots and model file; raises UpstreamFailed.
    read_facts: Callable[[aiohttp.ClientSession, str], Awaitable[UpstreamFacts]]
    # Its token ids for a text (no special tokens added); raises UpstreamFailed.
    tokenize: Callable[[aiohttp.ClientSession, str, str], Awaitable[list[int]]]
    # Whether it takes requests now.
    is_healthy: Callable[[aiohttp.ClientSession, str], Awaitable[bool]]


DIALECTS: dict[UpstreamKind, Dialect] = {
    "llama-server": Dialect(llama_server.stream_completion, llama_server.read_facts,
                            llama_server.tokenize, llama_server.is_healthy),
    "vllm": Dialect(vllm.stream_completion, vllm.read_facts, vllm.tokenize, vllm.is_healthy),
    # SGLang's /tokenize takes and answers what vLLM's does.
    "sglang": Dialect(sglang.stream_generate, sglang.read_facts, vllm.tokenize,
                      sglang.is_healthy),
}
