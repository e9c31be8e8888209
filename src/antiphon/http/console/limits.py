"""The Console's limits of one workspace: its rate limits (requests, input and output tokens
per minute) and its monthly spend limit, each with what is in use against it.

Limits are set and cleared through the same services as the Admin API's
`/v1/organizations/workspaces/{id}/rate_limits/…` and `…/spend_limit` (`LimitPolicy`,
`WorkspaceService.set_spend_limit`), validated by the same request models. Use is read
where the API enforces it: the rate limiter's buckets (what the last minute's requests have
drawn from each limit; it refills continuously) and the spend tracker's month-to-date sum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest, NotFound, Overloaded
from antiphon.http.console.keys import first_error
from antiphon.http.console.pages import render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page, see_other
from antiphon.http.console.usage import dollars
from antiphon.http.routes.admin.views import platform
from antiphon.ids import utc_now
from antiphon.protocol.admin import RateLimitUpdate, SpendLimitUpdate
from antiphon.services.limit_policy import LIMIT_TYPES
from antiphon.services.platform import Platform
from antiphon.services.rate_limits import LimitScope, RateLimitSnapshot
from antiphon.store.tables import Workspace

LABELS = {"requests_per_minute": "Requests per minute",
          "input_tokens_per_minute": "Input tokens per minute",
          "output_tokens_per_minute": "Output tokens per minute"}
_SNAPSHOT_FIELD = {"requests_per_minute": "requests", "input_tokens_per_minute": "input_tokens",
                   "output_tokens_per_minute": "output_tokens"}
_WHOLE = re.compile(r"^[0-9]{1,12}$")
_DOLLARS = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,2})?$")
SAVED = {"rate": "Rate limits saved.", "spend": "Spend limit saved."}
ADMINS = ("admin",)  # developers see their workspaces' limits; admins change them


@dataclass(frozen=True)
class RateRow:
    type: str
    label: str
    organization: int | None
    own: int | None
    in_use: int | None  # drawn from the bucket that limits this workspace; None: not known
    in_use_of: str  # whose bucket: "this workspace", "the whole organisation" or ""

    @property
    def limit(self) -> int | None:
        return self.own if self.own is not None else self.organization


async def _snapshots(services: Platform, workspace_id: str) -> dict[str, RateLimitSnapshot]:
    """Each scope's buckets as they are now (charging nothing), by scope key; none while the
    limiter's store cannot be reached (the page then says use is unknown)."""
    scopes: tuple[LimitScope, ...] = await services.policy.scopes(workspace_id)
    found = {}
    for scope in scopes:
        try:
            found[scope.key] = await services.metering.limiter.snapshot([scope])
        except Overloaded:
            continue
    return found


async def rate_rows(services: Platform, workspace_id: str) -> list[RateRow]:
    organization = services.policy.organization
    own = await services.policy.overrides(workspace_id)
    snapshots = await _snapshots(services, workspace_id)
    rows = []
    for limit_type in LIMIT_TYPES:
        # A request draws on the workspace's own bucket and on the organisation's: the one
        # shown is the workspace's where it has its own limit.
        if limit_type in own:
            scope, whose = f"workspace:{workspace_id}", "this workspace"
        elif limit_type in organization:
            scope, whose = "org", "the whole organisation"
        else:
            scope, whose = "", ""
        snapshot = snapshots.get(scope)
        state = getattr(snapshot, _SNAPSHOT_FIELD[limit_type]) if snapshot else None
        rows.append(RateRow(limit_type, LABELS[limit_type], organization.get(limit_type), own.get(limit_type),
                            state.limit - state.remaining if state else None, whose))
    return rows


def whole_cents(cents: int) -> str:
    """A limit in dollars: limits are whole cents, so two decimals say it exactly."""
    return f"${cents / 100:,.2f}"


async def _workspace(request: Request, visit: Visit) -> Workspace:
    """The path's workspace; another workspace than the member's is "not found", as the API
    says of objects out of a caller's reach."""
    workspace_id = request.path_params["workspace_id"]
    workspace = await platform(request).workspaces.get(workspace_id)
    if not visit.may_use(workspace.id):
        raise NotFound(f"workspace_id: no workspace with id {workspace_id!r}")
    return workspace


async def _page(request: Request, visit: Visit, workspace: Workspace, status_code: int = 200,
                **extra: object) -> Response:
    services = platform(request)
    spent = await services.spend.month_to_date_cents(workspace.id, utc_now())
    limit = workspace.spend_limit_cents
    entered = {t: "" if v is None else str(v) for t, v in (await services.policy.overrides(workspace.id)).items()}
    extra.setdefault("entered", entered)
    extra.setdefault("amount", "" if limit is None else f"{limit / 100:.2f}")
    saved = SAVED.get(request.query_params.get("saved", "")) if status_code == 200 else None
    return render(request, "limits.html", visit, status_code, workspace=workspace,
                  rows=await rate_rows(services, workspace.id), spent=spent, limit=limit,
                  dollars=dollars, whole_cents=whole_cents, saved=saved, can_change=visit.user.role in ADMINS, **extra)


@page(CAN_MANAGE_KEYS)
async def show_limits(request: Request, visit: Visit) -> Response:
    return await _page(request, visit, await _workspace(request, visit))


def parse_rate_limits(form: dict[str, str]) -> RateLimitUpdate:
    """Each type's field: a whole number of at least 1, or empty to use the organisation's."""
    changes: list[dict[str, object]] = []
    for limit_type in LIMIT_TYPES:
        raw = form.get(limit_type, "").strip().replace(",", "")
        if raw and (not _WHOLE.match(raw) or int(raw) < 1):
            raise InvalidRequest(f"{LABELS[limit_type]}: must be a whole number from 1 to "
                                 f"999,999,999,999, or empty for the organisation's limit")
        changes.append({"type": limit_type, "value": int(raw) if raw else None})
    try:
        return RateLimitUpdate.model_validate({"limits": changes})
    except ValidationError as error:
        raise first_error(error) from None


def parse_spend_limit(form: dict[str, str]) -> int | None:
    """The monthly limit in whole cents from an amount in dollars; None: no limit."""
    raw = form.get("amount", "").strip().removeprefix("$").replace(",", "")
    if form.get("action") == "remove" or not raw:
        return None
    if not _DOLLARS.match(raw):
        raise InvalidRequest("Monthly limit: an amount in US dollars with at most two decimals, "
                             "such as 25 or 0.50")
    whole, _, fraction = raw.partition(".")
    cents = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
    try:
        body = SpendLimitUpdate.model_validate({"amount": str(cents)})
    except ValidationError as error:
        raise first_error(error) from None
    return None if body.amount is None else int(body.amount)


@page(ADMINS)
async def set_rate_limits(request: Request, visit: Visit) -> Response:
    workspace = await _workspace(request, visit)
    try:
        body = parse_rate_limits(visit.form)
    except InvalidRequest as error:
        entered = {t: visit.form.get(t, "") for t in LIMIT_TYPES}
        return await _page(request, visit, workspace, 400, rate_error=error.message, entered=entered)
    services = platform(request)
    await services.workspaces.active(workspace.id)  # an archived workspace takes no limits
    await services.policy.set_overrides(workspace.id, {c.type: c.value for c in body.limits})
    return see_other(f"/console/workspaces/{workspace.id}/limits?saved=rate")


@page(ADMINS)
async def set_spend_limit(request: Request, visit: Visit) -> Response:
    workspace = await _workspace(request, visit)
    try:
        cents = parse_spend_limit(visit.form)
    except InvalidRequest as error:
        return await _page(request, visit, workspace, 400, spend_error=error.message,
                           amount=visit.form.get("amount", ""))
    services = platform(request)
    await services.workspaces.set_spend_limit(workspace.id, cents)
    services.policy.invalidate()  # this replica enforces the new limit from its next request
    return see_other(f"/console/workspaces/{workspace.id}/limits?saved=spend")
