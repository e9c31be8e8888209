"""Domain errors: what went wrong, in the API's vocabulary, without any HTTP.

Every layer below `http/` raises these. `http/errors.py` holds the one table that maps each
class to a status code and an `error.type`; SSE `error` events use the same table.
"""

from __future__ import annotations


class AntiphonError(Exception):
    """Base class. `message` is shown to the client verbatim, so it must be safe and useful.
    A subclass with an `error_code` sends it as `error.details.error_code`, which the SDKs
    raise as their own exception class and branch on."""

    error_code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(AntiphonError):
    """The request is malformed or asks for something this server cannot do (400)."""


class AuthenticationFailed(AntiphonError):
    """Missing or wrong API key (401)."""


class PermissionDenied(AntiphonError):
    """The key is valid but may not do this (403)."""


class NotFound(AntiphonError):
    """Unknown route or unknown id (404)."""


class MethodNotAllowed(AntiphonError):
    """The route exists but not for this HTTP method (405)."""

    def __init__(self, message: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allowed = allowed


class RequestTimeout(AntiphonError):
    """The client stopped sending the request before its end (408)."""


class Conflict(AntiphonError):
    """The resource is in a state that forbids this operation (409)."""


class RequestTooLarge(AntiphonError):
    """The request body is larger than the route accepts (413)."""


class HeadersTooLarge(AntiphonError):
    """The request's line and headers are larger than the server reads (431)."""


class UnsupportedMediaType(AntiphonError):
    """The body comes in an encoding this server does not read, e.g. compressed (415)."""


class StorageFull(AntiphonError):
    """The server's disk (or its file size limit) has no room for what it must write (507)."""


class RateLimited(AntiphonError):
    """A rate-limit bucket is empty (429)."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class InternalError(AntiphonError):
    """A bug or an engine failure (500). The message never carries a traceback."""


class Overloaded(AntiphonError):
    """The server chose not to queue more work (529)."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class BillingError(AntiphonError):
    """A spend limit is reached (402)."""


class ThreadNotFound(NotFound):
    """No continuable reply has this id in the caller's workspace (404)."""

    error_code = "thread_not_found"


class ThreadAlreadyContinued(InvalidRequest):
    """The reply was continued already; each is continued once (400)."""

    error_code = "thread_already_continued"


class ThreadContinueInFlight(InvalidRequest):
    """Another request is continuing from this reply right now (400)."""

    error_code = "thread_continue_in_flight"


class ThreadFingerprintMismatch(InvalidRequest):
    """A field fixed when the thread was created differs on a later turn (400)."""

    error_code = "thread_fingerprint_mismatch"


class AlreadyMember(InvalidRequest):
    """The email address belongs to a member already (400)."""

    error_code = "already_member"


class InviteAlreadyExists(InvalidRequest):
    """A pending invite exists for the email address (400)."""

    error_code = "invite_already_exists"


class LastAdmin(InvalidRequest):
    """The change would leave the organisation without an admin (400)."""
