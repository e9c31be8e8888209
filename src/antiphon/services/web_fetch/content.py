"""What a fetched body becomes: readable text (HTML, plain text, JSON, …) or a PDF's bytes.

The kind is decided from the Content-Type before the body is read, so an image is refused
without downloading it; only a missing or generic (`application/octet-stream`) type is decided
from the body's first bytes.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Literal

from antiphon.ids import utc_now
from antiphon.services.web_fetch.errors import WebFetchError
from antiphon.services.web_fetch.html_text import html_to_text

PageKind = Literal["html", "text", "pdf"]

_HTML = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_APPLICATIONS = frozenset({
    "application/json", "application/xml", "application/javascript", "application/ecmascript",
    "application/x-javascript", "application/x-ndjson", "application/yaml", "application/x-yaml",
    "application/toml", "application/sql", "application/graphql", "application/x-sh",
})
_UNDECLARED = frozenset({
    "", "application/octet-stream", "binary/octet-stream", "application/unknown",
})
_MEDIA = ("image/", "audio/", "video/", "font/", "model/")  # even `image/svg+xml`
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HTML_START = re.compile(rb"\s*(<!doctype html|<html|<head|<body|<title|<!--)", re.I)


@dataclass(frozen=True)
class FetchedPage:
    """`media_type` is "text/plain" (then `text` is set; `title` too for HTML pages) or
    "application/pdf" (then `data` holds the document's bytes)."""

    url: str
    media_type: str
    text: str | None
    data: bytes | None
    title: str | None
    retrieved_at: datetime


def _parsed(content_type: str | None) -> tuple[str, str | None]:
    """(media type, charset parameter) of a Content-Type header value."""
    header = Message()
    header["content-type"] = content_type or ""
    media_type = header.get_content_type() if content_type else ""
    charset = header.get_param("charset")
    return media_type, charset if isinstance(charset, str) else None


def declared_kind(content_type: str | None) -> PageKind | None:
    """The kind the server declares; None when it declares nothing useful and the body must
    tell. Raises `unsupported_content_type` for media that are neither text nor PDF."""
    media_type, _ = _parsed(content_type)
    if media_type in _UNDECLARED:
        return None
    if media_type in _HTML:
        return "html"
    if media_type == "application/pdf":
        return "pdf"
    if not media_type.startswith(_MEDIA) and (
        media_type.startswith("text/")
        or media_type in _TEXT_APPLICATIONS
        or media_type.endswith(("+json", "+xml"))
    ):
        return "text"
    raise WebFetchError(
        "unsupported_content_type",
        f"the URL serves {media_type}; web fetch reads text, HTML and PDF documents",
    )


def _sniffed_kind(body: bytes) -> PageKind:
    if body.startswith(b"%PDF-"):
        return "pdf"
    if _HTML_START.match(body[:512]):
        return "html"
    try:
        text = body[:65_536].decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < 65_532:  # not merely a character cut at the sample's end
            raise WebFetchError(
                "unsupported_content_type",
                "the URL serves binary data without a Content-Type; web fetch reads text, "
                "HTML and PDF documents",
            ) from None
        text = ""
    if "\x00" in text:
        raise WebFetchError(
            "unsupported_content_type", "the URL serves binary data without a Content-Type"
        )
    return "text"


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(body: bytes, charset: str | None, kind: PageKind) -> str:
    """The body as text: a byte-order mark wins, then the declared charset, then (for HTML) a
    `<meta charset>`, then UTF-8; undecodable bytes become U+FFFD rather than an error."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace")
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace")
    codec = _codec(charset)
    if codec is None and kind == "html":
        found = _META_CHARSET.search(body[:4096])
        codec = _codec(found.group(1).decode("ascii")) if found else None
    return body.decode(codec or "utf-8", errors="replace")


def build_page(
    url: str, content_type: str | None, kind: PageKind | None, body: bytes,
) -> FetchedPage:
    """The page a body makes; `kind` None: tell it from the body (see `declared_kind`)."""
    kind = kind or _sniffed_kind(body)
    now = utc_now()
    if kind == "pdf":
        return FetchedPage(url, "application/pdf", None, body, None, now)
    text = decode(body, _parsed(content_type)[1], kind)
    if kind == "html":
        page = html_to_text(text)
        return FetchedPage(url, "text/plain", page.text, None, page.title, now)
    return FetchedPage(url, "text/plain", text, None, None, now)
