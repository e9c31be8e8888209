"""The model routes' side of metering: a meter per request, its rate-limit headers after."""

from __future__ import annotations

from starlette.requests import Request

from antiphon.http.rate_limit_headers import openai_rate_limit_headers, rate_limit_headers
from antiphon.services.metering import RequestMeter


def request_meter(request: Request) -> RequestMeter:
    metering = request.app.state.platform.metering
    return metering.meter(request.state.principal, request.state.request_id)


def publish_limits(request: Request, meter: RequestMeter) -> None:
    """Leave the headers for the protocol edge, which adds them to the response's start."""
    if meter.snapshot is not None:
        openai = getattr(request.state, "openai", False)
        shape = openai_rate_limit_headers if openai else rate_limit_headers
        request.state.rate_limit_headers = shape(meter.snapshot)
