"""The Console's API keys: list, create (the secret shown once), disable, enable, archive.

Through the same services as `/v1/organizations/api_keys`, with the same validation (the
Admin API's request model), so a key made here is the key the API would have made.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest
from antiphon.http.console.pages import render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.routes.admin.views import platform
from antiphon.ids import utc_now
from antiphon.protocol.admin import ApiKeyCreate
from antiphon.services.keys import effective_status
from antiphon.store.pages import PageRequest

SHOWN = 100  # newest first; paging comes with the first installation that has more
_ACTIONS = {"disable": "inactive", "enable": "active", "archive": "archived"}


def first_error(error: ValidationError) -> InvalidRequest:
    detail = error.errors()[0]
    field = ".".join(str(part) for part in detail["loc"]) or "form"
    return InvalidRequest(f"{field}: {detail['msg']}")


async def _listing(request: Request, visit: Visit, status_code: int = 200, **extra: object) -> Response:
    services = platform(request)
    keys = (await services.keys.list(PageRequest(SHOWN), None, None)).rows
    workspaces = (await services.workspaces.list(PageRequest(SHOWN), True, True)).rows
    names = {w.id: w.name for w in workspaces}
    now = utc_now()
    rows = [{"key": key, "status": effective_status(key, now),
             "workspace": names.get(key.workspace_id or "", "—")} for key in keys]
    active = [w for w in workspaces if w.archived_at is None]
    return render(request, "keys.html", visit, status_code, rows=rows, workspaces=active, **extra)


@page(CAN_MANAGE_KEYS)
async def list_keys(request: Request, visit: Visit) -> Response:
    return await _listing(request, visit)


@page(CAN_MANAGE_KEYS)
async def create_key(request: Request, visit: Visit) -> Response:
    """Create the key and show its secret, once: nothing stores it."""
    try:
        body = ApiKeyCreate.model_validate({"name": visit.form.get("name", "").strip(),
                                            "workspace_id": visit.form.get("workspace_id") or None})
    except ValidationError as error:
        return await _listing(request, visit, 400, error=first_error(error).message)
    services = platform(request)
    workspace = await (services.workspaces.active(body.workspace_id) if body.workspace_id
                       else services.workspaces.default())
    key, secret = await services.keys.register("api", body.name, workspace.id)
    return render(request, "key_created.html", visit, 201, key=key, secret=secret, workspace=workspace)


@page(CAN_MANAGE_KEYS)
async def change_key(request: Request, visit: Visit) -> Response:
    """Disable, enable or archive a key (the form's `action`); a disabled key is refused by
    the API within its key cache's lifetime, as after the Admin API's update."""
    status = _ACTIONS.get(visit.form.get("action", ""))
    if status is None:
        raise InvalidRequest("action: must be disable, enable or archive")
    await platform(request).keys.update(request.path_params["key_id"], None, status)  # type: ignore[arg-type]
    return see_other("/console/keys")
