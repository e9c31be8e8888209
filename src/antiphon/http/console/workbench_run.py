"""The Workbench's run: a Messages request from a signed-in member, answered by the very
route that answers `POST /v1/messages`.

The protocol edge (http/edge.py) authenticates `/v1/` requests by key and bounds their
bodies; `/console` requests pass it with only a request id. So here, in its place: the
session cookie and the CSRF token (header `x-csrf-token`) stand for the key, the workspace
named by `anthropic-workspace-id` (the default one without it) must be one the member may
use (else 403), the body is bounded as the edge bounds `/v1/messages`, and the caller is a
`Principal` of that workspace without a key. Then `create_message` runs unchanged:
validation, rate and spend limits, usage (recorded for the workspace, `api_key_id` None),
streaming and errors are those of the API, in its error envelope.

The Workbench's other JSON calls (code, saving prompts) use the same guard, `json_visit`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from antiphon.errors import (
    AuthenticationFailed,
    InvalidRequest,
    PermissionDenied,
    RequestTimeout,
    RequestTooLarge,
)
from antiphon.http.body import describe_validation_error
from antiphon.http.console.session import COOKIE, Visit, console_auth
from antiphon.http.edge import MAX_BODY_BYTES, MB
from antiphon.http.routes.admin.views import platform
from antiphon.http.routes.messages import create_message
from antiphon.protocol.messages import MessagesRequest
from antiphon.services.keys import Principal

CSRF_HEADER = "x-csrf-token"
WORKSPACE_HEADER = "anthropic-workspace-id"


async def json_visit(request: Request) -> Visit:
    """The signed-in member behind a Workbench fetch(); refusals are API errors (401, 403)."""
    auth = console_auth(request)
    token = request.cookies.get(COOKIE, "")
    session = await auth.session(token) if token else None
    if session is None:
        raise AuthenticationFailed("your Console session has ended: sign in again")
    if not auth.check_csrf(token, request.headers.get(CSRF_HEADER)):
        raise PermissionDenied(f"the {CSRF_HEADER} header is missing or is not this session's "
                               "token: reload the Workbench and try again")
    return Visit(session.user, token, auth.csrf_token(token), {})


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused past `limit` bytes (413) or when it stops arriving (408), as the
    protocol edge refuses `/v1/` bodies."""
    timeout = request.app.state.settings.read_timeout
    body = bytearray()
    chunks = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return bytes(body)
        except TimeoutError:
            raise RequestTimeout(
                f"the request body stopped arriving (nothing for {timeout:g} seconds)") from None
        body.extend(chunk)
        if len(body) > limit:
            raise RequestTooLarge(f"request body is larger than {limit // MB} MB")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object, or a 400 that says what is wrong (NaN and infinities are not JSON)."""
    def refuse(constant: str) -> None:
        raise InvalidRequest(f"request body is not valid JSON: {constant} is not a number in JSON")

    try:
        value = json.loads(body, parse_constant=refuse)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"request body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidRequest("request body must be a JSON object")
    return value


def validated_request(request: dict[str, Any]) -> MessagesRequest:
    """What `POST /v1/messages` would make of this body (or its 400)."""
    try:
        return MessagesRequest.model_validate(request)
    except ValidationError as error:
        raise InvalidRequest(describe_validation_error(error)) from None


async def usable_workspace(request: Request, visit: Visit, workspace_id: str | None) -> str:
    """The named workspace's id (the default one's for None), if this member may use it."""
    workspaces = platform(request).workspaces
    if workspace_id is None:
        workspace_id = (await workspaces.default()).id
    if not visit.may_use(workspace_id):
        raise PermissionDenied(f"{WORKSPACE_HEADER}: you may not use workspace {workspace_id!r}")
    return (await workspaces.active(workspace_id)).id  # unknown: 404; archived: runs nothing (400)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` that gives the already-read body once, then the client's own messages
    (which say when it disconnects)."""
    pending = True

    async def receive_again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


async def run(request: Request) -> Response:
    visit = await json_visit(request)
    workspace_id = await usable_workspace(request, visit, request.headers.get(WORKSPACE_HEADER) or None)
    body = await read_body(request)
    request.state.principal = Principal(key_id=None, kind="api", workspace_id=workspace_id)
    return await create_message(Request(request.scope, _replay(body, request.receive)))
