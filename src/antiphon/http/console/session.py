"""The Console's session cookie, its forms, and the guard every signed-in page passes.

The cookie holds only the opaque session token; what it opens is looked up in the store on
every request (services/console_auth), so signing out or removing a user takes effect at
once on every replica. Forms are read here, bounded, because the protocol edge bounds only
`/v1/` bodies; every POST of a signed-in page must carry the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from antiphon.errors import AntiphonError, RequestTooLarge
from antiphon.http.console.pages import render_error
from antiphon.ids import utc_now
from antiphon.services.console_auth import ConsoleAuth, ConsoleUser

COOKIE = "antiphon_session"
COOKIE_PATH = "/console"
SIGN_IN = "/console/sign-in"
FORM_LIMIT = 64 * 1024  # names and passwords: far more than any form here needs
CAN_MANAGE_KEYS = ("admin", "developer")


@dataclass(frozen=True)
class Visit:
    """A signed-in request: who, their session's token and CSRF token, and the form posted."""

    user: ConsoleUser
    session_token: str
    csrf_token: str
    form: dict[str, str]

    @property
    def can_manage_keys(self) -> bool:
        return self.user.role in CAN_MANAGE_KEYS

    def may_use(self, workspace_id: str | None) -> bool:
        """Whether this member may see and act on things of `workspace_id` (every page that
        lists or changes workspace-scoped things filters and checks with this)."""
        return self.user.may_use(workspace_id)


Page = Callable[[Request, Visit], Awaitable[Response]]


def console_auth(request: Request) -> ConsoleAuth:
    auth: ConsoleAuth = request.app.state.console_auth
    return auth


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form as field → value (the first of repeated fields); bounded."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > FORM_LIMIT:
            raise RequestTooLarge(f"form is larger than {FORM_LIMIT // 1024} KB")
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form


def _is_https(request: Request) -> bool:
    public_url = request.app.state.settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


def set_session_cookie(response: Response, request: Request, token: str, expires_at: datetime) -> None:
    response.set_cookie(
        COOKIE, token, max_age=max(0, int((expires_at - utc_now()).total_seconds())),
        path=COOKIE_PATH, secure=_is_https(request), httponly=True, samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=_is_https(request),
                           httponly=True, samesite="lax")


def see_other(path: str) -> RedirectResponse:
    """After a POST, the browser GETs the page anew (a reload never repeats the action)."""
    return RedirectResponse(path, status_code=303)


def page(roles: tuple[str, ...] | None = None) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A route for signed-in members (of `roles`, when given). A GET without a live session
    goes to sign-in; a POST without one, or without its CSRF token, is refused (403) and
    does nothing. Domain errors become an error page with their status."""

    def wrap(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            auth = console_auth(request)
            token = request.cookies.get(COOKIE, "")
            session = await auth.session(token) if token else None
            posting = request.method == "POST"
            try:
                form = await read_form(request) if posting else {}
            except AntiphonError as error:
                return render_error(request, None, error)
            if session is None:
                if posting:
                    return render_error(request, None, 403, "Your session has ended: sign in again.")
                return see_other(SIGN_IN)
            if posting and not auth.check_csrf(token, form.get("csrf_token")):
                return render_error(request, None, 403, "This form has expired or did not come "
                                    "from the Console. Go back, reload the page and try again.")
            visit = Visit(session.user, token, auth.csrf_token(token), form)
            if roles is not None and session.user.role not in roles:
                return render_error(request, visit, 403, "Your role does not give access to this page.")
            try:
                return await handler(request, visit)
            except AntiphonError as error:
                return render_error(request, visit, error)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap
