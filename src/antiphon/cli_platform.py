"""`antiphon keys …`, `antiphon workspaces …` and `antiphon usage`: the Admin API's core in
the terminal. They work on the store directly (the same settings as `serve`), so they need
no running server and no admin key; a server sees their changes within seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from antiphon.config import Settings, SettingsError, load_settings
from antiphon.errors import AntiphonError
from antiphon.ids import rfc3339, utc_now
from antiphon.services.keys import KeyService, KeyStatus, effective_status
from antiphon.services.pricing import PriceTable
from antiphon.services.workspaces import WorkspaceService
from antiphon.store.api_keys import ApiKeyStore
from antiphon.store.database import Database, async_url
from antiphon.store.pages import PageRequest
from antiphon.store.usage import GROUPABLE, UsageQuery, UsageStore
from antiphon.store.workspaces import WorkspaceStore

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
workspaces_app = typer.Typer(help="Create, list and archive workspaces.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
Result = TypeVar("Result")

DataDir = Annotated[Optional[Path], typer.Option(help="The server's data directory (SQLite).")]
DatabaseUrl = Annotated[Optional[str], typer.Option(help="The server's --database-url.")]
ConfigFile = Annotated[Optional[Path], typer.Option(help="The server's TOML config file.")]


def run_on_store(
    data_dir: Path | None, database_url: str | None, config: Path | None,
    work: Callable[[Database, Settings], Awaitable[Result]],
) -> Result:
    """Run `work` on the server's store (the settings `serve` would use), turning errors into
    a message and an exit code."""
    try:
        settings = load_settings({"data_dir": data_dir, "database_url": database_url}, config)
        url = async_url(settings.database_url, settings.data_dir)
    except (SettingsError, ValueError) as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None

    async def session() -> Result:
        database = await Database.open(url)
        try:
            async with database.exclusive():  # a store the server has not started on yet
                workspaces = WorkspaceService(WorkspaceStore(database))
                await workspaces.ensure_organization(settings.organization_name)
                await workspaces.ensure_default()
            return await work(database, settings)
        finally:
            await database.close()

    try:
        return asyncio.run(session())
    except AntiphonError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(1) from None
    except (SQLAlchemyError, OSError) as error:
        err.print(f"[red]error:[/] the store at {settings.database_url or settings.data_dir} "
                  f"cannot be used: {error}")
        raise typer.Exit(2) from None


@keys_app.command("create")
def keys_create(
    name: str,
    workspace: Annotated[Optional[str], typer.Option(help="Workspace id (default: the default workspace).")] = None,
    expires_in_days: Annotated[Optional[int], typer.Option(min=1, help="Days until it expires.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key (Admin API only), e.g. to replace a lost one.")] = False,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Create an API key (or with --admin an admin key) and print its secret, shown this once."""
    if admin and workspace:
        raise typer.BadParameter("admin keys belong to the organisation, not to a workspace")

    async def work(database: Database, _: Settings) -> str:
        keys = KeyService(ApiKeyStore(database))
        expires = utc_now() + timedelta(days=expires_in_days) if expires_in_days else None
        if admin:
            key, secret = await keys.register("admin", name, None, expires_at=expires)
            err.print(f"created admin key {key.id}; the secret is shown once:")
            return secret
        workspaces = WorkspaceService(WorkspaceStore(database))
        target = await (workspaces.active(workspace) if workspace else workspaces.default())
        key, secret = await keys.register("api", name, target.id, expires_at=expires)
        err.print(f"created {key.id} in workspace {target.id}; the secret is shown once:")
        return secret

    out.print(run_on_store(data_dir, database_url, config, work))


@keys_app.command("list")
def keys_list(
    workspace: Annotated[Optional[str], typer.Option(help="Only this workspace's keys.")] = None,
    status: Annotated[Optional[str], typer.Option(help="active, inactive, archived or expired.")] = None,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """List API keys (never their secrets)."""
    async def work(database: Database, _: Settings) -> Table:
        page = await KeyService(ApiKeyStore(database)).list(PageRequest(1000), workspace, status)  # type: ignore[arg-type]
        table = Table("id", "name", "status", "workspace", "hint", "created", "expires")
        now = utc_now()
        for key in page.rows:
            table.add_row(key.id, key.name, effective_status(key, now), key.workspace_id or "",
                          key.partial_key_hint, rfc3339(key.created_at),
                          rfc3339(key.expires_at) if key.expires_at else "")
        return table

    out.print(run_on_store(data_dir, database_url, config, work))


@keys_app.command("revoke")
def keys_revoke(
    key_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Archive an API key: it stops working for good (servers notice within seconds)."""
    archived: KeyStatus = "archived"

    async def work(database: Database, _: Settings) -> str:
        key = await KeyService(ApiKeyStore(database)).update(key_id, None, archived)
        return f"revoked {key.id} ({key.name})"

    out.print(run_on_store(data_dir, database_url, config, work))


@workspaces_app.command("create")
def workspaces_create(
    name: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Create a workspace and print its id."""
    async def work(database: Database, _: Settings) -> str:
        if not 1 <= len(name) <= 40:
            raise typer.BadParameter("a workspace name has 1 to 40 characters")
        return (await WorkspaceService(WorkspaceStore(database)).create(name, None, None)).id

    out.print(run_on_store(data_dir, database_url, config, work))


@workspaces_app.command("list")
def workspaces_list(
    archived: Annotated[bool, typer.Option("--archived", help="Include archived workspaces.")] = False,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """List workspaces, the default one included."""
    async def work(database: Database, _: Settings) -> Table:
        page = await WorkspaceService(WorkspaceStore(database)).list(PageRequest(1000), archived, True)
        table = Table("id", "name", "created", "archived")
        for workspace in page.rows:
            label = f"{workspace.name} (default)" if workspace.is_default else workspace.name
            table.add_row(workspace.id, label, rfc3339(workspace.created_at),
                          rfc3339(workspace.archived_at) if workspace.archived_at else "")
        return table

    out.print(run_on_store(data_dir, database_url, config, work))


@workspaces_app.command("archive")
def workspaces_archive(
    workspace_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Archive a workspace and its keys."""
    async def work(database: Database, _: Settings) -> str:
        workspace = await WorkspaceService(WorkspaceStore(database)).archive(workspace_id)
        return f"archived {workspace.id} ({workspace.name}) and its keys"

    out.print(run_on_store(data_dir, database_url, config, work))


def usage(
    days: Annotated[int, typer.Option(min=1, max=31, help="Days to show, today included.")] = 7,
    by: Annotated[str, typer.Option(help="Break down by model, workspace_id, api_key_id or service_tier.")] = "model",
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Token usage and cost per day (UTC), as a table."""
    if by not in GROUPABLE:
        raise typer.BadParameter(f"--by: not one of {', '.join(GROUPABLE)}: {by!r}")
    today = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    start = int((today - timedelta(days=days - 1)).timestamp() // 60)
    # Grouped by model and tier as well, because prices depend on them.
    query = UsageQuery(start, int(utc_now().timestamp() // 60) + 1, 1440,
                       tuple(dict.fromkeys((by, "model", "service_tier"))))

    async def work(database: Database, settings: Settings) -> Table:
        prices = PriceTable(settings.prices)
        rows: dict[tuple[int, str], list[float]] = {}
        for found in await UsageStore(database).sums(query):
            tokens = found.tokens
            totals = rows.setdefault((found.bucket, found.groups[by] or ""), [0.0] * 5)
            written = tokens["cache_creation_5m_tokens"] + tokens["cache_creation_1h_tokens"]
            for i, value in enumerate((tokens["uncached_input_tokens"], written,
                                       tokens["cache_read_tokens"], tokens["output_tokens"])):
                totals[i] += value
            totals[4] += prices.total_cents(found.groups["model"] or "",
                                            found.groups["service_tier"] or "standard", tokens)
        table = Table("day (UTC)", by, "input", "cache write", "cache read", "output", "cost $")
        for (bucket, label), totals in sorted(rows.items()):
            day = datetime.fromtimestamp(bucket * 86400, UTC).date().isoformat()
            table.add_row(day, label, *(f"{int(v)}" for v in totals[:4]), f"{totals[4] / 100:.4f}")
        return table

    out.print(run_on_store(data_dir, database_url, config, work))
