"""`GET /v1/models` and `GET /v1/models/{model_id}`, in OpenAI's shapes for its callers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.http.openai.models import to_openai_list, to_openai_model
from antiphon.http.query import MAX_LIMIT, integer
from antiphon.http.responses import json_response
from antiphon.services.models import ModelRegistry


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def _openai(request: Request) -> bool:
    return bool(getattr(request.state, "openai", False))


async def list_models(request: Request) -> Response:
    if _openai(request):
        return json_response(to_openai_list(model.info for model in _registry(request)))
    params = request.query_params
    page = _registry(request).list_page(
        integer(params, "limit", 20, 1, MAX_LIMIT), params.get("before_id"), params.get("after_id")
    )
    return json_response(page)


async def get_model(request: Request) -> Response:
    info = _registry(request).get_info(request.path_params["model_id"])
    return json_response(to_openai_model(info) if _openai(request) else info)
