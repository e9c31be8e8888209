"""`GET /v1/models` and `GET /v1/models/{model_id}`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.query import MAX_LIMIT, integer
from antiphon.http.responses import json_response
from antiphon.services.models import ModelRegistry


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def list_models(request: Request) -> Response:
    params = request.query_params
    page = _registry(request).list_page(
        integer(params, "limit", 20, 1, MAX_LIMIT), params.get("before_id"), params.get("after_id")
    )
    return json_response(page)


async def get_model(request: Request) -> Response:
    return json_response(_registry(request).get_info(request.path_params["model_id"]))
