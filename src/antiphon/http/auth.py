"""Who is calling: `x-api-key: KEY` (older clients) or `Authorization: Bearer KEY` (newest SDK).

API keys may call the model endpoints, admin keys only the Admin API
(`/v1/organizations/…`); each gets 403 on the other's routes, as on the hosted API. An API
key's workspace is the only one its calls see: `workspace_of` is where files, skills and
batches learn it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request

from antiphon.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from antiphon.services.keys import KeyService, Principal

ADMIN_PREFIX = "/v1/organizations"


def presented_key(headers: Headers) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class Authenticator:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    async def principal(self, headers: Headers, path: str) -> Principal:
        key = presented_key(headers)
        if key is None:
            raise AuthenticationFailed(
                "x-api-key header is required (or Authorization: Bearer <key>)"
            )
        principal = await self._keys.authenticate(key)
        if is_admin_path(path):
            if principal.kind != "admin":
                raise PermissionDenied(
                    "the Admin API needs an admin key; this is an ordinary API key"
                )
        elif principal.kind == "admin":
            raise PermissionDenied(
                "admin keys may only call the Admin API (/v1/organizations/…); use an API key"
            )
        return principal


def workspace_of(request: Request) -> str:
    """The key's workspace; `anthropic-workspace-id`, if sent, must name the same one."""
    workspace_id: str = request.state.principal.workspace_id
    named = request.headers.get("anthropic-workspace-id")
    if named is not None and named != workspace_id:
        raise InvalidRequest(f"anthropic-workspace-id: {named!r} is not this API key's workspace")
    return workspace_id
