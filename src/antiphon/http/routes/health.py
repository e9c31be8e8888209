"""`GET /health`: liveness and each engine's counters, and `/api/hello`, the probe Claude
Code sends to warm its connection before the first request; neither needs a key.

`/health` answers 503 once an engine has failed for good (its thread died): a load balancer
then stops sending requests here, and a supervisor's liveness probe restarts the server.
Upstreams that are down are not a failure of this server: they come back."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response


async def health(request: Request) -> Response:
    models = []
    for model in request.app.state.registry:
        stats = asdict(model.engine.stats())
        for histogram in ("time_to_first_token", "inter_token_latency"):  # those are /metrics'
            stats.pop(histogram)
        for upstream in stats["upstreams"]:
            upstream.pop("time_to_first_token")
        card = model.card
        models.append({
            "id": card.id,
            "failure": model.engine.failure,
            "context_window": card.context_window,
            "trained_context": card.trained_context,
            "rope_scaling": f"yarn x{card.yarn_factor:g}" if card.yarn_factor > 1 else None,
            "max_output_tokens": card.max_output_tokens,
            **stats,
        })
    failed = any(model["failure"] is not None for model in models)
    return JSONResponse(
        {"status": "engine_failed" if failed else "ok", "models": models},
        status_code=503 if failed else 200,
    )


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")
