"""`GET /v1/organizations/usage_report/messages` and `GET /v1/organizations/cost_report`."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest
from antiphon.http.query import integer, listed
from antiphon.http.responses import json_response
from antiphon.http.routes.admin.views import platform
from antiphon.ids import utc_now
from antiphon.services.reports import WIDTH_MINUTES, ReportRequest, Reports
from antiphon.store.usage import GROUPABLE

# Buckets per page by width: (default, maximum), as on the hosted API.
_PAGE_SIZES = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
_FILTERS = {"models": "model", "api_key_ids": "api_key_id", "workspace_ids": "workspace_id",
            "service_tiers": "service_tier"}


def _time(params: QueryParams, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name}: not an RFC 3339 timestamp: {raw!r}") from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"{name}: must include a time zone, got {raw!r}")
    return moment.astimezone(UTC)


def _minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def _report_request(params: QueryParams, widths: tuple[str, ...], groups: tuple[str, ...]) -> ReportRequest:
    width_name = params.get("bucket_width", "1d")
    if width_name not in widths:
        raise InvalidRequest(f"bucket_width: must be one of {', '.join(widths)}, got {width_name!r}")
    width = WIDTH_MINUTES[width_name]
    start = _time(params, "page") or _time(params, "starting_at")
    if start is None:
        raise InvalidRequest("starting_at: required (an RFC 3339 timestamp)")
    end = _time(params, "ending_at") or utc_now()
    if end <= start:
        raise InvalidRequest("ending_at: must be after starting_at")
    group_by = tuple(listed(params, "group_by"))
    for group in group_by:
        if group not in groups:
            raise InvalidRequest(f"group_by: must be among {', '.join(groups)}, got {group!r}")
    filters = []
    for name, column in _FILTERS.items():
        values = listed(params, name)
        if values and column in groups:
            filters.append((column, tuple(values)))
    default, maximum = _PAGE_SIZES[width_name]
    end_minute = -(-int(end.timestamp()) // 60)  # a partial last minute still counts
    return ReportRequest(
        start_minute=_minute(start) // width * width, end_minute=end_minute, width_minutes=width,
        limit=integer(params, "limit", default, 1, maximum), group_by=tuple(dict.fromkeys(group_by)),
        filters=tuple(filters),
    )


def _reports(request: Request) -> Reports:
    services = platform(request)
    return Reports(services.usage, services.prices)


async def usage_report(request: Request) -> Response:
    report = _report_request(request.query_params, ("1m", "1h", "1d"), GROUPABLE)
    return json_response(await _reports(request).usage(report))


async def cost_report(request: Request) -> Response:
    report = _report_request(request.query_params, ("1d",), ("workspace_id", "description"))
    return json_response(await _reports(request).cost(report, "description" in report.group_by))
