"""`GET /v1/models` and `GET /v1/models/{model_id}`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest
from antiphon.http.responses import json_response
from antiphon.services.models import ModelRegistry

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


async def list_models(request: Request) -> Response:
    params = request.query_params
    page = _registry(request).list_page(
        _limit(params.get("limit")), params.get("before_id"), params.get("after_id")
    )
    return json_response(page)


async def get_model(request: Request) -> Response:
    return json_response(_registry(request).get_info(request.path_params["model_id"]))
