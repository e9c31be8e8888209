"""A streaming `multipart/form-data` reader: file parts go to a sink as they arrive (never
whole into memory), text fields are collected, and a malformed body is a clear 400.

python-multipart parses; its callbacks only record events, which are then handled here
with `await`, the way Starlette's own form parser works.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from antiphon.errors import InvalidRequest

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 1000


@dataclass(frozen=True)
class PartInfo:
    name: str
    filename: str | None
    content_type: str | None


class PartSink(Protocol):
    async def write(self, data: bytes) -> None: ...


@dataclass
class _Part:
    info: PartInfo | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sink: PartSink | None = None
    text: bytearray = field(default_factory=bytearray)


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidRequest("the request body must be multipart/form-data (with a boundary)")
    return boundary


def _part_info(headers: dict[str, str]) -> PartInfo:
    disposition, options = parse_options_header(headers.get("content-disposition", ""))
    name = options.get(b"name")
    if disposition != b"form-data" or name is None:
        raise InvalidRequest("every multipart part needs `Content-Disposition: form-data; name=…`")
    filename = options.get(b"filename")
    return PartInfo(
        name=name.decode("utf-8", "replace"),
        filename=None if filename is None else filename.decode("utf-8", "replace"),
        content_type=headers.get("content-type"),
    )


async def read_multipart(
    request: Request,
    open_file: Callable[[PartInfo], Awaitable[PartSink]],
    file_fields: frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """Stream the body; `open_file` is asked for a sink for each part with a filename or
    named in `file_fields` (clients may leave a file's name empty). Returns the text fields
    (a name may repeat)."""
    events: list[tuple[str, bytes]] = []
    header_field, header_value = bytearray(), bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        events.append(("header", bytes(header_field).lower() + b"\0" + bytes(header_value)))
        header_field.clear()
        header_value.clear()

    callbacks = {
        "on_part_begin": lambda: events.append(("begin", b"")),
        "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
        "on_part_end": lambda: events.append(("end", b"")),
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": lambda: events.append(("headers", b"")),
        "on_end": lambda: events.append(("done", b"")),
    }
    parser = MultipartParser(_boundary(request), callbacks)  # type: ignore[arg-type]
    state = _Reading(open_file, file_fields)
    async for chunk in request.stream():
        try:
            parser.write(chunk)
        except (MultipartParseError, FormParserError) as error:
            raise InvalidRequest(f"malformed multipart body: {error}") from None
        await state.handle(events)
        events.clear()
    if not state.done:
        raise InvalidRequest("malformed multipart body: it ends before its closing boundary")
    return state.fields


class _Reading:
    def __init__(
        self, open_file: Callable[[PartInfo], Awaitable[PartSink]], file_fields: frozenset[str]
    ) -> None:
        self._open_file = open_file
        self._file_fields = file_fields
        self._part = _Part()
        self._count = 0
        self.fields: dict[str, list[str]] = {}
        self.done = False

    async def handle(self, events: list[tuple[str, bytes]]) -> None:
        for kind, data in events:
            part = self._part
            if kind == "begin":
                self._count += 1
                if self._count > MAX_PARTS:
                    raise InvalidRequest(f"a multipart body may have at most {MAX_PARTS} parts")
                self._part = _Part()
            elif kind == "header":
                name, _, value = data.partition(b"\0")
                # Latin-1 keeps every byte: the options parser works on bytes again, and a
                # UTF-8 name or filename (as browsers send them) is decoded from those.
                part.headers[name.decode("latin-1")] = value.decode("latin-1")
            elif kind == "headers":
                part.info = _part_info(part.headers)
                if part.info.filename is not None or part.info.name in self._file_fields:
                    part.sink = await self._open_file(part.info)
            elif kind == "data":
                await self._data(part, data)
            elif kind == "end" and part.info is not None and part.sink is None:
                text = part.text.decode("utf-8", "replace")
                self.fields.setdefault(part.info.name, []).append(text)
            elif kind == "done":
                self.done = True

    async def _data(self, part: _Part, data: bytes) -> None:
        if part.sink is not None:
            await part.sink.write(data)
            return
        part.text.extend(data)
        if len(part.text) > MAX_FIELD_BYTES:
            raise InvalidRequest(f"multipart field is longer than {MAX_FIELD_BYTES} bytes")
