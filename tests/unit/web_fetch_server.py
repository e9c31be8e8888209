"""A small HTTP/1.1 server on 127.0.0.1 for the web fetch tests: real sockets, a route table,
and a record of what each request looked like on the wire (the Host header above all)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[SeenRequest, asyncio.StreamWriter], Awaitable[None]]
Route = bytes | Handler


def response(
    status: int, body: bytes = b"", content_type: str | None = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A whole HTTP/1.1 response with Content-Length, closing the connection."""
    lines = [f"HTTP/1.1 {status} Status", f"Content-Length: {len(body)}", "Connection: close"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def redirect(location: str, status: int = 302) -> bytes:
    return response(status, headers={"Location": location})


class PageServer:
    """`routes` maps a path to a whole response or to a handler that writes one."""

    def __init__(
        self, routes: Mapping[str, Route], tls: ssl.SSLContext | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.requests: list[SeenRequest] = []
        self.port = 0
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def __aenter__(self) -> PageServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            seen = SeenRequest(method, path, {k.lower(): v for k, v in headers.items()})
            self.requests.append(seen)
            route = self.routes.get(path, response(404, b"not here"))
            if isinstance(route, bytes):
                writer.write(route)
            else:
                await route(seen, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client hung up: the tests that cause this look at the client's side
        finally:
            writer.close()
            self._handlers.discard(task)
