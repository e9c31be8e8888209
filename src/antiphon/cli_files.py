"""`antiphon files upload|list|rm`: the Files API in the terminal, on the store and blob
directory a server uses (no server or key needed; files land in a workspace, the default
one unless `--workspace` says otherwise)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from antiphon.cli_platform import ConfigFile, DatabaseUrl, DataDir, out, run_on_store
from antiphon.config import Settings
from antiphon.ids import rfc3339
from antiphon.services.files import FilesService
from antiphon.services.workspaces import WorkspaceService
from antiphon.store.blobs import CHUNK_BYTES, LocalBlobStore
from antiphon.store.database import Database
from antiphon.store.files import FileStore
from antiphon.store.pages import PageRequest
from antiphon.store.workspaces import WorkspaceStore

files_app = typer.Typer(help="Upload, list and remove files (the Files API).", no_args_is_help=True)
Workspace = Annotated[Optional[str], typer.Option(help="Workspace id (default: the default workspace).")]


async def _context(database: Database, settings: Settings, workspace: str | None) -> tuple[FilesService, str]:
    workspaces = WorkspaceService(WorkspaceStore(database))
    target = await (workspaces.active(workspace) if workspace else workspaces.default())
    return FilesService(FileStore(database), LocalBlobStore(settings.data_dir / "blobs")), target.id


@files_app.command("upload")
def upload(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    workspace: Workspace = None,
    expires_in_seconds: Annotated[Optional[int], typer.Option(help="3600 to 7776000.")] = None,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Upload a file and print its id."""
    async def work(database: Database, settings: Settings) -> str:
        files, workspace_id = await _context(database, settings, workspace)
        upload = files.upload()
        try:
            writer = await upload.open_part("file", path.name)
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    await writer.write(chunk)
            fields = {"expires_in_seconds": [str(expires_in_seconds)]} if expires_in_seconds else {}
            stored = await files.finish(workspace_id, upload, fields)
        except BaseException:
            await upload.discard()
            raise
        return stored.id

    out.print(run_on_store(data_dir, database_url, config, work))


@files_app.command("list")
def list_files(
    workspace: Workspace = None,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """List a workspace's files, newest first."""
    async def work(database: Database, settings: Settings) -> Table:
        files, workspace_id = await _context(database, settings, workspace)
        page = await files.list(workspace_id, PageRequest(1000))
        table = Table("id", "filename", "type", "bytes", "created", "expires")
        for stored in page.rows:
            table.add_row(stored.id, stored.filename, stored.mime_type, str(stored.size_bytes),
                          rfc3339(stored.created_at), rfc3339(stored.expires_at) if stored.expires_at else "")
        return table

    out.print(run_on_store(data_dir, database_url, config, work))


@files_app.command("rm")
def remove(
    file_id: str, workspace: Workspace = None,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Delete a file (its metadata and its bytes)."""
    async def work(database: Database, settings: Settings) -> str:
        files, workspace_id = await _context(database, settings, workspace)
        await files.delete(workspace_id, file_id)
        return f"deleted {file_id}"

    out.print(run_on_store(data_dir, database_url, config, work))
