"""The Workbench, for every role: write a prompt, run it streamed, get its code, save it.

The page is rendered here with what the member may choose from: the served models (the
registry that answers `/v1/models`), the workspaces they may use, their saved prompts.
static/workbench.js builds the Messages request in the browser and sends it to
`/console/workbench/run` (workbench_run: the `/v1/messages` route itself) and to
`/console/workbench/code`, which writes it as Python, TypeScript and curl (workbench_code).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from antiphon.http.console.keys import SHOWN
from antiphon.http.console.pages import PAGE_HEADERS, render
from antiphon.http.console.session import Visit, page
from antiphon.http.console.workbench_code import code_samples
from antiphon.http.console.workbench_prompts import opened_prompt, prompts
from antiphon.http.console.workbench_run import (
    json_visit,
    parse_json_object,
    read_body,
    validated_request,
)
from antiphon.http.routes.admin.views import platform
from antiphon.services.models import ModelRegistry
from antiphon.store.pages import PageRequest

CSP = "Content-Security-Policy"


@page()
async def workbench(request: Request, visit: Visit) -> Response:
    """The Workbench; `?prompt=ID` opens one of the member's saved prompts in it."""
    registry: ModelRegistry = request.app.state.registry
    listed = (await platform(request).workspaces.list(PageRequest(SHOWN), False, True)).rows
    # The default workspace first, where most work happens; then newest first.
    workspaces = sorted((w for w in listed if visit.may_use(w.id)), key=lambda w: not w.is_default)
    prompt_id = request.query_params.get("prompt")
    opened = await opened_prompt(request, visit, prompt_id) if prompt_id else None
    response = render(
        request, "workbench.html", visit,
        models=[model.info for model in registry], workspaces=workspaces,
        saved=await prompts(request).list(visit.user.id), opened=opened,
    )
    # The page's script calls this server (run, code, save): the one thing it adds to the
    # Console's policy, which allows no connections at all.
    response.headers[CSP] = f"{PAGE_HEADERS[CSP]}; connect-src 'self'"
    return response


async def code(request: Request) -> Response:
    """The request as programs: checked as `/v1/messages` would check it, so that code is
    never offered for a request the API would refuse; `stream` is the Workbench's own
    choice, left out (the programs print the whole message)."""
    await json_visit(request)
    body = parse_json_object(await read_body(request))
    body.pop("stream", None)
    validated_request(body)
    samples = code_samples(body, request.app.state.public_url.base(request))
    return JSONResponse(
        {"python": samples.python, "typescript": samples.typescript, "curl": samples.curl},
        headers={"Cache-Control": "no-store"},
    )
