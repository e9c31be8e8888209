"""The first admin, made in the browser by whoever holds an admin key.

`antiphon users create --role admin` is one way to the first Console account; this is the
other, for a server whose operator has an admin key (`ANTIPHON_ADMIN_KEY`, or one printed at
first start) but no terminal on it. It works only while the organisation has no admin:
afterwards admins invite people, and the page says so. An admin key can create admins
through the Admin API's invites anyway, so this opens nothing that the key did not.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import AntiphonError, AuthenticationFailed
from antiphon.http.console.pages import render
from antiphon.http.console.session import console_auth, read_form
from antiphon.http.console.signing_in import has_admin, opened
from antiphon.http.errors import classify
from antiphon.http.routes.admin.views import platform

TEMPLATE = "first_admin.html"


async def _make_admin(request: Request, form: dict[str, str]) -> Response:
    services = platform(request)
    principal = await services.keys.authenticate(form.get("admin_key", "").strip())
    if principal.kind != "admin":
        raise AuthenticationFailed("that is an API key, not an admin key")
    password = form.get("password", "")
    user = await services.members.create_user(form.get("email", ""), form.get("name") or None, "admin", password)
    return opened(request, await console_auth(request).sign_in(user.email, password))


async def first_admin(request: Request) -> Response:
    """GET: the form, while there is no admin. POST: the admin account, then a session."""
    if await has_admin(request):
        return render(request, TEMPLATE, None, 409, closed=True)
    if request.method == "GET":
        return render(request, TEMPLATE, None)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        return await _make_admin(request, form)
    except AntiphonError as error:
        status, _, message = classify(error)
        if isinstance(error, AuthenticationFailed):
            message = "That is not an active admin key of this server."
        return render(request, TEMPLATE, None, status, error=message,
                      email=form.get("email", ""), name=form.get("name", ""))
