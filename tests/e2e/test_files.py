"""The Files API end to end with the official SDK, on SQLite and PostgreSQL: upload, list
(both pagination styles), metadata, download, delete, workspace isolation, file sources in
messages, and bad uploads answered clearly with nothing half-stored."""

from __future__ import annotations

import http.client
import io
from collections.abc import Iterator
from urllib.parse import urlsplit

import anthropic
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    assert_cursor_is_no_object,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import database_url

NOTES = "The lighthouse keeper's name is Ada. She lights the lamp at dusk.\n"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with database_url(request.param) as url:
        process, server = start_platform_server(tmp_path_factory.mktemp("files"), f"files-{request.param}", url)
        yield server
        stop_server(process)


@pytest.fixture(scope="module")
def keys(platform: PlatformServer) -> tuple[str, str]:
    """Keys of two workspaces."""
    with platform.admin() as admin:
        return tuple(create_key(admin, f"files {i}", create_workspace(admin, f"files {i}")["id"])["key"]
                     for i in range(2))  # type: ignore[return-value]


def _pdf(text: str) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import ContentStream, DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=100)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 10 50 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(ContentStream(stream, writer))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_upload_list_metadata_download_delete(platform: PlatformServer, keys: tuple[str, str]) -> None:
    client = platform.client(keys[0])
    uploaded = client.files.upload(file=("notes.txt", NOTES.encode(), "text/plain"))
    assert uploaded.type == "file" and uploaded.id.startswith("file_")
    assert (uploaded.filename, uploaded.mime_type, uploaded.size_bytes) == ("notes.txt", "text/plain", len(NOTES))
    assert uploaded.downloadable is True
    assert client.files.retrieve_metadata(uploaded.id).model_dump() == uploaded.model_dump()
    assert client.files.download(uploaded.id).read() == NOTES.encode()
    assert uploaded.id in [f.id for f in client.files.list()]
    deleted = client.files.delete(uploaded.id)
    assert deleted.id == uploaded.id and deleted.type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.files.retrieve_metadata(uploaded.id)
    with pytest.raises(anthropic.NotFoundError):
        client.files.download(uploaded.id)
    with pytest.raises(anthropic.NotFoundError):
        client.files.delete(uploaded.id)


def test_the_type_comes_from_the_bytes_and_the_name_is_only_its_last_part(
    platform: PlatformServer, keys: tuple[str, str]
) -> None:
    client = platform.client(keys[0])
    pdf = client.files.upload(file=("../../etc/report.txt", _pdf("hello"), "application/octet-stream"))
    assert pdf.mime_type == "application/pdf" and pdf.filename == "report.txt"
    png = client.files.upload(file=("picture", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "text/plain"))
    assert png.mime_type == "image/png" and png.filename == "picture"
    markdown = client.files.upload(file=("readme.md", b"# Title\n\nText.\n", "application/octet-stream"))
    assert markdown.mime_type == "text/markdown"
    unnamed = client.files.upload(file=("", b"plain words", "application/octet-stream"))
    assert unnamed.filename.startswith("unnamed") and unnamed.mime_type == "text/plain"


def test_both_pagination_styles(platform: PlatformServer) -> None:
    with platform.admin() as admin:
        key = create_key(admin, "pager", create_workspace(admin, "pager")["id"])["key"]
    client = platform.client(key)
    made = [client.files.upload(file=(f"f{i}.txt", f"file {i}".encode(), "text/plain")).id for i in range(5)]
    newest_first = list(reversed(made))
    assert [f.id for f in client.files.list(limit=2)] == newest_first  # the SDK follows next_page
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == newest_first[:2] and first.next_page == f"page_{newest_first[1]}"
    with platform.raw(key) as raw:
        older = raw.get("/v1/files", params={"limit": 2, "after_id": newest_first[1]}).json()
        assert [f["id"] for f in older["data"]] == newest_first[2:4] and older["has_more"]
        assert older["first_id"] == newest_first[2] and older["last_id"] == newest_first[3]
        newer = raw.get("/v1/files", params={"limit": 2, "before_id": newest_first[2]}).json()
        assert [f["id"] for f in newer["data"]] == newest_first[:2]
        picked = raw.get("/v1/files", params={"ids[]": [made[0], "file_unknown", made[2]]}).json()
        assert {f["id"] for f in picked["data"]} == {made[0], made[2]} and picked["next_page"] is None
        assert raw.get("/v1/files", params={"page": "bogus"}).status_code == 400


def test_another_workspaces_file_is_not_found_anywhere(platform: PlatformServer, keys: tuple[str, str]) -> None:
    mine, theirs = platform.client(keys[0]), platform.client(keys[1])
    secret = mine.files.upload(file=("secret.txt", b"only for workspace 0", "text/plain"))
    for attempt in (lambda: theirs.files.retrieve_metadata(secret.id), lambda: theirs.files.download(secret.id),
                    lambda: theirs.files.delete(secret.id)):
        with pytest.raises(anthropic.NotFoundError) as refused:
            attempt()
        assert refused.value.body["error"]["message"] == f"file_id: no file with id {secret.id!r}"  # type: ignore[index]
    assert secret.id not in [f.id for f in theirs.files.list()]
    assert_cursor_is_no_object(platform, keys[1], "/v1/files", secret.id)
    block = {"type": "document", "source": {"type": "file", "file_id": secret.id}}
    with pytest.raises(anthropic.BadRequestError, match=secret.id):
        theirs.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": [block]}])  # type: ignore[list-item]
    assert mine.files.download(secret.id).read() == b"only for workspace 0"  # still there


def test_a_file_source_reads_like_the_same_bytes_sent_inline(platform: PlatformServer, keys: tuple[str, str]) -> None:
    client = platform.client(keys[0])
    text_file = client.files.upload(file=("notes.txt", NOTES.encode(), "text/plain"))
    pdf_file = client.files.upload(file=("notes.pdf", _pdf("Ada lights the lamp"), "application/pdf"))
    import base64

    def count(source: dict) -> int:
        content = [{"type": "document", "source": source}, {"type": "text", "text": "Who is the keeper?"}]
        return client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": content}]).input_tokens  # type: ignore[list-item]

    assert count({"type": "file", "file_id": text_file.id}) == count({"type": "text", "media_type": "text/plain", "data": NOTES})
    inline_pdf = {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(_pdf("Ada lights the lamp")).decode()}
    assert count({"type": "file", "file_id": pdf_file.id}) == count(inline_pdf)
    answer = client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": text_file.id}},
        {"type": "text", "text": "Who is the keeper?"}]}])  # type: ignore[list-item]
    assert answer.usage.input_tokens > len(NOTES) // 8
    client.files.delete(text_file.id)
    with pytest.raises(anthropic.BadRequestError, match=text_file.id):
        count({"type": "file", "file_id": text_file.id})
    with pytest.raises(anthropic.BadRequestError, match="file_nope"):
        count({"type": "file", "file_id": "file_nope"})


def test_inlined_files_are_bounded_per_request_from_their_metadata(
    platform: PlatformServer, keys: tuple[str, str]
) -> None:
    """12 MB named three times is 36 MB inlined: refused, naming the block that crossed 32 MB,
    from the stored size alone (its bytes are gone from disk, and the answer is still the
    size refusal, not a failed read)."""
    client = platform.client(keys[0])
    big = client.files.upload(file=("big.txt", b"lighthouse " * (12 * 1024 * 1024 // 11), "text/plain"))
    (platform.data_dir / "blobs" / "files" / big.id).unlink()
    document = {"type": "document", "source": {"type": "file", "file_id": big.id}}
    content = [document, document, document, {"type": "text", "text": "Summarise."}]
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": content}])  # type: ignore[list-item]
    message = refused.value.body["error"]["message"]  # type: ignore[index]
    assert message.startswith("messages.0.content.2.source: ") and big.id in message and "32 MB" in message
    client.files.delete(big.id)


def _blob_temporaries(platform: PlatformServer) -> list[str]:
    tmp = platform.data_dir / "blobs" / "tmp"
    return sorted(path.name for path in tmp.iterdir()) if tmp.exists() else []


@pytest.mark.parametrize(("body", "content_type", "words"), [
    (b'{"file": "x"}', "application/json", "multipart/form-data"),
    (b"--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b", "file: required"),
    (b"--b\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b", "part named `file`"),
    (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.txt\"\r\n\r\ny\r\n--b--\r\n", "multipart/form-data; boundary=b", "one file per request"),
    (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nunfinished", "multipart/form-data; boundary=b", "closing boundary"),
    (b"garbage without any boundary", "multipart/form-data; boundary=b", "malformed multipart"),
    (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"expires_in_seconds\"\r\n\r\n60\r\n--b--\r\n", "multipart/form-data; boundary=b", "expires_in_seconds"),
])
def test_bad_uploads_get_clear_errors_and_store_nothing(
    platform: PlatformServer, keys: tuple[str, str], body: bytes, content_type: str, words: str
) -> None:
    client = platform.client(keys[1])
    before = [f.id for f in client.files.list(limit=1000)]
    with platform.raw(keys[1]) as raw:
        response = raw.post("/v1/files", content=body, headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
    assert [f.id for f in client.files.list(limit=1000)] == before
    assert _blob_temporaries(platform) == []


def test_a_body_over_500_mb_is_refused_before_it_is_read(platform: PlatformServer, keys: tuple[str, str]) -> None:
    parts = urlsplit(platform.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", "/v1/files")
    for name, value in (("x-api-key", keys[0]), ("anthropic-version", "2023-06-01"),
                        ("content-type", "multipart/form-data; boundary=b"),
                        ("content-length", str(501 * 1024 * 1024))):
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and b"request_too_large" in response.read()
    connection.close()


def test_an_expiring_upload_reports_its_expiry(platform: PlatformServer, keys: tuple[str, str]) -> None:
    with platform.raw(keys[0]) as raw:
        response = raw.post("/v1/files", files={"file": ("e.txt", b"soon gone", "text/plain")},
                            data={"expires_in_seconds": "3600"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_at"] is not None and body["expires_at"] > body["created_at"]
