"""`antiphon batches create FILE.jsonl` and `antiphon batches list`: Message Batches in the
terminal. Unlike `keys` or `files`, these talk to a running server over HTTP, since the
server's engine runs the requests; they use the API as any client would.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from antiphon.cli_platform import err, out
from antiphon.protocol.batches import PROGRESS_HEADER

batches_app = typer.Typer(help="Submit Message Batches and follow them (needs a running server).",
                          no_args_is_help=True)
BaseUrl = Annotated[Optional[str], typer.Option(
    help="The server (env ANTHROPIC_BASE_URL; default http://127.0.0.1:8080).")]
ApiKey = Annotated[Optional[str], typer.Option(help="An API key (env ANTHROPIC_API_KEY).")]


def _client(base_url: str | None, api_key: str | None) -> httpx.Client:
    key = api_key or os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        err.print("[red]error:[/] give --api-key or set ANTHROPIC_API_KEY")
        raise typer.Exit(2)
    url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or "http://127.0.0.1:8080"
    return httpx.Client(base_url=url, timeout=httpx.Timeout(60, read=600), headers={
        "x-api-key": key, "anthropic-version": "2023-06-01"})


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:500]
    err.print(f"[red]error:[/] {response.status_code}: {message}")
    raise typer.Exit(1)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return _checked(client.request(method, path, **kwargs))
    except httpx.TransportError as error:
        err.print(f"[red]error:[/] cannot reach {client.base_url}: {error}")
        raise typer.Exit(1) from None


def read_requests(path: Path) -> list[dict[str, Any]]:
    """One `{"custom_id", "params"}` object a line; blank lines are skipped."""
    requests = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                err.print(f"[red]error:[/] {path}:{number}: not JSON: {error}")
                raise typer.Exit(2) from None
            if not isinstance(item, dict) or "custom_id" not in item or "params" not in item:
                err.print(f'[red]error:[/] {path}:{number}: expected {{"custom_id": …, "params": {{…}}}}')
                raise typer.Exit(2)
            requests.append(item)
    if not requests:
        err.print(f"[red]error:[/] {path} holds no requests")
        raise typer.Exit(2)
    return requests


def _follow(client: httpx.Client, batch_id: str, total: int, poll_seconds: float) -> dict[str, Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(batch_id, total=total)
        while True:
            response = _call(client, "GET", f"/v1/messages/batches/{batch_id}")
            batch: dict[str, Any] = response.json()
            progress.update(task, completed=int(response.headers.get(PROGRESS_HEADER, 0)),
                            description=f"{batch_id} {batch['processing_status']}")
            if batch["processing_status"] == "ended":
                return batch
            time.sleep(poll_seconds)


@batches_app.command("create")
def create(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="JSONL: one {\"custom_id\", \"params\"} a line.")],
    output: Annotated[Optional[Path], typer.Option(help="Where the results go (default: FILE.results.jsonl).")] = None,
    poll_seconds: Annotated[float, typer.Option(help="How often to ask for progress.")] = 1.0,
    base_url: BaseUrl = None, api_key: ApiKey = None,
) -> None:
    """Submit a batch, show its progress until it ends, and write its results."""
    requests = read_requests(path)
    target = output or path.with_name(path.stem + ".results.jsonl")
    with _client(base_url, api_key) as client:
        batch = _call(client, "POST", "/v1/messages/batches", json={"requests": requests}).json()
        err.print(f"submitted {batch['id']} ({len(requests)} requests)")
        try:
            batch = _follow(client, batch["id"], len(requests), poll_seconds)
        except KeyboardInterrupt:
            err.print(f"stopped following; {batch['id']} goes on running on the server")
            raise typer.Exit(130) from None
        with client.stream("GET", batch["results_url"]) as response, target.open("wb") as handle:
            _checked(response)
            for chunk in response.iter_bytes():
                handle.write(chunk)
    counts = ", ".join(f"{count} {state}" for state, count in batch["request_counts"].items() if count)
    out.print(f"{batch['id']} ended: {counts}; results in {target}")


@batches_app.command("list")
def list_batches(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    base_url: BaseUrl = None, api_key: ApiKey = None,
) -> None:
    """List the key's workspace's batches, newest first."""
    with _client(base_url, api_key) as client:
        page = _call(client, "GET", "/v1/messages/batches", params={"limit": limit}).json()
    table = Table()
    table.add_column("id", no_wrap=True)  # never cut: people copy it
    for heading in ("status", "requests", "created (UTC)"):
        table.add_column(heading)
    for batch in page["data"]:
        counts = batch["request_counts"]
        summary = ", ".join(f"{count} {state}" for state, count in counts.items() if count) or "0"
        table.add_row(batch["id"], batch["processing_status"], summary,
                      batch["created_at"][:16].replace("T", " "))
    out.print(table)
