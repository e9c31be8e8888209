"""The one table from domain errors to HTTP status and `error.type` (JSON and SSE alike)."""

from __future__ import annotations

import logging
import math

from starlette.responses import Response

from antiphon import errors
from antiphon.protocol.errors import ErrorBody, ErrorCode, ErrorDetail, ErrorType
from antiphon.protocol.openai_responses import OpenAIErrorBody, OpenAIErrorDetail

log = logging.getLogger(__name__)

ERROR_TABLE: dict[type[errors.AntiphonError], tuple[int, ErrorType]] = {
    errors.InvalidRequest: (400, "invalid_request_error"),
    errors.AuthenticationFailed: (401, "authentication_error"),
    errors.BillingError: (402, "billing_error"),
    errors.PermissionDenied: (403, "permission_error"),
    errors.NotFound: (404, "not_found_error"),
    errors.MethodNotAllowed: (405, "invalid_request_error"),
    errors.RequestTimeout: (408, "invalid_request_error"),
    errors.Conflict: (409, "conflict_error"),
    errors.RequestTooLarge: (413, "request_too_large"),
    errors.UnsupportedMediaType: (415, "invalid_request_error"),
    errors.HeadersTooLarge: (431, "invalid_request_error"),
    errors.RateLimited: (429, "rate_limit_error"),
    errors.InternalError: (500, "api_error"),
    errors.StorageFull: (507, "api_error"),
    errors.Overloaded: (529, "overloaded_error"),
}

# Retrying cannot turn these into successes; tell the SDKs not to.
_NOT_RETRYABLE = {400, 401, 402, 403, 404, 405, 413, 415, 431}
# OpenAI's `error.code` for the refusals its clients test for by code.
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def classify(error: BaseException) -> tuple[int, ErrorType, str]:
    """Status, type and client-safe message for any exception; unknown ones are bugs (500)."""
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            status, error_type = ERROR_TABLE[cls]
            return status, error_type, error.message  # type: ignore[attr-defined]
    log.error("unhandled error", exc_info=error)
    return 500, "api_error", "Internal server error"


def error_body(error: BaseException, request_id: str | None) -> tuple[int, ErrorBody]:
    status, error_type, message = classify(error)
    code = getattr(error, "error_code", None)
    details = ErrorCode(error_code=code) if code is not None else None
    detail = ErrorDetail(type=error_type, message=message, details=details)
    return status, ErrorBody(error=detail, request_id=request_id)


def openai_error_body(error: BaseException) -> tuple[int, OpenAIErrorBody]:
    """The same status and type in OpenAI's envelope (`/v1/chat/completions`' callers)."""
    status, error_type, message = classify(error)
    detail = OpenAIErrorDetail(message=message, type=error_type, code=_OPENAI_CODES.get(status))
    return status, OpenAIErrorBody(error=detail)


def error_response(error: BaseException, request_id: str | None, openai: bool = False) -> Response:
    """The error as the caller's API shapes it: Anthropic's envelope, or OpenAI's."""
    status, body = openai_error_body(error) if openai else error_body(error, request_id)
    headers: dict[str, str] = {}
    if status in _NOT_RETRYABLE:
        headers["x-should-retry"] = "false"
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))  # never before it is time
    if isinstance(error, errors.RequestTimeout):  # the rest of its body may still come
        headers["connection"] = "close"
    if isinstance(error, errors.MethodNotAllowed) and error.allowed:
        headers["allow"] = ", ".join(error.allowed)
    return Response(
        body.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_json(error: BaseException, request_id: str | None) -> str:
    """The SSE `error` event's data."""
    return error_body(error, request_id)[1].model_dump_json()


__all__ = [
    "ERROR_TABLE", "classify", "error_body", "error_json", "error_response", "openai_error_body",
]
