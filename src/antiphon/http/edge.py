"""The protocol edge, as plain ASGI middleware (it must not buffer streams):

- every response gets `request-id` and `anthropic-organization-id`, and the rate-limit
  headers a route left in `state["rate_limit_headers"]`;
- `/v1/` routes need a valid key of the right kind (in `state["principal"]` afterwards) and
  a valid `anthropic-version`, except those that speak OpenAI's dialect (`state["openai"]`),
  whose errors take OpenAI's envelope;
- request bodies are bounded: a declared length over the limit is refused before reading,
  an undeclared (chunked) one is cut off as soon as it passes the limit;
- a body in a `content-encoding` is refused (415) rather than read as if it were plain:
  decoding it would need its own bound against decompression bombs, and no SDK sends one;
- a body that stops arriving (`read_timeout` seconds without a byte, a slow-loris client)
  ends the request with 408 instead of holding it open forever; uvicorn has no such limit
  (the head's limits are in http/guarded_protocol.py).
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from antiphon.errors import AntiphonError, RequestTimeout, RequestTooLarge, UnsupportedMediaType
from antiphon.http.auth import Authenticator
from antiphon.http.errors import error_response
from antiphon.http.openai.dialect import speaks_openai
from antiphon.http.versions import NEWEST_VERSION, negotiate_version, parse_betas
from antiphon.ids import request_id as new_request_id

MB = 1024 * 1024
MAX_BODY_BYTES = 32 * MB
# Routes that take more than the default, as on the hosted API (a multipart body carries a
# little more than its file, hence the margin).
LARGER_BODIES = {"/v1/files": 500 * MB + 64 * 1024, "/v1/messages/batches": 256 * MB}


def body_limit(path: str, default: int) -> int:
    return LARGER_BODIES.get(path, default)


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"request body is larger than {limit // MB} MB")


class ProtocolEdge:
    def __init__(
        self,
        app: ASGIApp,
        auth: Authenticator,
        organization_id: str,
        max_body_bytes: int = MAX_BODY_BYTES,
        read_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.auth = auth
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        self._organization = organization_id.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extra = [(b"request-id", request_id.encode()), (b"anthropic-organization-id", self._organization)]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                limits = state.get("rate_limit_headers", [])
                message["headers"] = [*message.get("headers", []), *extra, *limits]
            await send(message)

        if scope["path"].startswith("/v1/"):
            headers = Headers(scope=scope)
            openai = state["openai"] = speaks_openai(scope["path"], headers)
            try:
                await self._admit(scope, state, headers, openai)
            except AntiphonError as error:
                await error_response(error, request_id, openai)(scope, receive, send_with_headers)
                return
            receive = self._bounded(receive, body_limit(scope["path"], self.max_body_bytes))
        await self.app(scope, receive, send_with_headers)

    async def _admit(
        self, scope: Scope, state: dict[str, object], headers: Headers, openai: bool
    ) -> None:
        state["principal"] = await self.auth.principal(headers, scope["path"])
        version = headers.get("anthropic-version")
        state["anthropic_version"] = (
            NEWEST_VERSION if openai and not version else negotiate_version(version)
        )
        state["anthropic_betas"] = parse_betas(headers.get("anthropic-beta"))
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise UnsupportedMediaType(
                f"content-encoding: {encoding!r} is not accepted; send the body uncompressed"
            )
        declared = headers.get("content-length")
        limit = body_limit(scope["path"], self.max_body_bytes)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)

    def _bounded(self, receive: Receive, limit: int) -> Receive:
        received, complete = 0, False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body, receive() waits for a disconnect: no deadline
                return await receive()
            try:  # a deadline on the awaiting task itself: no task per body chunk
                async with asyncio.timeout(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body stopped arriving (nothing for {self.read_timeout:g} seconds)"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
                complete = not message.get("more_body", False)
            return message

        return bounded_receive
