"""A `document` content block → the text the model reads.

Every source the API defines is handled: plain text, content blocks, base64 plain text and
base64 PDF (text extracted with pypdf). Sources this server cannot read — URLs it would have to
fetch, Files API ids, images inside a document — are refused with a 400 that names the field
and says what to send instead, rather than being silently dropped.

Extraction is CPU work on untrusted bytes: it is synchronous and pure so the caller can run it
in a worker thread, and every way a PDF can fail becomes an `InvalidRequest`.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError

from antiphon.errors import InvalidRequest
from antiphon.protocol.content import (
    Base64Source,
    ContentSource,
    DocumentBlock,
    FileSource,
    PlainTextSource,
    TextBlock,
    URLSource,
)

MAX_PDF_PAGES = 100
PDF_MEDIA_TYPE = "application/pdf"
TEXT_MEDIA_TYPE = "text/plain"
SUPPORTED_MEDIA_TYPES = (PDF_MEDIA_TYPE, TEXT_MEDIA_TYPE)
# The PDF specification lets the `%PDF-` header start anywhere in the first 1024 bytes.
_PDF_HEADER_WINDOW = 1024

# pypdf logs a warning for every repairable defect (bad xref offsets, stray bytes …), which
# real-world PDFs are full of; those files still read fine, so the noise would only bury
# real problems in the server log. Errors still come through.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def document_text(block: DocumentBlock, path: str, model_id: str, index: int | None = None) -> str:
    """Render `block` (found at request path `path`) as a `<document>` the model reads.

    `index`, when given, is written as `<document index="N">` so that several documents in
    one prompt can be told apart and referred to.
    """
    if block.citations is not None and block.citations.enabled:
        raise InvalidRequest(
            f"{path}.citations.enabled: citations are not supported by model {model_id}; "
            "omit `citations` or set `enabled` to false"
        )
    return render_document(
        source_text(block, path, model_id), title=block.title, context=block.context, index=index
    )


def render_document(
    text: str, *, title: str | None = None, context: str | None = None, index: int | None = None
) -> str:
    """The `<document>` wrapper; title and context appear only when the client sent them."""
    opening = "<document>" if index is None else f'<document index="{index}">'
    lines = [opening]
    if title:
        lines.append(f"<source>{title}</source>")
    if context:
        lines.append(f"<document_context>{context}</document_context>")
    lines += ["<document_content>", text, "</document_content>", "</document>"]
    return "\n".join(lines)


def source_text(block: DocumentBlock, path: str, model_id: str) -> str:
    """The plain text carried by the block's source, whatever its kind."""
    source = block.source
    source_path = f"{path}.source"
    if isinstance(source, PlainTextSource):
        return source.data
    if isinstance(source, ContentSource):
        return _content_source_text(source, f"{source_path}.content", model_id)
    if isinstance(source, Base64Source):
        return _base64_source_text(source, source_path, model_id)
    if isinstance(source, URLSource):
        raise InvalidRequest(
            f"{source_path}: this server does not fetch URLs; send the document as base64 or text"
        )
    if isinstance(source, FileSource):  # services/file_sources.py inlines them first
        raise InvalidRequest(f"{source_path}: file {source.file_id!r} could not be read")
    raise InvalidRequest(f"{source_path}: unsupported document source `{source.type}`")


def _content_source_text(source: ContentSource, path: str, model_id: str) -> str:
    if isinstance(source.content, str):
        return source.content
    parts: list[str] = []
    for position, item in enumerate(source.content):
        if not isinstance(item, TextBlock):
            raise InvalidRequest(
                f"{path}.{position}: model {model_id} does not support images; "
                "send the document's content as text blocks"
            )
        parts.append(item.text)
    return "\n\n".join(parts)


def _base64_source_text(source: Base64Source, path: str, model_id: str) -> str:
    if source.media_type not in SUPPORTED_MEDIA_TYPES:
        raise InvalidRequest(
            f"{path}.media_type: `{source.media_type}` documents are not supported; "
            f"send one of {', '.join(SUPPORTED_MEDIA_TYPES)}"
        )
    raw = _decode_base64(source.data, f"{path}.data")
    if source.media_type == TEXT_MEDIA_TYPE:
        return _decode_utf8(raw, f"{path}.data")
    return pdf_text(raw, f"{path}.data", model_id)


def _decode_base64(data: str, path: str) -> bytes:
    # Line breaks are common in base64 produced by command-line tools; anything else
    # outside the standard alphabet is a mistake worth reporting, not skipping.
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"{path}: not valid base64; encode the file with the standard base64 alphabet"
        ) from None


def _decode_utf8(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8-sig")  # a leading byte-order mark is not part of the text
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"{path}: the decoded bytes are not valid UTF-8 (at byte {exc.start}); "
            "send text/plain documents encoded as UTF-8"
        ) from None


def pdf_text(raw: bytes, path: str, model_id: str) -> str:
    """Text of a PDF, pages in order, each introduced by a `--- page N ---` line.

    Markers appear only for documents of more than one page: they let the model cite pages
    without adding noise to the common one-page case.
    """
    pages = _extract_pages(_open_pdf(raw, path), path)
    if not any(page.strip() for page in pages):
        raise InvalidRequest(
            f"{path}: the PDF contains no extractable text; it is probably a scanned "
            f"document, and model {model_id} cannot read images; send its text instead "
            "(for example after OCR)"
        )
    if len(pages) == 1:
        return pages[0].strip()
    return "\n\n".join(
        f"--- page {number} ---\n{page.strip()}".rstrip()
        for number, page in enumerate(pages, start=1)
    )


def _open_pdf(raw: bytes, path: str) -> PdfReader:
    if b"%PDF-" not in raw[:_PDF_HEADER_WINDOW]:
        raise InvalidRequest(
            f"{path}: the data is not a PDF (no %PDF- header); "
            "send the file's bytes base64-encoded, or use media_type text/plain for text"
        )
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            # Many PDFs are encrypted only against editing: the empty user password opens them.
            reader.decrypt("")
        page_count = len(reader.pages)
    except FileNotDecryptedError:
        raise _encrypted(path) from None
    except Exception:  # noqa: BLE001 — any failure inside pypdf means the file is unreadable
        raise _corrupt(path) from None
    if page_count == 0:
        raise _corrupt(path)
    if page_count > MAX_PDF_PAGES:
        raise InvalidRequest(
            f"{path}: the PDF has {page_count} pages, more than the {MAX_PDF_PAGES} "
            "supported; split it into several documents"
        )
    return reader


def _extract_pages(reader: PdfReader, path: str) -> list[str]:
    try:
        return [page.extract_text() or "" for page in reader.pages]
    except FileNotDecryptedError:
        raise _encrypted(path) from None
    except Exception:  # noqa: BLE001 — see _open_pdf
        raise _corrupt(path) from None


def _encrypted(path: str) -> InvalidRequest:
    return InvalidRequest(
        f"{path}: the PDF is encrypted with a password and cannot be opened; "
        "send an unencrypted copy"
    )


def _corrupt(path: str) -> InvalidRequest:
    return InvalidRequest(
        f"{path}: the PDF is damaged and could not be read; "
        "check that the whole file was base64-encoded, or send its text instead"
    )
