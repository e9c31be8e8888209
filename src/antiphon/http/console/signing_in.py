"""Sign-in, sign-out, invite acceptance, and the landing page that says what a role may do.

Sign-in and invite forms come before any session, so they carry no CSRF token: the worst
a forged one can do is sign the browser in to an account whose password the forger knows,
and the session cookie (SameSite=Lax, Path=/console) is never sent with another site's POST.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import AntiphonError, AuthenticationFailed, RateLimited
from antiphon.http.console.pages import render, render_error
from antiphon.http.console.session import (
    COOKIE,
    Visit,
    clear_session_cookie,
    console_auth,
    page,
    read_form,
    see_other,
    set_session_cookie,
)
from antiphon.http.errors import classify
from antiphon.http.routes.admin.views import platform
from antiphon.services.console_auth import SignedIn
from antiphon.store.pages import PageRequest

HOME = "/console/"


async def to_console(_: Request) -> Response:
    return see_other(HOME)


@page()
async def home(request: Request, visit: Visit) -> Response:
    """The landing page: what this member's role lets them do here."""
    return render(request, "home.html", visit)


async def has_admin(request: Request) -> bool:
    admins = await platform(request).members.list_users(PageRequest(1), None, ["admin"])
    return bool(admins.rows)


async def _signed_in(request: Request) -> bool:
    token = request.cookies.get(COOKIE)
    return bool(token) and await console_auth(request).session(token or "") is not None


def opened(request: Request, signed_in: SignedIn) -> Response:
    response = see_other(HOME)
    set_session_cookie(response, request, signed_in.session_token, signed_in.session.expires_at)
    return response


async def sign_in(request: Request) -> Response:
    """GET: the form (or the Console, for the signed-in). POST: a session, or the form again
    with a generic error (401) or the wait imposed after repeated failures (429)."""
    if request.method == "GET":
        if await _signed_in(request):
            return see_other(HOME)
        return render(request, "sign_in.html", None, first_start=not await has_admin(request))
    try:
        form = await read_form(request)
        signed_in = await console_auth(request).sign_in(form.get("email", ""), form.get("password", ""))
    except AuthenticationFailed:
        return render(request, "sign_in.html", None, 401, email=form.get("email", ""),
                      error="Wrong email or password.")
    except RateLimited as error:
        return render_error(request, None, error)
    except AntiphonError as error:
        return render_error(request, None, error)
    return opened(request, signed_in)


@page()
async def sign_out(request: Request, visit: Visit) -> Response:
    """End this session here and in the store (its cookie is worthless afterwards)."""
    await console_auth(request).sign_out(visit.session_token)
    response = see_other("/console/sign-in")
    clear_session_cookie(response, request)
    return response


async def accept_invite(request: Request) -> Response:
    """GET: the form to set a name and password. POST: the account, then a session."""
    if request.method == "GET":
        return render(request, "invite.html", None, token=request.query_params.get("token", ""))
    form = await read_form(request)
    token, password = form.get("token", ""), form.get("password", "")
    auth = console_auth(request)
    try:
        user = await auth.accept_invite(token, form.get("name") or None, password)
        signed_in = await auth.sign_in(user.email, password)
    except AntiphonError as error:
        status, _, message = classify(error)
        return render(request, "invite.html", None, status, token=token,
                      name=form.get("name", ""), error=message)
    return opened(request, signed_in)
