"""The error envelope: `{"type": "error", "error": {"type", "message"}, "request_id"}`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from antiphon.protocol.base import ResponseModel

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
    "timeout_error",
]


class ErrorCode(ResponseModel):
    error_code: str


class ErrorDetail(ResponseModel):
    type: ErrorType
    message: str
    details: ErrorCode | None = Field(default=None, exclude_if=lambda value: value is None)


class ErrorBody(ResponseModel):
    type: Literal["error"] = "error"
    error: ErrorDetail
    request_id: str | None = None
