"""What fetched bodies become (HTML → text, charsets, sniffing), and HTTPS to a pinned address:
the certificate is verified against the host name the URL named, sent as SNI."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from antiphon.services.web_fetch import FetchedPage, WebFetcher, WebFetchError, WebFetchSettings
from antiphon.services.web_fetch.content import build_page, declared_kind
from antiphon.services.web_fetch.html_text import html_to_text
from tests.unit.web_fetch_server import PageServer, response


def test_html_keeps_structure_and_drops_what_a_reader_never_sees() -> None:
    page = html_to_text("""<html><head><title> A &amp; B </title>
        <script>var x = "<p>script text</p>";</script></head><body>
        <header><h1>Main   title</h1></header>
        <nav><ul><li>Menu item</li></ul></nav>
        <div hidden>hidden text</div><span style="display: none">also hidden</span>
        <p>One<br>two</p>
        <ol><li>item<ul><li>nested</ul></ol>
        <table><tr><th>k<th>v<tr><td>a<td>1</table>
        <pre>  keep
     spacing</pre>
        <aside>related links</aside><footer>(c) 2025</footer></body></html>""")
    assert page.title == "A & B"
    assert page.text == (
        "# Main title\n\nOne\ntwo\n\n- item\n  - nested\n\nk | v\na | 1\n\n  keep\n     spacing"
    )


def test_an_unclosed_paragraph_marked_hidden_does_not_hide_the_rest() -> None:
    assert html_to_text("<p hidden>a<p>b<div>c</div>").text == "a\n\nb\n\nc"


def test_markup_the_standard_parser_chokes_on_is_skipped() -> None:
    page = html_to_text("<title>First</title><![bogus[ x ]]><p>kept<title>Second</title></p>")
    assert (page.title, page.text) == ("First", "kept")


def test_a_page_without_a_title() -> None:
    page = html_to_text("<p>just text</p>")
    assert (page.title, page.text) == (None, "just text")


@pytest.mark.parametrize(("content_type", "kind"), [
    ("text/html; charset=utf-8", "html"), ("application/xhtml+xml", "html"),
    ("text/plain", "text"), ("text/markdown", "text"), ("text/csv", "text"),
    ("application/json", "text"), ("application/ld+json", "text"),
    ("application/pdf", "pdf"), (None, None), ("application/octet-stream", None),
])
def test_declared_kinds(content_type: str | None, kind: str | None) -> None:
    assert declared_kind(content_type) == kind


@pytest.mark.parametrize("content_type", [
    "image/png", "image/svg+xml", "video/mp4", "application/zip", "application/x-msdownload",
])
def test_unsupported_content_types(content_type: str) -> None:
    with pytest.raises(WebFetchError) as error:
        declared_kind(content_type)
    assert error.value.error_code == "unsupported_content_type"


def test_undeclared_bodies_are_told_from_their_first_bytes() -> None:
    assert build_page("u", None, None, b"%PDF-1.7 ...").media_type == "application/pdf"
    assert build_page("u", None, None, b"<!DOCTYPE html><title>T</title>").title == "T"
    assert build_page("u", None, None, "plain é".encode()).text == "plain é"
    with pytest.raises(WebFetchError, match="binary"):
        build_page("u", None, None, b"\x00\x01\x02\xff\xfe")


def test_html_charsets_come_from_the_header_then_the_meta_tag_then_utf8() -> None:
    latin = "<meta charset=windows-1252><p>café</p>".encode("cp1252")
    assert build_page("u", "text/html", "html", latin).text == "café"
    assert build_page("u", "text/html; charset=utf-8", "html", "<p>café</p>".encode()).text \
        == "café"
    assert build_page("u", "text/plain", "text", b"bad \xff byte").text == "bad \ufffd byte"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate from it for `secure.test` only (no IP address)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web fetch test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.test")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("secure.test")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return paths


def test_https_to_a_pinned_address_verifies_the_host_name(tmp_path: Path) -> None:
    ca, leaf, key = _certificates(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(leaf, key)
    server_names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, context: server_names.append(name)

    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    fetcher = WebFetcher(
        WebFetchSettings(allow=("127.0.0.1",)), resolver=resolve,
        ssl_context=ssl.create_default_context(cafile=str(ca)),
    )

    async def run() -> tuple[object, object, str]:
        async with PageServer({"/": response(200, b"secret", "text/plain")}, server_tls) as s:
            page = await fetcher.fetch(s.url(host="secure.test"))
            try:
                await fetcher.fetch(s.url())  # the certificate does not name 127.0.0.1
            except WebFetchError as error:
                return page, error, s.requests[0].headers["host"]
            raise AssertionError("a certificate for another name was accepted")

    page, error, host_header = asyncio.run(run())
    assert isinstance(page, FetchedPage) and page.text == "secret"
    assert host_header.startswith("secure.test:")
    assert server_names[0] == "secure.test"
    assert isinstance(error, WebFetchError) and error.error_code == "url_not_accessible"
