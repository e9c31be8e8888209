"""document blocks → model text: every source kind, and every way a PDF can be refused."""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from antiphon.chat.documents import MAX_PDF_PAGES, document_text
from antiphon.errors import InvalidRequest
from antiphon.protocol.content import DocumentBlock

PATH = "messages.2.content.0"
MODEL = "test-model"


def make_pdf(pages: list[str | None]) -> bytes:
    """A minimal valid PDF written by hand: one page per item, showing that text.

    None makes a page that only paints a rectangle, like a scanned page: no text to extract.
    Offsets in the xref table are computed, so the file needs no repair to be read.
    """
    page_count = len(pages)
    font_id = 3 + 2 * page_count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(page_count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {page_count} >>".encode(),
    ]
    for i, text in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R"
            f" /Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        content = b"0 0 100 100 re f" if text is None else f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        data = content if isinstance(content, bytes) else content.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _assemble(objects)


def _assemble(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def block(source: dict[str, Any], **fields: Any) -> DocumentBlock:
    return DocumentBlock.model_validate({"type": "document", "source": source, **fields})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pdf_block(pdf: bytes, **fields: Any) -> DocumentBlock:
    return block({"type": "base64", "media_type": "application/pdf", "data": b64(pdf)}, **fields)


def refusal(document: DocumentBlock) -> str:
    with pytest.raises(InvalidRequest) as caught:
        document_text(document, PATH, MODEL)
    return caught.value.message


def test_plain_text_source_renders_inside_document_tags() -> None:
    document = block({"type": "text", "media_type": "text/plain", "data": "The grass is green."})
    assert document_text(document, PATH, MODEL) == (
        "<document>\n<document_content>\nThe grass is green.\n</document_content>\n</document>"
    )


def test_title_and_context_appear_only_when_given() -> None:
    source = {"type": "text", "media_type": "text/plain", "data": "body"}
    text = document_text(block(source, title="Report", context="from 2024"), PATH, MODEL)
    assert text == (
        "<document>\n<source>Report</source>\n"
        "<document_context>from 2024</document_context>\n"
        "<document_content>\nbody\n</document_content>\n</document>"
    )
    only_context = document_text(block(source, context="ctx"), PATH, MODEL)
    assert "<source>" not in only_context and "<document_context>ctx" in only_context


def test_index_is_written_when_given() -> None:
    document = block({"type": "text", "media_type": "text/plain", "data": "x"})
    assert document_text(document, PATH, MODEL, index=2).startswith('<document index="2">\n')


def test_content_source_string_and_text_blocks() -> None:
    assert "\nplain\n" in document_text(block({"type": "content", "content": "plain"}), PATH, MODEL)
    blocks = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    text = document_text(block({"type": "content", "content": blocks}), PATH, MODEL)
    assert "<document_content>\nfirst\n\nsecond\n</document_content>" in text


def test_image_inside_content_source_is_refused() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}}
    message = refusal(block({"type": "content", "content": [{"type": "text", "text": "a"}, image]}))
    assert message.startswith(f"{PATH}.source.content.1: model {MODEL} does not support images")


def test_base64_plain_text_is_decoded_as_utf8() -> None:
    data = b64("\ufeffcafé ☕\nline two".encode())
    document = block({"type": "base64", "media_type": "text/plain", "data": data})
    assert "\ncafé ☕\nline two\n" in document_text(document, PATH, MODEL)


def test_base64_plain_text_that_is_not_utf8_is_refused() -> None:
    document = block({"type": "base64", "media_type": "text/plain", "data": b64(b"\xff\xfe\xfa")})
    assert refusal(document).startswith(
        f"{PATH}.source.data: the decoded bytes are not valid UTF-8"
    )


def test_base64_with_line_breaks_is_accepted() -> None:
    encoded = base64.encodebytes(b"x" * 200).decode("ascii")  # wrapped at 76 columns
    assert "\n" in encoded.strip()
    document = block({"type": "base64", "media_type": "text/plain", "data": encoded})
    assert "x" * 200 in document_text(document, PATH, MODEL)


@pytest.mark.parametrize("data", ["not base64!", "abc", "YWJj*GVm"])
def test_invalid_base64_is_refused(data: str) -> None:
    document = block({"type": "base64", "media_type": "application/pdf", "data": data})
    assert refusal(document).startswith(f"{PATH}.source.data: not valid base64")


def test_unsupported_media_type_names_the_supported_ones() -> None:
    document = block({"type": "base64", "media_type": "application/msword", "data": b64(b"x")})
    message = refusal(document)
    assert message.startswith(f"{PATH}.source.media_type: `application/msword`")
    assert "application/pdf" in message and "text/plain" in message


def test_pdf_pages_are_extracted_in_order_with_page_markers() -> None:
    text = document_text(pdf_block(make_pdf(["Hello page one", "Goodbye page two"])), PATH, MODEL)
    assert "--- page 1 ---\nHello page one\n\n--- page 2 ---\nGoodbye page two" in text
    assert text.startswith("<document>\n<document_content>\n--- page 1 ---")


def test_single_page_pdf_has_no_page_marker() -> None:
    text = document_text(pdf_block(make_pdf(["Only page"]), title="T"), PATH, MODEL)
    assert text == (
        "<document>\n<source>T</source>\n<document_content>\nOnly page\n"
        "</document_content>\n</document>"
    )


def test_pdf_with_a_blank_page_among_text_pages_is_read() -> None:
    text = document_text(pdf_block(make_pdf(["first", None, "third"])), PATH, MODEL)
    assert "--- page 2 ---\n\n--- page 3 ---\nthird" in text


def test_pdf_without_extractable_text_is_refused_as_probably_scanned() -> None:
    message = refusal(pdf_block(make_pdf([None, None])))
    assert message.startswith(f"{PATH}.source.data: the PDF contains no extractable text")
    assert "scanned" in message and f"model {MODEL} cannot read images" in message


def test_repairable_pdf_is_read_without_log_noise(caplog: pytest.LogCaptureFixture) -> None:
    pdf = make_pdf(["Hello", "World"])
    broken = pdf.replace(b"startxref\n", b"startxref\n1")  # a wrong xref offset: pypdf repairs
    with caplog.at_level(logging.DEBUG):
        text = document_text(pdf_block(broken), PATH, MODEL)
    assert "Hello" in text and "World" in text
    assert not [record for record in caplog.records if record.name.startswith("pypdf")]


@pytest.mark.parametrize(
    "raw",
    [
        make_pdf(["text"])[:40],
        b"%PDF-1.4\n" + bytes(range(256)) * 4,
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>",
    ],
    ids=["truncated", "garbage", "dangling-pages"],
)
def test_corrupt_pdf_is_refused(raw: bytes) -> None:
    assert refusal(pdf_block(raw)).startswith(f"{PATH}.source.data: the PDF is damaged")


def test_bytes_that_are_not_a_pdf_are_refused() -> None:
    message = refusal(pdf_block(b"just some text"))
    assert message.startswith(f"{PATH}.source.data: the data is not a PDF")


def test_pdf_encrypted_with_a_user_password_is_refused() -> None:
    message = refusal(pdf_block(encrypted(make_pdf(["secret text"]), user_password="pw")))
    assert message.startswith(f"{PATH}.source.data: the PDF is encrypted with a password")


def test_pdf_encrypted_only_against_editing_is_read() -> None:
    pdf = encrypted(make_pdf(["open to all"]), user_password="")
    assert "open to all" in document_text(pdf_block(pdf), PATH, MODEL)


def test_pdf_at_the_page_limit_is_read_and_one_more_is_refused() -> None:
    text = document_text(pdf_block(make_pdf(["p"] * MAX_PDF_PAGES)), PATH, MODEL)
    assert f"--- page {MAX_PDF_PAGES} ---\np" in text
    message = refusal(pdf_block(make_pdf(["p"] * (MAX_PDF_PAGES + 1))))
    assert message.startswith(f"{PATH}.source.data: the PDF has {MAX_PDF_PAGES + 1} pages")


def test_citations_enabled_is_refused() -> None:
    source = {"type": "text", "media_type": "text/plain", "data": "x"}
    message = refusal(block(source, citations={"enabled": True}))
    assert message.startswith(
        f"{PATH}.citations.enabled: citations are not supported by model {MODEL}"
    )
    assert "<document>" in document_text(block(source, citations={"enabled": False}), PATH, MODEL)


def test_url_source_is_refused() -> None:
    message = refusal(block({"type": "url", "url": "https://example.com/a.pdf"}))
    assert message == (
        f"{PATH}.source: this server does not fetch URLs; send the document as base64 or text"
    )


def test_a_file_source_left_unresolved_is_refused_naming_the_file() -> None:
    # The Messages use case inlines file sources before rendering; one that reaches the
    # renderer (no Files service) is refused rather than rendered as nothing.
    message = refusal(block({"type": "file", "file_id": "file_123"}))
    assert message == f"{PATH}.source: file 'file_123' could not be read"
