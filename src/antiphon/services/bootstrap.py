"""First start: the organisation, the default workspace, and keys to get in with.

Runs before the server starts (in its own event loop, on its own connections). A secret
given in settings is registered (hashed) if it is new; with none given and none stored, a
key is generated and returned so that the CLI can print it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.config import Settings
from antiphon.services.keys import KeyKind, KeyService
from antiphon.services.workspaces import WorkspaceService
from antiphon.store.api_keys import ApiKeyStore
from antiphon.store.database import Database, async_url
from antiphon.store.workspaces import WorkspaceStore


@dataclass(frozen=True)
class Bootstrapped:
    organization_id: str
    default_workspace_id: str
    generated_api_key: str | None  # shown once, then only its hash exists
    generated_admin_key: str | None


async def bootstrap(settings: Settings) -> Bootstrapped:
    database = await Database.open(async_url(settings.database_url, settings.data_dir))
    try:
        async with database.exclusive():
            return await _first_rows(settings, database)
    finally:
        await database.close()


async def _first_rows(settings: Settings, database: Database) -> Bootstrapped:
    workspaces = WorkspaceService(WorkspaceStore(database))
    keys = KeyService(ApiKeyStore(database))
    organization = await workspaces.ensure_organization(settings.organization_name)
    default = await workspaces.ensure_default()
    configured: dict[KeyKind, str | None] = {"api": settings.api_key, "admin": settings.admin_key}
    generated: dict[KeyKind, str | None] = {"api": None, "admin": None}
    for kind, secret in configured.items():
        workspace = default.id if kind == "api" else None
        if secret is not None:
            await keys.ensure(kind, f"configured {kind} key", workspace, secret)
        elif not await keys.has_any(kind):
            _, generated[kind] = await keys.register(kind, f"first {kind} key", workspace)
    return Bootstrapped(organization.id, default.id, generated["api"], generated["admin"])
