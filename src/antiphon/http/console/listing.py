"""What the Console's batches and files pages share: the workspace being looked at, picked
among those the member may use, and links to the pages before and after this one.

Batches and files belong to one workspace each, and their services list, read and change
them one workspace at a time (as the API does with a key's workspace). The pages do the
same: the member picks a workspace, and each call to the service names it, so a page can
only reach what the API would reach with a key of that workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from antiphon.errors import NotFound
from antiphon.http.console.session import Visit
from antiphon.http.query import next_page
from antiphon.http.routes.admin.views import platform
from antiphon.store.pages import PageRequest
from antiphon.store.tables import Workspace

ALL_WORKSPACES = PageRequest(1000)  # the picker's choices; far more than one organisation has


@dataclass(frozen=True)
class Choice:
    """The workspaces this member may use, and the one picked (None: they may use none)."""

    workspaces: list[Workspace]
    picked: Workspace | None


async def usable_workspace(request: Request, visit: Visit, workspace_id: str | None) -> Workspace:
    """`workspace_id`, if this member may use it; one they may not use is reported exactly
    as an unknown one (404), as the API reports another workspace's objects."""
    if workspace_id and visit.may_use(workspace_id):
        return await platform(request).workspaces.get(workspace_id)
    raise NotFound(f"workspace: no workspace with id {workspace_id!r}")


async def pick_workspace(request: Request, visit: Visit) -> Choice:
    """The `workspace` query parameter's workspace (checked), or by default the default
    workspace when this member may use it, else the first they may use."""
    services = platform(request)
    every = (await services.workspaces.list(ALL_WORKSPACES, True, True)).rows
    usable = [workspace for workspace in every if visit.may_use(workspace.id)]
    asked = request.query_params.get("workspace")
    if asked is not None:
        return Choice(usable, await usable_workspace(request, visit, asked))
    default = next((workspace for workspace in usable if workspace.is_default), None)
    return Choice(usable, default or (usable[0] if usable else None))


@dataclass(frozen=True)
class PageLinks:
    """Query strings of the neighbouring pages (None where there is none)."""

    newer: str | None
    older: str | None


def page_links(workspace_id: str, asked: PageRequest, has_more: bool, ids: list[str]) -> PageLinks:
    """The API's own cursors: `page=page_<last id>` for older rows, `before_id=<first id>`
    for newer ones. `has_more` says whether rows lie beyond the page in the direction asked."""
    def link(**cursor: str) -> str:
        limit = {} if asked.limit == PageRequest().limit else {"limit": str(asked.limit)}
        return "?" + urlencode({"workspace": workspace_id, **cursor, **limit})

    if not ids:
        return PageLinks(None, None)
    going_newer = asked.before_id is not None
    more_newer = has_more if going_newer else asked.after_id is not None
    more_older = True if going_newer else has_more
    following = next_page(more_older, ids[-1])
    return PageLinks(link(before_id=ids[0]) if more_newer else None,
                     link(page=following) if following else None)

