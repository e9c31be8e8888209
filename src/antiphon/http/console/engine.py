"""The Console's engine page: what each served model's engine is doing, from the counters
`/metrics` reads (`engine.stats()`, on the event loop thread as the Engine contract asks).

The page is rendered whole; `static/engine.js` then reads `/console/engine.json` every two
seconds and writes the new texts in place. Both carry the same texts, formatted here, so
the page reads the same before and after an update. Every read is also a reading for the
rates and recent percentiles (engine_stats.py), shared by all viewers.
"""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from antiphon.engine.base import UpstreamStats
from antiphon.engine.latency import BUCKETS
from antiphon.http.console.engine_stats import ModelNumbers, Percentiles, Reading, Readings, numbers
from antiphon.http.console.pages import PAGE_HEADERS, render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page
from antiphon.ids import utc_now
from antiphon.services.models import ModelRegistry

UNKNOWN = "—"


def count_text(value: int) -> str:
    return f"{value:,}"


def share_text(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value * 100:.1f}%"


def duration_text(seconds: float | None) -> str:
    """Milliseconds under a second; `inf` is the histogram's open top bucket."""
    if seconds is None:
        return UNKNOWN
    if math.isinf(seconds):
        return f"over {BUCKETS[-1]:g} s"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _percentile_texts(prefix: str, recent: Percentiles, total: Percentiles) -> dict[str, str]:
    return {f"{prefix}_p50_recent": duration_text(recent.p50), f"{prefix}_p95_recent": duration_text(recent.p95),
            f"{prefix}_p50_total": duration_text(total.p50), f"{prefix}_p95_total": duration_text(total.p95)}


def model_texts(model: ModelNumbers, failure: str | None) -> dict[str, str]:
    """Each shown value of one model, keyed by the `data-stat` of the element showing it."""
    if model.kv_use is None:
        kv = "not kept by this server (remote engines)"
    else:
        kv = (f"{count_text(model.kv_cells_used)} of {count_text(model.kv_cells_total)} cells "
              f"({model.kv_use * 100:.0f}%)")
    rate = model.output_tokens_per_second
    return {
        "state": "serving" if failure is None else f"failed: {failure}",
        "running": count_text(model.running), "waiting": count_text(model.waiting), "kv": kv,
        "hit_recent": share_text(model.hit_ratio_recent), "hit_total": share_text(model.hit_ratio_total),
        "rate": UNKNOWN if rate is None else f"{rate:.1f}",
        "window": ("measured from the next update" if model.window_seconds is None
                   else f"over the last {model.window_seconds:.0f} s"),
        "output_total": count_text(model.output_tokens_total),
        **_percentile_texts("ttft", model.ttft_recent, model.ttft_total),
        **_percentile_texts("itl", model.itl_recent, model.itl_total),
    }


def upstream_texts(upstream: UpstreamStats) -> dict[str, str]:
    return {"health": "healthy" if upstream.healthy else "ejected",
            "running": f"{upstream.running} of {upstream.limit}",
            "requests": count_text(upstream.requests_total), "errors": count_text(upstream.errors_total)}


def _readings(request: Request) -> Readings:
    """The app's readings, made on first use (shared by every viewer of this replica)."""
    readings: Readings | None = getattr(request.app.state, "console_engine_readings", None)
    if readings is None:
        readings = Readings()
        request.app.state.console_engine_readings = readings
    return readings


def engine_view(request: Request) -> dict[str, Any]:
    """A reading now, as the page and its JSON show it."""
    registry: ModelRegistry = request.app.state.registry
    served = {model.card.id: model for model in registry}
    reading = Reading(time.monotonic(), {model_id: model.engine.stats() for model_id, model in served.items()})
    shown = numbers(reading, _readings(request).add(reading))
    models = [{
        "id": model.model, "name": served[model.model].card.display_name,
        "texts": model_texts(model, served[model.model].engine.failure),
        "kv_use": model.kv_use, "output_tokens_total": model.output_tokens_total,
        "upstreams": [{"url": upstream.url, "texts": upstream_texts(upstream)} for upstream in model.upstreams],
    } for model in shown]
    return {"updated": utc_now().strftime("%H:%M:%S UTC"), "models": models}


CSP = "Content-Security-Policy"


@page(CAN_MANAGE_KEYS)
async def engine_page(request: Request, visit: Visit) -> Response:
    response = render(request, "engine.html", visit, engine=engine_view(request))
    # This page's script reads engine.json from this server: the one thing it adds to the
    # Console's policy (which allows no connections at all).
    response.headers[CSP] = f"{PAGE_HEADERS[CSP]}; connect-src 'self'"
    return response


@page(CAN_MANAGE_KEYS)
async def engine_json(request: Request, visit: Visit) -> Response:
    """The same view as JSON, for the page's script (session-authenticated like the page)."""
    return JSONResponse(engine_view(request), headers=PAGE_HEADERS)
