"""Rendering the Console's pages: Jinja2 templates (autoescaped) beside this module, and
the headers every page gets.

Pages hold secrets (a new key is shown once) and act on the platform, so none is cached,
framed by another site or sent with a referrer (an invite's token is in its URL); the
Content-Security-Policy allows only this server's own CSS and script, never inline code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from antiphon.errors import AntiphonError, RateLimited
from antiphon.http.errors import classify
from antiphon.services.passwords import MIN_PASSWORD_CHARS

if TYPE_CHECKING:
    from antiphon.http.console.session import Visit

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.globals["min_password_chars"] = MIN_PASSWORD_CHARS
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_TITLES = {400: "Cannot do that", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
           409: "Conflict", 413: "Too large", 429: "Too many attempts"}


def render(
    request: Request, template: str, visit: Visit | None, status_code: int = 200, **context: Any
) -> Response:
    """`template` with the signed-in member (if any) and their CSRF token for its forms."""
    context.update(visit=visit, user=visit.user if visit else None,
                   csrf_token=visit.csrf_token if visit else "")
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def render_error(
    request: Request, visit: Visit | None, problem: AntiphonError | int, message: str = ""
) -> Response:
    """The error page: for a domain error, its status and message (as the API would say
    them); otherwise the status and message given."""
    if isinstance(problem, AntiphonError):
        status, _, message = classify(problem)
    else:
        status = problem
    response = render(request, "error.html", visit, status,
                      title=_TITLES.get(status, "Something went wrong"), message=message)
    if isinstance(problem, RateLimited):
        response.headers["Retry-After"] = str(max(1, round(problem.retry_after_seconds)))
    return response
