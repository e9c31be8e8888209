"""Settings: defaults < config file (TOML) < ANTIPHON_* environment < command-line flags.

Read once at start-up into a frozen `Settings`; nothing changes them afterwards. Every setting
has one name: the field name is the TOML key, `ANTIPHON_<NAME>` is the variable and
`--<name>` (dashes for underscores) is the flag.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from antiphon.engine.base import SplitMode

ENV_PREFIX = "ANTIPHON_"
LogLevel = Literal["debug", "info", "warning", "error"]
EngineFailurePolicy = Literal["exit", "serve"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "antiphon"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message says which and why."""


class ModelPrice(BaseModel):
    """US dollars per million tokens, by token type (the hosted API's price sheet shape)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cache_write_5m: float = Field(default=0.0, ge=0)
    cache_write_1h: float = Field(default=0.0, ge=0)
    cache_read: float = Field(default=0.0, ge=0)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    read_timeout: float = Field(
        30.0, gt=0, description="Seconds a client may take to send a request's headers, or "
        "between pieces of its body, before it is answered 408 and disconnected.",
    )
    public_url: str | None = Field(
        None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The URL clients reach this server at (behind a proxy: the proxy's), for "
        "URLs in answers such as a batch's results_url. None: the request's Host when it "
        "names this machine, else the listening address.",
    )
    model: tuple[str, ...] = Field(
        (),
        description="Model to serve: a .gguf path, hf:OWNER/REPO/FILE.gguf or KIND:URL,URL… (a "
        "pool of llama-server, vllm or sglang upstreams), optionally as ID=…. Repeatable; the "
        "first is the default. None: the embedded SmolLM2-135M-Instruct.",
    )
    alias: tuple[str, ...] = Field(
        ("claude-*",),
        description="Model names to accept as PATTERN[=MODEL_ID] (shell-style patterns); "
        "without =MODEL_ID the default model serves them.",
    )
    api_key: str | None = Field(
        None, description="An API key (for the default workspace) to register, hashed, "
        "beside the stored ones. None: on first start one is generated and printed once.",
    )
    admin_key: str | None = Field(
        None, description="An admin key (Admin API only) to register, hashed. None: on first "
        "start one is generated and printed once.",
    )
    database_url: str | None = Field(
        None, description="Where keys, workspaces and usage are stored: sqlite:///PATH or "
        "postgresql://USER@HOST/DB. None: SQLite in DATA_DIR/antiphon.db.",
    )
    redis_url: str | None = Field(
        None, description="Redis shared by replicas, for rate-limit buckets and for which "
        "upstream of a remote pool was sent which prompt prefix, e.g. "
        "redis://127.0.0.1:6379/0. None: both kept in this process.",
    )
    organization_name: str = Field(
        "antiphon", min_length=1, description="The organisation's name, set on first start."
    )
    rate_limit_requests_per_minute: int | None = Field(
        None, ge=1, description="Organisation-wide requests per minute. None: unlimited."
    )
    rate_limit_input_tokens_per_minute: int | None = Field(
        None, ge=1, description="Organisation-wide input tokens per minute. None: unlimited."
    )
    rate_limit_output_tokens_per_minute: int | None = Field(
        None, ge=1, description="Organisation-wide output tokens per minute. None: unlimited."
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="USD per million tokens by model id (\"*\": any other model) for cost "
        "reports and spend limits: a TOML table, or JSON in the environment. None: free.",
    )
    ctx: int | None = Field(
        None, ge=256, description="Context window per sequence, in tokens, exactly (default: "
        "the model's training context, extended to MIN_CTX). Past the training context, "
        "positions are scaled with YaRN.",
    )
    min_ctx: int = Field(
        32768, ge=0, description="Without --ctx, a model trained on a shorter context is "
        "extended to this many tokens with YaRN RoPE scaling (0: never extend). Agents such "
        "as Claude Code send ~12,000 tokens before the first question.",
    )
    max_output_tokens: int | None = Field(
        None, ge=1, description="Most tokens one answer may have, for every model without its "
        "own `;max-output-tokens=N` (default: 4096 for the embedded model, else a quarter of "
        "the window within 4096-32768). Larger max_tokens are clamped (--strict: 400).",
    )
    parallel: int = Field(4, ge=1, le=256, description="Sequences decoded together per step.")
    max_queue: int = Field(
        64, ge=0, description="Requests that may wait for a free sequence; beyond: 529."
    )
    batch_tokens: int = Field(
        512, ge=32, description="Most tokens in one decode step (prompt chunks + next tokens)."
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads for llama.cpp (default: all cores)."
    )
    gpu_layers: int = Field(
        -1, ge=-1, description="Layers of each model to offload to GPUs (-1: every layer; "
        "0: none). Their KV cache goes with them. A CPU-only build of llama.cpp offloads "
        "nothing.",
    )
    split_mode: SplitMode = Field(
        "layer", description="How several GPUs share a model: layer (whole layers, by free "
        "memory), row (each matrix split by rows) or none (MAIN_GPU only).",
    )
    main_gpu: int = Field(
        0, ge=0, description="The GPU that holds a model with --split-mode none, and what "
        "row splitting does not split.",
    )
    batch_concurrency: int | None = Field(
        None, ge=1, description="Message Batch requests this server runs at once, below "
        "interactive traffic (default: a quarter of PARALLEL, at least 1: see BENCHMARKS.md).",
    )
    batch_lease_seconds: float = Field(
        30.0, ge=1, description="Seconds a replica holds a batch request without renewing; "
        "a request whose replica died runs again elsewhere after this.",
    )
    repetition_stop: int = Field(
        256, ge=0, description="An answer whose last N tokens repeat one block of at most N/4 "
        "tokens, verbatim or with only its numbers changing (a degenerate loop), ends there "
        "with end_turn instead of running to its output limit; not inside thinking or a tool "
        "call. 0: never.",
    )
    prefix_cache_ram: str = Field(
        "4GiB",
        description="Host memory (per model) for the KV state of cached prefixes no running "
        "request uses: they leave the KV pool (where every decode step would attend over them) and "
        "are copied back when a prompt starts with them (a size such as 4GiB; 0: off, idle "
        "prefixes then stay in the pool until it needs room).",
    )
    prefix_cache_disk: str = Field(
        "4GiB",
        description="Disk kept in DATA_DIR/prefix-cache for the KV state of prompt-caching "
        "prefixes of 1024+ tokens, so that a restarted server restores them instead of "
        "prefilling them again (a size such as 4GiB; 0: off).",
    )
    kv_cache: str | None = Field(
        None,
        description="KV cache budget shared by running sequences and the prefix cache: a "
        "token count or a size such as 2GiB; it bounds the memory a model's context takes "
        "(default: one window, and at least 8192 tokens per parallel sequence up to a "
        "window each). Without --ctx, a budget below the window shortens the window to it.",
    )
    cache_ttl_5m: float = Field(
        300.0, gt=0, description="Seconds a `ttl: \"5m\"` cache breakpoint stays pinned after "
        "each write or read.",
    )
    cache_ttl_1h: float = Field(
        3600.0, gt=0, description="Seconds a `ttl: \"1h\"` cache breakpoint stays pinned after "
        "each write or read.",
    )
    strict: bool = Field(
        False, description="Reject max_tokens beyond the model's output limit or what the "
        "context leaves (400) instead of clamping it."
    )
    ping_interval: float = Field(
        10.0, gt=0, description="Seconds of silence after which a stream sends `ping`."
    )
    log_level: LogLevel = Field("info", description="Log verbosity.")
    on_engine_failure: EngineFailurePolicy = Field(
        "exit",
        description="When a model's engine thread dies: `exit` shuts the server down "
        "gracefully with exit status 3, for a supervisor to restart it; `serve` keeps "
        "serving the other models and the platform, with /health answering 503.",
    )
    web_fetch: bool = Field(
        True,
        description="Run the web fetch server tool (`web_fetch_*`); off: requests declaring "
        "it get a 400.",
    )
    web_fetch_allow: tuple[str, ...] = Field(
        (),
        description="Hosts, `*.domain` wildcards, IPs or CIDRs that web fetch may reach although "
        "they are loopback, private or link-local (an intranet); everything else of that kind "
        "is refused.",
    )
    web_fetch_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest web page or PDF web fetch reads (bytes)."
    )
    web_fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds one web fetch may take, redirects included."
    )
    code_execution: bool = Field(
        True,
        description="Run the code execution server tool (`code_execution_*`) in bubblewrap "
        "sandboxes (needs root and bubblewrap; otherwise it stays off and says why).",
    )
    container_idle_timeout: float = Field(
        3600.0, gt=0,
        description="Seconds a code execution container is kept after its last use.",
    )
    console: bool = Field(
        True,
        description="Serve the web Console at /console (sign-in, API keys, workspaces); the "
        "API is the same either way.",
    )
    redact_thinking: bool = Field(
        False,
        description="Return thinking only as redacted_thinking blocks (encrypted; clients "
        "can send them back, nobody can read them).",
    )
    data_dir: Path = Field(
        default_factory=lambda: _default_data_dir(),
        description="Directory for the server's own state: the SQLite database and the "
        "thinking-signature secret.",
    )
    secret: str | None = Field(
        None,
        description="Secret (16+ characters) that signs thinking blocks; give replicas the "
        "same one. None: generated once and kept in DATA_DIR/secret.",
    )

    @field_validator("model", "alias", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        # Environment variables carry lists as comma-separated text.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON: {error}") from None
        return value

    @property
    def effective_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    @property
    def effective_batch_concurrency(self) -> int:
        return self.batch_concurrency or max(1, self.parallel // 4)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def settings_help() -> dict[str, str]:
    """Each setting's description with its variable and default, for `--help`."""
    described: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "data_dir":
            default = "$XDG_DATA_HOME/antiphon or ~/.local/share/antiphon"
        elif field.default_factory is not None:
            default = None
        if isinstance(default, tuple):
            default = ", ".join(default) or None
        if isinstance(default, bool):
            default = str(default).lower()
        shown = "none" if default is None else default
        # Parentheses, not brackets: typer renders help through rich, which eats [markup].
        described[name] = f"{field.description} (env {ENV_PREFIX}{name.upper()}; default: {shown})"
    return described


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
    return values


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def load_settings(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source in order of precedence; `flags` holds only flags actually given."""
    environ = os.environ if environ is None else environ
    config_path = config_file or (
        Path(environ[ENV_PREFIX + "CONFIG"]) if environ.get(ENV_PREFIX + "CONFIG") else None
    )
    merged: dict[str, Any] = {}
    if config_path is not None:
        merged.update(_from_file(config_path))
    merged.update(_from_environment(environ))
    merged.update({key: value for key, value in (flags or {}).items() if value is not None})
    try:
        # Environment and file values arrive as text; pydantic's lax mode converts them.
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
