"""uvicorn's httptools protocol with the two limits it lacks.

uvicorn bounds neither the size of a request's head nor the time it may take to arrive:
measured, one connection sent 200 MB of header bytes and the server's memory grew by
270 MB (httptools keeps a header until its end), and a connection that sends half a request
line is held forever. This subclass answers 431 once a request's line and headers pass
`max_head_bytes` (counted as they arrive, so an unfinished header is cut off at the limit
too, not buffered to its end), and 408 when a head has not
arrived `read_timeout` seconds after it began (or after the connection opened), in the
API's error envelope, closing the connection either way. (The body's pace is the edge's
business: http/edge.py.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from antiphon.errors import AntiphonError, HeadersTooLarge, RequestTimeout
from antiphon.http.errors import error_body
from antiphon.ids import request_id as new_request_id

MAX_HEAD_BYTES = 64 * 1024
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _Refused(Exception):
    """Stops httptools' parsing once the refusal is sent."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    read_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # of complete headers, this request's
        self._unparsed = 0  # bytes received while the head was unfinished
        self._in_head = True  # from a request's first byte (or the connection's) to its head's end
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head:  # all of it is head: the headers have not ended yet
            self._unparsed += len(data)
            if self._unparsed > self.max_head_bytes:
                self._refuse_large_head()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # httptools reports our own stop as a parse error
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._unparsed = False, 0
        self._disarm_head_deadline()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._refuse_large_head()
            raise _Refused

    def _refuse_large_head(self) -> None:
        self._refuse(431, HeadersTooLarge(
            f"the request line and headers are larger than {self.max_head_bytes // 1024} KB"
        ))

    def _arm_head_deadline(self) -> None:
        self._head_deadline = self.loop.call_later(self.read_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_deadline()  # a request is running: a pipelined head may wait
            return
        self._refuse(408, RequestTimeout(
            f"the request's headers did not arrive within {self.read_timeout:g} seconds"
        ))

    def _refuse(self, status: int, error: AntiphonError) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._disarm_head_deadline()
        body = error_body(error, new_request_id())[1].model_dump_json().encode()
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"x-should-retry: false\r\nconnection: close\r\n\r\n"
        ) % (status, _REASONS[status], len(body))
        self.transport.write(head + body)
        self.transport.close()


def guarded_protocol(max_head_bytes: int, read_timeout: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http` setting, with these limits."""
    return type(
        "GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "read_timeout": read_timeout},
    )
