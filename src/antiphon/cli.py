"""The `antiphon` command. Thin: parse flags, load settings, build the server, run it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Optional

import llama_cpp
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from antiphon import __version__
from antiphon.chat.template import ChatTemplate
from antiphon.cli_batches import batches_app
from antiphon.cli_files import files_app
from antiphon.cli_first_start import show_generated_keys
from antiphon.cli_platform import keys_app, usage, workspaces_app
from antiphon.cli_users import users_app
from antiphon.config import Settings, SettingsError, load_settings, settings_help
from antiphon.engine.base import ModelCard
from antiphon.engine.gpu_offload import GpuPlacement, gpu_devices
from antiphon.engine.llamacpp import EngineLimits, LlamaCppEngine
from antiphon.engine.llamacpp_kv import byte_size, bytes_per_cell, kv_cells
from antiphon.engine.llamacpp_model import LlamaModel, init_backend
from antiphon.engine.model_limits import (
    ContextWindow,
    fit_to_budget,
    plan_context_window,
)
from antiphon.engine.model_source import (
    ModelSource,
    ModelSourceError,
    RemoteModelSource,
    resolve_sources,
)
from antiphon.engine.prefix_store import PrefixStore, model_key
from antiphon.errors import AntiphonError
from antiphon.services.bootstrap import Bootstrapped, bootstrap
from antiphon.services.engine_watch import ENGINE_FAILED_EXIT_STATUS
from antiphon.services.models import Alias, ModelRegistry, ServedModel
from antiphon.services.rate_limits import RedisRateLimiter, RedisUnavailable
from antiphon.services.thinking_seal import ThinkingSeal, load_or_create_secret, secret_from_text
from antiphon.store.database import DatabaseUrlError

app = typer.Typer(help="antiphon: a self-hosted Claude API over open-weight models.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(users_app, name="users")
app.add_typer(files_app, name="files")
app.add_typer(batches_app, name="batches")
app.command("usage")(usage)
console = Console(stderr=True, soft_wrap=True)  # never break keys or paths across lines
HELP = settings_help()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"antiphon {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """antiphon: a self-hosted Claude API."""


def _load_model(source: ModelSource, settings: Settings) -> ServedModel:
    layers = settings.gpu_layers if source.gpu_layers is None else source.gpu_layers
    placement = GpuPlacement(layers, settings.split_mode, settings.main_gpu)
    with Progress(
        TextColumn("loading [bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task(source.path.name, total=1.0)
        model, seconds = LlamaModel.load(
            source, lambda fraction: progress.update(task, completed=fraction),
            verbose=settings.log_level == "debug", placement=placement,
        )
    try:
        window, cells = _window_and_budget(model, source, settings)
        card = model.served_card(window, settings.max_output_tokens)
        store = _prefix_store(source, settings, card)
        host_bytes = _prefix_cache_ram(settings)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    devices = gpu_devices()
    limits = EngineLimits(
        context_window=card.context_window, parallel=settings.parallel,
        max_queue=settings.max_queue, batch_tokens=settings.batch_tokens,
        threads=settings.effective_threads, kv_cells=cells,
        repetition_window=settings.repetition_stop, prefix_cache_ram=host_bytes,
        spill_idle=not placement.all_on_gpus(model.layer_count, devices),
    )
    engine = LlamaCppEngine(model, card, limits, store)
    console.print(
        f"loaded [bold]{card.id}[/] ({card.display_name}) from {source.path} in {seconds:.2f}s: "
        f"{placement.describe(model.layer_count, devices)}; {window.describe()}, "
        f"answers up to {card.max_output_tokens} tokens, "
        f"{limits.parallel} parallel sequences, {cells} KV cells "
        f"({cells * bytes_per_cell(model) / 2**20:.0f} MiB), {limits.threads} threads; "
        f"unless a request says otherwise, {card.sampling.describe()}"
    )
    return ServedModel(card, engine, ChatTemplate(card.chat_template, card.bos_text, card.eos_text))


def _load_remote(source: RemoteModelSource, settings: Settings) -> ServedModel:
    from antiphon.engine.remote.assemble import PoolSettings, assemble

    pool = PoolSettings(
        ctx=source.ctx or settings.ctx, max_output_tokens=settings.max_output_tokens,
        max_queue=settings.max_queue, repetition_window=settings.repetition_stop,
        verbose=settings.log_level == "debug", redis_url=settings.redis_url,
    )
    try:
        engine, line = assemble(source, pool)
    except (ValueError, ModelSourceError, RuntimeError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    console.print(line)
    card = engine.card
    return ServedModel(card, engine, ChatTemplate(card.chat_template, card.bos_text, card.eos_text))


def _check_gpus(settings: Settings) -> None:
    """A --main-gpu this machine lacks is an error before any model loads."""
    init_backend(settings.log_level == "debug")
    try:
        GpuPlacement(main_gpu=settings.main_gpu).check(gpu_devices())
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None


def _prefix_cache_ram(settings: Settings) -> int:
    setting = settings.prefix_cache_ram.strip()
    size = 0 if setting == "0" else byte_size(setting)
    if size is None:
        raise ValueError(f"prefix_cache_ram: {setting!r} is not a size such as 4GiB (0: off)")
    return size


def _prefix_store(source: ModelSource, settings: Settings, card: ModelCard) -> PrefixStore | None:
    """The disk tier of this model's prefix cache, in a folder of its own under DATA_DIR (a
    changed model file or RoPE setting gets another folder: never another model's state)."""
    setting = settings.prefix_cache_disk.strip()
    if setting == "0":
        return None
    size = byte_size(setting)
    if size is None:
        raise ValueError(f"prefix_cache_disk: {setting!r} is not a size such as 4GiB (0: off)")
    key = model_key(source.path, {
        "id": card.id, "yarn_factor": card.yarn_factor, "llama_cpp": llama_cpp.__version__,
    })
    return PrefixStore(settings.data_dir / "prefix-cache" / key[:16], size, key)


def _window_and_budget(
    model: LlamaModel, source: ModelSource, settings: Settings
) -> tuple[ContextWindow, int]:
    """The model's window (its own `;ctx=`, else --ctx, else its training context extended
    to --min-ctx) and the KV budget, which a default window must fit in."""
    requested = source.ctx or settings.ctx
    window = plan_context_window(
        model.n_ctx_train, requested, settings.min_ctx, model.rope_scalable
    )
    cells = kv_cells(settings.kv_cache, model, window.tokens, settings.parallel)
    return fit_to_budget(window, cells, exact=requested is not None), cells


def _banner(settings: Settings, registry: ModelRegistry, started: Bootstrapped) -> None:
    console.print(f"\nantiphon {__version__} serving at [bold]{settings.base_url}[/]")
    console.print(f"models: {', '.join(model.card.id for model in registry)} (default: {registry.default.card.id})")
    show_generated_keys(console, settings.data_dir, started)
    console.print(
        f"keys, workspaces and usage are stored in "
        f"{settings.database_url or settings.data_dir / 'antiphon.db'}; "
        "manage them with `antiphon keys` / `antiphon workspaces` or the Admin API"
    )
    console.print(
        f"try: ANTHROPIC_BASE_URL={settings.base_url} ANTHROPIC_API_KEY=<key> "
        "python -c \"import anthropic; print(anthropic.Anthropic().messages.create("
        f"model='{registry.default.card.id}', max_tokens=64, "
        "messages=[{'role':'user','content':'Hello'}]).content[0].text)\"\n"
    )


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help=HELP["host"])] = None,
    port: Annotated[Optional[int], typer.Option(help=HELP["port"])] = None,
    public_url: Annotated[Optional[str], typer.Option(help=HELP["public_url"])] = None,
    read_timeout: Annotated[Optional[float], typer.Option(help=HELP["read_timeout"])] = None,
    model: Annotated[Optional[list[str]], typer.Option(help=HELP["model"])] = None,
    alias: Annotated[Optional[list[str]], typer.Option(help=HELP["alias"])] = None,
    api_key: Annotated[Optional[str], typer.Option(help=HELP["api_key"])] = None,
    admin_key: Annotated[Optional[str], typer.Option(help=HELP["admin_key"])] = None,
    database_url: Annotated[Optional[str], typer.Option(help=HELP["database_url"])] = None,
    redis_url: Annotated[Optional[str], typer.Option(help=HELP["redis_url"])] = None,
    organization_name: Annotated[Optional[str], typer.Option(help=HELP["organization_name"])] = None,
    rate_limit_requests_per_minute: Annotated[
        Optional[int], typer.Option(help=HELP["rate_limit_requests_per_minute"])
    ] = None,
    rate_limit_input_tokens_per_minute: Annotated[
        Optional[int], typer.Option(help=HELP["rate_limit_input_tokens_per_minute"])
    ] = None,
    rate_limit_output_tokens_per_minute: Annotated[
        Optional[int], typer.Option(help=HELP["rate_limit_output_tokens_per_minute"])
    ] = None,
    prices: Annotated[Optional[str], typer.Option(help=HELP["prices"])] = None,
    ctx: Annotated[Optional[int], typer.Option(help=HELP["ctx"])] = None,
    min_ctx: Annotated[Optional[int], typer.Option(help=HELP["min_ctx"])] = None,
    max_output_tokens: Annotated[Optional[int], typer.Option(help=HELP["max_output_tokens"])] = None,
    parallel: Annotated[Optional[int], typer.Option(help=HELP["parallel"])] = None,
    max_queue: Annotated[Optional[int], typer.Option(help=HELP["max_queue"])] = None,
    batch_tokens: Annotated[Optional[int], typer.Option(help=HELP["batch_tokens"])] = None,
    threads: Annotated[Optional[int], typer.Option(help=HELP["threads"])] = None,
    gpu_layers: Annotated[Optional[int], typer.Option(help=HELP["gpu_layers"])] = None,
    split_mode: Annotated[Optional[str], typer.Option(help=HELP["split_mode"])] = None,
    main_gpu: Annotated[Optional[int], typer.Option(help=HELP["main_gpu"])] = None,
    batch_concurrency: Annotated[Optional[int], typer.Option(help=HELP["batch_concurrency"])] = None,
    batch_lease_seconds: Annotated[Optional[float], typer.Option(help=HELP["batch_lease_seconds"])] = None,
    kv_cache: Annotated[Optional[str], typer.Option(help=HELP["kv_cache"])] = None,
    prefix_cache_ram: Annotated[Optional[str], typer.Option(help=HELP["prefix_cache_ram"])] = None,
    prefix_cache_disk: Annotated[Optional[str], typer.Option(help=HELP["prefix_cache_disk"])] = None,
    repetition_stop: Annotated[Optional[int], typer.Option(help=HELP["repetition_stop"])] = None,
    cache_ttl_5m: Annotated[Optional[float], typer.Option(help=HELP["cache_ttl_5m"])] = None,
    cache_ttl_1h: Annotated[Optional[float], typer.Option(help=HELP["cache_ttl_1h"])] = None,
    strict: Annotated[Optional[bool], typer.Option("--strict/--no-strict", help=HELP["strict"])] = None,
    ping_interval: Annotated[Optional[float], typer.Option(help=HELP["ping_interval"])] = None,
    log_level: Annotated[Optional[str], typer.Option(help=HELP["log_level"])] = None,
    on_engine_failure: Annotated[Optional[str], typer.Option(help=HELP["on_engine_failure"])] = None,
    redact_thinking: Annotated[
        Optional[bool], typer.Option("--redact-thinking/--no-redact-thinking", help=HELP["redact_thinking"])
    ] = None,
    web_fetch: Annotated[
        Optional[bool], typer.Option("--web-fetch/--no-web-fetch", help=HELP["web_fetch"])
    ] = None,
    web_fetch_allow: Annotated[Optional[list[str]], typer.Option(help=HELP["web_fetch_allow"])] = None,
    code_execution: Annotated[
        Optional[bool], typer.Option("--code-execution/--no-code-execution", help=HELP["code_execution"])
    ] = None,
    container_idle_timeout: Annotated[
        Optional[float], typer.Option(help=HELP["container_idle_timeout"])
    ] = None,
    web_console: Annotated[  # not `console`: that is the terminal this module prints to
        Optional[bool], typer.Option("--console/--no-console", help=HELP["console"])
    ] = None,
    web_fetch_max_bytes: Annotated[Optional[int], typer.Option(help=HELP["web_fetch_max_bytes"])] = None,
    web_fetch_timeout: Annotated[Optional[float], typer.Option(help=HELP["web_fetch_timeout"])] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help=HELP["data_dir"])] = None,
    secret: Annotated[Optional[str], typer.Option(help=HELP["secret"])] = None,
    config: Annotated[
        Optional[Path], typer.Option(help="TOML file with settings (also ANTIPHON_CONFIG).")
    ] = None,
) -> None:
    """Serve the Claude API on the given models (default: the embedded SmolLM2-135M)."""
    flags = _given_settings(locals())  # first: locals() holds just the options yet
    try:
        settings = load_settings(flags, config)
        sources = resolve_sources(settings.model)
        secret_bytes = server_secret(settings)
        seal = ThinkingSeal(secret_bytes)
    except (SettingsError, ModelSourceError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    started = _bootstrap(settings)
    _check_redis(settings)
    _check_gpus(settings)
    served = [
        _load_remote(source, settings) if isinstance(source, RemoteModelSource)
        else _load_model(source, settings)
        for source in sources
    ]
    try:
        registry = ModelRegistry(served, [Alias.parse(spec) for spec in settings.alias])
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    _banner(settings, registry, started)

    import uvicorn

    from antiphon.http.app import create_app
    from antiphon.http.guarded_protocol import MAX_HEAD_BYTES, guarded_protocol

    def shut_down() -> None:  # as on SIGTERM: stop taking connections, drain, then return
        server.should_exit = True

    app = create_app(settings, registry, started.organization_id, seal, shut_down, secret_bytes)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port,
        log_level=settings.log_level, timeout_graceful_shutdown=5,
        http=guarded_protocol(MAX_HEAD_BYTES, settings.read_timeout),
    ))
    server.run()
    if any(served.engine.failure is not None for served in registry):
        raise typer.Exit(ENGINE_FAILED_EXIT_STATUS)  # for the supervisor: restart, not done


_RENAMED_OPTIONS = {"web_console": "console"}  # `console` is the terminal this module prints to


def _given_settings(options: dict[str, object]) -> dict[str, object]:
    """`serve`'s options by setting name (None where not given, lists as tuples), for
    load_settings to lay over the config file and the environment."""
    return {
        _RENAMED_OPTIONS.get(name, name): tuple(value) if isinstance(value, list) else value
        for name, value in options.items() if name != "config"
    }


def _bootstrap(settings: Settings) -> Bootstrapped:
    """Migrate the store and create the first rows; a store that cannot be used stops here."""
    try:
        return asyncio.run(bootstrap(settings))
    except (DatabaseUrlError, ValueError, OSError, SQLAlchemyError, AntiphonError) as error:
        console.print(f"[red]error:[/] the platform store cannot be used: {error}")
        raise typer.Exit(2) from None


def _check_redis(settings: Settings) -> None:
    """Fail before loading models, with the reason, if the configured Redis cannot be used."""
    if settings.redis_url is None:
        return

    async def ping() -> None:
        limiter = await RedisRateLimiter.connect(settings.redis_url or "")
        await limiter.close()

    try:
        asyncio.run(ping())
    except (RedisUnavailable, ValueError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None


def server_secret(settings: Settings) -> bytes:
    """The configured secret, or the one generated on first start and kept in the data dir."""
    if settings.secret is not None:
        return secret_from_text(settings.secret)
    return load_or_create_secret(settings.data_dir / "secret")


if __name__ == "__main__":
    app()
