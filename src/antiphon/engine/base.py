"""The Engine boundary: what the services hand an engine and what comes back.

Threading contract (every backend keeps it):
- `generate` and `stats` are called from the asyncio event loop thread only; `close` from
  any one thread, once, after the last `generate` (it waits for the engine thread).
- `tokenize` and `render_piece` only read the model and may be called from any thread; the
  services call `tokenize` through `asyncio.to_thread` because long prompts take a while.
- A backend never blocks the event loop: model work happens on threads the backend owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Literal, Protocol

from antiphon.engine.latency import HistogramSnapshot
from antiphon.errors import AntiphonError

if TYPE_CHECKING:
    from antiphon.engine.stream import GenerationStream

# "repetition": the answer had fallen into a loop (engine/repetition.py).
FinishReason = Literal["end_turn", "max_tokens", "stop_sequence", "context_exhausted", "repetition"]
# How several GPUs share a model (llama.cpp's split modes; engine/gpu_offload.py).
SplitMode = Literal["none", "layer", "row"]


@dataclass(frozen=True)
class PromptSpan:
    """A run of prompt text. Only template text (`from_client=False`) may contain control
    tokens such as `<|im_end|>`; in text a client sent, those strings are plain text, so a
    message cannot forge the conversation's structure."""

    text: str
    from_client: bool


Prompt = tuple[PromptSpan, ...]


def prompt_text(prompt: Prompt) -> str:
    return "".join(span.text for span in prompt)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class SamplingDefaults:
    """How a model samples where a request leaves a parameter unset: what its makers
    recommend (the GGUF's `general.sampling.*`, its model card) or the operator set, else the
    API's own default of temperature 1.0 over the whole vocabulary."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    origin: str = "the API's default"

    def apply(
        self, temperature: float | None, top_k: int | None, top_p: float | None, seed: int | None
    ) -> SamplingParams:
        """Each parameter the request set wins over the model's default for it."""
        return SamplingParams(
            temperature=self.temperature if temperature is None else temperature,
            top_k=self.top_k if top_k is None else top_k,
            top_p=self.top_p if top_p is None else top_p,
            seed=seed,
        )

    def describe(self) -> str:
        parts = [f"temperature {self.temperature:g}"]
        parts += [f"top_k {self.top_k}"] if self.top_k is not None else []
        parts += [f"top_p {self.top_p:g}"] if self.top_p is not None else []
        return f"{', '.join(parts)} ({self.origin})"


@dataclass(frozen=True)
class Grammar:
    """A GBNF grammar (start rule `root`) that every sampled token must keep valid.

    With `lazy_triggers`, output is free until one of these strings appears; the grammar
    then applies from the start of that string (so `root` begins with it)."""

    gbnf: str
    lazy_triggers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ThinkingControl:
    """The output starts inside a thinking section that `close_tag` ends.

    While it is open the model cannot end its turn (end-of-generation is banned), and once
    `budget_tokens` are spent the engine writes `close_text` itself. The grammar, if any,
    applies only to what follows the section."""

    close_tag: str
    close_text: str
    budget_tokens: int | None = None


class Priority(IntEnum):
    """Which waiting request starts first: lower first, arrival order within a level."""

    INTERACTIVE = 0
    BATCH = 1  # Message Batches: only when no interactive request waits


@dataclass(frozen=True)
class CacheBreakpoint:
    """Prompt caching: the first `tokens` prompt tokens stay cached (pinned) for `seconds`
    after the prompt is prefilled, and again after each read."""

    tokens: int
    seconds: float
    label: str = ""  # the caller's name for its TTL, e.g. "5m"; the engine ignores it


@dataclass(frozen=True)
class GenerationRequest:
    """`max_new_tokens` 0 prefills the prompt into the prefix cache and generates nothing."""

    request_id: str
    prompt_tokens: tuple[int, ...]
    max_new_tokens: int
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop_sequences: tuple[str, ...] = ()
    grammar: Grammar | None = None
    thinking: ThinkingControl | None = None
    priority: Priority = Priority.INTERACTIVE
    cache_breakpoints: tuple[CacheBreakpoint, ...] = ()  # by `tokens`, ascending


@dataclass(frozen=True)
class TextChunk:
    """Text safe to show: complete UTF-8, and never part of a stop sequence.

    `generated_tokens` counts the sequence's output tokens so far, so that a consumer that
    stops early still knows how many were spent (usage accounting)."""

    text: str
    generated_tokens: int = 0


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    output_tokens: int
    stop_sequence: str | None = None
    error: AntiphonError | None = None


@dataclass(frozen=True)
class PromptCacheUsage:
    """What a prompt found in the prefix cache when its sequence started.

    `reused_tokens` came from any cached prefix (free speed, reported as input tokens);
    `read_tokens` from a pinned one (prompt caching's cache read); `created_tokens[i]` were
    written for breakpoint i (cache creation), following the hosted API's accounting."""

    reused_tokens: int = 0
    read_tokens: int = 0
    created_tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class Admitted:
    """The first event of every generation: its sequence has started."""

    cache: PromptCacheUsage


GenerationEvent = Admitted | TextChunk | Finished


@dataclass(frozen=True)
class ModelCard:
    """What a loaded model is; fixed for the engine's lifetime."""

    id: str
    display_name: str
    path: str
    context_window: int  # positions per sequence: prompt and answer together
    trained_context: int  # the model's training context
    yarn_factor: float  # > 1: the window reaches past the training context with YaRN
    max_output_tokens: int  # the most tokens one answer may have
    sampling: SamplingDefaults  # where a request leaves temperature, top_k or top_p unset
    created_at: float
    chat_template: str | None
    bos_text: str
    eos_text: str


@dataclass(frozen=True)
class UpstreamStats:
    """One upstream engine server of a remote model's pool (engine/remote/pool.py)."""

    url: str
    healthy: bool
    running: int
    limit: int  # requests it runs at once
    requests_total: int
    errors_total: int  # calls that failed (connection, 5xx, broken stream)
    ejections_total: int  # times it was taken out of the pool
    routed_prefix_tokens_total: int  # prompt tokens sent where the same prefix went before
    routed_by_other_replicas_total: int  # sent here for a prefix another replica sent here
    time_to_first_token: HistogramSnapshot


@dataclass(frozen=True)
class EngineStats:
    running: int
    waiting: int
    in_flight: int
    completed_total: int
    aborted_total: int
    repetition_stops_total: int  # answers ended because they had fallen into a loop
    prompt_tokens_total: int  # prompt tokens decoded (not those reused from a slot's cache)
    cached_prompt_tokens_total: int  # prompt tokens reused from the prefix cache
    output_tokens_total: int
    steps_total: int
    decode_seconds_total: float  # time inside llama_decode (or the backend's equivalent)
    kv_cells_total: int  # the KV budget, in cells (one per token of one sequence)
    kv_cells_used: int  # held by the prefix cache or by running sequences
    prefix_cache_cells: int  # held by the prefix cache (shared ones included)
    prefix_cache_nodes: int
    prefix_cache_evicted_cells_total: int
    time_to_first_token: HistogramSnapshot  # from queueing to the first generated token
    inter_token_latency: HistogramSnapshot  # between a sequence's consecutive tokens
    # The prefix cache's host-memory tier: prefixes out of the pool, their state kept.
    prefix_ram_nodes: int = 0
    prefix_ram_cells: int = 0  # tokens whose KV state waits in host memory
    prefix_ram_bytes: int = 0
    prefix_ram_spilled_tokens_total: int = 0  # moved out of the pool into host memory
    prefix_ram_loaded_tokens_total: int = 0  # copied back into the pool instead of prefilled
    prefix_ram_dropped_tokens_total: int = 0  # dropped from host memory to stay in its bound
    # The prefix cache's disk tier (engine/prefix_store.py), where there is one.
    prefix_disk_entries: int = 0
    prefix_disk_bytes: int = 0
    prefix_disk_hits_total: int = 0  # entries read back whole
    prefix_disk_writes_total: int = 0
    prefix_disk_rejected_total: int = 0  # damaged, truncated or foreign entries dropped
    prefix_disk_restored_tokens_total: int = 0  # prompt tokens restored instead of prefilled
    upstreams: tuple[UpstreamStats, ...] = ()  # a remote model's pool, one per upstream


class Engine(Protocol):
    card: ModelCard

    @property
    def failure(self) -> str | None:
        """Why the engine stopped serving for good (its thread died), once it has; None
        while it serves. Upstreams that are down are not this: they come back."""
        ...

    def tokenize(self, prompt: Prompt) -> list[int]:
        """Tokens for a rendered prompt: control tokens parsed in template text only, BOS
        added if the model wants it and the prompt does not already start with it. Any
        thread."""
        ...

    def check_capacity(self, pending: int = 0) -> None:
        """Raise `Overloaded` if `generate` would refuse a request now, with `pending` more
        let in and on their way (being rendered): cheap, so that the excess of a burst is
        refused before it is rendered and tokenized. Event loop thread only."""
        ...

    def generate(self, request: GenerationRequest) -> GenerationStream:
        """Queue a request and stream its events, ending with one `Finished`.

        Raises `Overloaded` at once when the queue is full. Use it as `async with`: closing
        it before the end (client gone) aborts the sequence; its KV cells are freed before the next step.
        Event loop thread only."""
        ...

    def stats(self) -> EngineStats:
        """A snapshot of counters. Event loop thread only."""
        ...

    def close(self) -> None:
        """Stop the engine thread and free the model. Blocks until the thread has stopped, so
        callers on the event loop run it in a worker thread."""
        ...
