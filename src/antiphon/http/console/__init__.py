"""The web Console: server-rendered pages over the same services as the Admin API.

`console_routes` is mounted by `http/app.py` when `--console` is on (the default); with it
off, nothing under `/console` exists and `/` is not redirected.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from antiphon.http.console import keys, signing_in, workspaces
from antiphon.http.console.pages import STATIC_DIR


def console_routes() -> list[BaseRoute]:
    both = ["GET", "POST"]
    return [
        Route("/", signing_in.to_console, methods=["GET"]),
        Route("/console", signing_in.to_console, methods=["GET"]),
        Route("/console/", signing_in.home, methods=["GET"]),
        Route("/console/sign-in", signing_in.sign_in, methods=both),
        Route("/console/sign-out", signing_in.sign_out, methods=["POST"]),
        Route("/console/invite", signing_in.accept_invite, methods=both),
        Route("/console/keys", keys.list_keys, methods=["GET"]),
        Route("/console/keys", keys.create_key, methods=["POST"]),
        Route("/console/keys/{key_id}", keys.change_key, methods=["POST"]),
        Route("/console/workspaces", workspaces.list_workspaces, methods=["GET"]),
        Route("/console/workspaces", workspaces.create_workspace, methods=["POST"]),
        Route("/console/workspaces/{workspace_id}/archive", workspaces.archive_workspace, methods=["POST"]),
        Mount("/console/static", app=StaticFiles(directory=STATIC_DIR), name="console-static"),
    ]
