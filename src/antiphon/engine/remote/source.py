"""A served model backed by upstream engine servers: `--model` for a pool.

    --model 'ID=llama-server:http://gpu1:8080,http://gpu2:8080;tokenizer=PATH.gguf'
    --model 'ID=vllm:http://gpu1:8000,http://gpu2:8000;tokenizer=PATH.gguf'
    --model 'ID=sglang:http://gpu1:30000;tokenizer=PATH.gguf'

The location names the upstream kind (`llama-server`, `vllm` or `sglang`) and its base
URLs; the options after it are the ones
every model takes (`ctx`, `max-output-tokens`, sampling) and these:

- `tokenizer=`: the model's GGUF file (a path, `hf:OWNER/REPO/FILE.gguf` or `embedded`),
  read for its vocabulary and chat template only (no weights are loaded). antiphon renders
  and tokenizes every prompt itself, so it must be the upstream's model (start-up checks
  that the upstream tokenizes a sample text the same way). Without it, the file a
  llama-server upstream reports in `/props` is used when it exists on this machine; vLLM
  and SGLang load Hugging Face folders, so for them it must be given.
- `concurrency=N`: requests each upstream runs at once (default: llama-server's slot
  count, SGLang's running-request limit, 256 for vLLM, whose limit is not published).
- `routing=affinity|round-robin`: how requests are spread over the upstreams (with
  `--redis-url`, replicas share what affinity remembers: engine/remote/shared_routes.py).
- `health-interval=SECONDS`: how often each upstream's health is checked (default 5); an
  ejected upstream returns to the pool at the first check it passes.
- `api-key=KEY`: sent to every upstream as `Authorization: Bearer KEY` (llama-server's
  `--api-key`, vLLM's and SGLang's too); put the spec in the config file to keep the key off the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from antiphon.engine.remote.router import RoutingPolicy

UpstreamKind = Literal["llama-server", "vllm", "sglang"]
UPSTREAM_KINDS: tuple[UpstreamKind, ...] = ("llama-server", "vllm", "sglang")
ROUTING_POLICIES: tuple[RoutingPolicy, ...] = ("affinity", "round-robin")


class RemoteSpecError(ValueError):
    """A pool spec that cannot be served; the message says what to change."""


@dataclass(frozen=True)
class RemoteOptions:
    tokenizer: str | None = None
    concurrency: int | None = None
    routing: RoutingPolicy = "affinity"
    health_interval: float = 5.0
    api_key: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """What every call to an upstream carries."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class Upstreams:
    kind: UpstreamKind
    urls: tuple[str, ...]


def remote_kind(location: str) -> UpstreamKind | None:
    kind, colon, _ = location.partition(":")
    return kind if colon and kind in UPSTREAM_KINDS else None


def parse_upstreams(spec: str, location: str) -> Upstreams:
    kind, _, listed = location.partition(":")
    urls = tuple(url.strip().rstrip("/") for url in listed.split(",") if url.strip())
    if not urls:
        raise RemoteSpecError(f"model {spec!r}: list at least one upstream URL after {kind}:")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise RemoteSpecError(
                f"model {spec!r}: upstream {url!r} must be an http:// or https:// URL"
            )
    if len(set(urls)) != len(urls):
        raise RemoteSpecError(f"model {spec!r}: an upstream is listed twice")
    return Upstreams(cast(UpstreamKind, kind), urls)


def take_remote_options(spec: str, texts: list[str]) -> tuple[RemoteOptions, list[str]]:
    """The pool's own options, and the rest (the options every model takes)."""
    found: dict[str, str] = {}
    rest: list[str] = []
    for text in texts:
        name, _, value = text.partition("=")
        name = name.strip().replace("_", "-")
        if name in ("tokenizer", "concurrency", "routing", "health-interval", "api-key"):
            found[name] = value.strip()
        else:
            rest.append(text)
    concurrency = found.get("concurrency")
    if concurrency is not None and not (concurrency.isdigit() and int(concurrency) >= 1):
        raise RemoteSpecError(f"model {spec!r}: concurrency must be a whole number at least 1")
    routing = found.get("routing", "affinity")
    if routing not in ROUTING_POLICIES:
        raise RemoteSpecError(
            f"model {spec!r}: routing must be one of {', '.join(ROUTING_POLICIES)}"
        )
    interval = found.get("health-interval", "5")
    try:
        health_interval = float(interval)
    except ValueError:
        health_interval = 0.0
    if not 0.1 <= health_interval <= 3600:
        raise RemoteSpecError(
            f"model {spec!r}: health-interval must be a number of seconds from 0.1 to 3600"
        )
    options = RemoteOptions(
        found.get("tokenizer") or None,
        int(concurrency) if concurrency is not None else None,
        routing,
        health_interval,
        found.get("api-key") or None,
    )
    return options, rest
