"""A file's MIME type from its bytes first and its name second: clients send
`application/octet-stream` or nothing, and names lie (a PDF called `notes.txt`)."""

from __future__ import annotations

import mimetypes

import puremagic

_ZIP_MAGIC = b"PK\x03\x04"
# Zip containers whose kind only the name tells (puremagic guesses a Word file for any zip).
_ZIP_KINDS = {".zip": "application/zip", ".docx": None, ".xlsx": None, ".pptx": None, ".jar": None}


def _looks_like_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:  # a multi-byte character cut at the end is fine
        return error.start >= len(head) - 3
    return True


def _by_name(filename: str) -> str | None:
    return mimetypes.guess_type(filename, strict=False)[0]


def detect_mime_type(head: bytes, filename: str) -> str:
    """`head`: the file's first few kilobytes."""
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if head.startswith(_ZIP_MAGIC):
        if suffix in _ZIP_KINDS:
            return _ZIP_KINDS[suffix] or _by_name(filename) or "application/zip"
        return "application/zip"
    try:
        found = puremagic.from_string(head, mime=True) if head else ""
    except (puremagic.PureError, ValueError):
        found = ""
    if found:
        return found
    named = _by_name(filename)
    if _looks_like_text(head):
        return named if named and (named.startswith("text/") or named.endswith(("json", "xml"))) else "text/plain"
    return named or "application/octet-stream"


def extension_for(mime_type: str) -> str:
    return mimetypes.guess_extension(mime_type, strict=False) or ""
