"""`GET /health`: liveness and each engine's counters, without authentication."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def health(request: Request) -> Response:
    models = [
        {"id": model.card.id, **asdict(model.engine.stats())} for model in request.app.state.registry
    ]
    return JSONResponse({"status": "ok", "models": models})
