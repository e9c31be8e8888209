"""Rate limits: the organisation's (from settings, read-only here) and each workspace's own.

antiphon has one rate-limit group, every served model; its limiter types are requests,
input tokens and output tokens per minute. Shapes follow the SDK's
`organization.rate_limits` and `organization.workspaces.rate_limits`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest, NotFound
from antiphon.http.body import read_model
from antiphon.http.query import boolean
from antiphon.http.responses import json_response
from antiphon.http.routes.admin.views import platform
from antiphon.protocol.admin import (
    CursorPage,
    LimitSource,
    OrganizationLimitValue,
    OrganizationRateLimit,
    RateLimitGroup,
    RateLimitUpdate,
    WorkspaceLimitValue,
    WorkspaceRateLimit,
)
from antiphon.services.limit_policy import LIMIT_TYPES

RATE_LIMIT_ID = "rl_antiphon_models"
GROUP = RateLimitGroup(id="rlg_antiphon_models", display_name="All served models")
_GROUP_TYPES = ("batch", "files", "model_group", "skills", "token_count", "web_search")


def _group_type(request: Request) -> str | None:
    wanted = request.query_params.get("group_type")
    if wanted is not None and wanted not in _GROUP_TYPES:
        raise InvalidRequest(f"group_type: must be one of {', '.join(_GROUP_TYPES)}, got {wanted!r}")
    return wanted


async def list_organization_limits(request: Request) -> Response:
    services = platform(request)
    model = request.query_params.get("model")
    models = [served.card.id for served in request.app.state.registry]
    if model is not None and model not in models:
        raise NotFound(f"model: {model!r} has no rate limits on this server")
    entries = []
    if _group_type(request) in (None, "model_group"):
        limits = [OrganizationLimitValue(type=t, value=v) for t, v in services.policy.organization.items()]  # type: ignore[arg-type]
        entries.append(OrganizationRateLimit(id=RATE_LIMIT_ID, group=GROUP, limits=limits, models=models))
    return json_response(CursorPage(data=entries))


async def _workspace_entry(request: Request, workspace_id: str, inherited: bool) -> WorkspaceRateLimit:
    services = platform(request)
    organization = services.policy.organization
    own = await services.policy.overrides(workspace_id)
    values = []
    for limit_type in LIMIT_TYPES:
        if limit_type in own:
            source, value = "workspace", own[limit_type]
        elif inherited and limit_type in organization:
            source, value = "organization", organization[limit_type]
        else:
            continue
        values.append(WorkspaceLimitValue(
            type=limit_type, value=value, org_limit=organization.get(limit_type),  # type: ignore[arg-type]
            source=LimitSource(type=source),  # type: ignore[arg-type]
        ))
    return WorkspaceRateLimit(group=GROUP, limits=values)


async def list_workspace_limits(request: Request) -> Response:
    workspace = await platform(request).workspaces.get(request.path_params["workspace_id"])
    inherited = boolean(request.query_params, "include_inherited", False)
    entries = []
    if _group_type(request) in (None, "model_group"):
        entry = await _workspace_entry(request, workspace.id, inherited)
        if entry.limits:
            entries.append(entry)
    return json_response(CursorPage(data=entries))


async def update_workspace_limits(request: Request) -> Response:
    services = platform(request)
    workspace = await services.workspaces.active(request.path_params["workspace_id"])
    if request.path_params["rate_limit_id"] != RATE_LIMIT_ID:
        raise NotFound(f"rate_limit_id: no rate limit with id {request.path_params['rate_limit_id']!r}")
    body = await read_model(request, RateLimitUpdate)
    types = [change.type for change in body.limits]
    if len(set(types)) != len(types):
        raise InvalidRequest("limits: each limiter type may appear once")
    await services.policy.set_overrides(workspace.id, {c.type: c.value for c in body.limits})
    return json_response(await _workspace_entry(request, workspace.id, inherited=False))
