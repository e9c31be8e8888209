"""The web Console: server-rendered pages over the same services as the Admin API.

`console_routes` is mounted by `http/app.py` when `--console` is on (the default); with it
off, nothing under `/console` exists and `/` is not redirected.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from antiphon.http.console import (
    batches,
    engine,
    files,
    first_admin,
    keys,
    limits,
    signing_in,
    usage,
    workbench,
    workbench_prompts,
    workbench_run,
    workspaces,
)
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
        Route("/console/first-admin", first_admin.first_admin, methods=both),
        Route("/console/keys", keys.list_keys, methods=["GET"]),
        Route("/console/keys", keys.create_key, methods=["POST"]),
        Route("/console/keys/{key_id}", keys.show_key, methods=["GET"]),
        Route("/console/keys/{key_id}", keys.change_key, methods=["POST"]),
        Route("/console/workspaces", workspaces.list_workspaces, methods=["GET"]),
        Route("/console/workspaces", workspaces.create_workspace, methods=["POST"]),
        Route("/console/workspaces/{workspace_id}", workspaces.rename_workspace, methods=["POST"]),
        Route("/console/workspaces/{workspace_id}/archive", workspaces.archive_workspace, methods=["POST"]),
        Route("/console/workspaces/{workspace_id}/limits", limits.show_limits, methods=["GET"]),
        Route("/console/workspaces/{workspace_id}/limits/rate", limits.set_rate_limits, methods=["POST"]),
        Route("/console/workspaces/{workspace_id}/limits/spend", limits.set_spend_limit, methods=["POST"]),
        Route("/console/usage", usage.usage_page, methods=["GET"]),
        Route("/console/batches", batches.list_batches, methods=["GET"]),
        Route("/console/batches/{batch_id}/results", batches.batch_results, methods=["GET"]),
        Route("/console/batches/{batch_id}/cancel", batches.cancel_batch, methods=["POST"]),
        Route("/console/files", files.list_files, methods=["GET"]),
        Route("/console/files/{file_id}/content", files.download_file, methods=["GET"]),
        Route("/console/files/{file_id}/delete", files.delete_file, methods=["POST"]),
        Route("/console/engine", engine.engine_page, methods=["GET"]),
        Route("/console/engine.json", engine.engine_json, methods=["GET"]),
        Route("/console/workbench", workbench.workbench, methods=["GET"]),
        Route("/console/workbench/run", workbench_run.run, methods=["POST"]),
        Route("/console/workbench/code", workbench.code, methods=["POST"]),
        Route("/console/workbench/prompts", workbench_prompts.save_prompt, methods=["POST"]),
        Route("/console/workbench/prompts/{prompt_id}/delete", workbench_prompts.delete_prompt, methods=["POST"]),
        Mount("/console/static", app=StaticFiles(directory=STATIC_DIR), name="console-static"),
    ]
