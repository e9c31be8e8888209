"""Why a fetch failed, in the vocabulary of Anthropic's web fetch tool.

A failed fetch is not a failed API request: the model receives it as a
`web_fetch_tool_result_error` block and may try another URL. So `WebFetchError` is not an
`AntiphonError` and never reaches the HTTP error table.
"""

from __future__ import annotations

from typing import Literal

WebFetchErrorCode = Literal[
    "invalid_tool_input",
    "url_too_long",
    "url_not_allowed",
    "url_not_accessible",
    "unsupported_content_type",
    "too_many_requests",
    "unavailable",
    "content_too_large",
]


class WebFetchError(Exception):
    """`error_code` is one of the hosted API's codes; `message` says precisely why, for the
    operator's logs and for the model, and never carries a traceback."""

    def __init__(self, error_code: WebFetchErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code: WebFetchErrorCode = error_code
        self.message = message

    def __repr__(self) -> str:
        return f"WebFetchError({self.error_code!r}, {self.message!r})"
