"""WebFetcher against real HTTP servers on 127.0.0.1. Loopback is refused by default, so the
tests that must succeed allow 127.0.0.1 as an operator would; the refusals run without it and
prove, from the server's record, that nothing was sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import pytest

from antiphon.services.web_fetch import FetchedPage, WebFetcher, WebFetchError, WebFetchSettings
from tests.unit.web_fetch_server import PageServer, Route, SeenRequest, redirect, response

LOCAL = ("127.0.0.1",)
PAGE = b"""<!doctype html><html><head><title>The  Page</title>
<script>document.write("tracking")</script><style>body { color: red }</style></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Heading</h1><p>Some <a href="/x">linked</a>   text.</p><ul><li>first</li><li>second</li></ul>
</body></html>"""


def _resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[Sequence[str]]]:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"{host}: name unknown")
        return table[host]
    return resolve


def _fetcher(
    allow: tuple[str, ...] = (), resolver: dict[str, list[str]] | None = None,
    max_bytes: int = 10 << 20, timeout_s: float = 20.0,
) -> WebFetcher:
    return WebFetcher(
        WebFetchSettings(allow=allow, max_bytes=max_bytes, timeout_s=timeout_s),
        resolver=_resolver(resolver) if resolver is not None else None,
    )


def _fetch(fetcher: WebFetcher, url: str, **filters: Sequence[str]) -> FetchedPage:
    return asyncio.run(fetcher.fetch(url, **filters))


def _refusal(fetcher: WebFetcher, url: str, **filters: Sequence[str]) -> WebFetchError:
    with pytest.raises(WebFetchError) as error:
        _fetch(fetcher, url, **filters)
    return error.value


def _serving(
    routes: Mapping[str, Route], use: Callable[[PageServer], Awaitable[object]],
) -> tuple[PageServer, object]:
    async def run() -> tuple[PageServer, object]:
        async with PageServer(routes) as server:
            try:
                return server, await use(server)
            except WebFetchError as error:
                return server, error
    return asyncio.run(run())


def test_an_html_page_becomes_its_title_and_readable_text() -> None:
    fetcher = _fetcher(LOCAL)
    server, page = _serving({"/": response(200, PAGE)}, lambda s: fetcher.fetch(s.url()))
    assert isinstance(page, FetchedPage)
    assert page.url == server.url() and page.media_type == "text/plain" and page.data is None
    assert page.title == "The Page"
    assert page.text == "# Heading\n\nSome linked text.\n\n- first\n- second"
    assert page.retrieved_at.tzinfo is not None
    assert server.requests[0].method == "GET"


def test_loopback_is_refused_unless_the_operator_allows_it() -> None:
    refused = _serving({"/": response(200, PAGE)}, lambda s: _fetcher().fetch(s.url()))
    server, error = refused
    assert isinstance(error, WebFetchError) and error.error_code == "url_not_allowed"
    assert "127.0.0.1 is a loopback address" in error.message
    assert server.requests == []
    _, page = _serving({"/": response(200, PAGE)}, lambda s: _fetcher(LOCAL).fetch(s.url()))
    assert isinstance(page, FetchedPage)


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "fd00::1", "::1"])
def test_a_name_resolving_to_a_private_address_is_refused(address: str) -> None:
    error = _refusal(_fetcher(resolver={"internal.test": [address]}), "http://internal.test/")
    assert error.error_code == "url_not_allowed"
    assert f"internal.test resolves to {address}" in error.message


def test_a_name_resolving_to_a_public_and_a_private_address_is_refused() -> None:
    fetcher = _fetcher(resolver={"mixed.test": ["93.184.216.34", "10.0.0.1"]})
    error = _refusal(fetcher, "http://mixed.test/")
    assert error.error_code == "url_not_allowed" and "10.0.0.1" in error.message


def test_an_ipv4_mapped_loopback_address_is_refused() -> None:
    error = _refusal(_fetcher(), "http://[::ffff:127.0.0.1]:8080/")
    assert error.error_code == "url_not_allowed"
    assert "IPv6 form of 127.0.0.1, a loopback address" in error.message


def test_the_connection_goes_to_the_checked_address_with_the_host_header_kept() -> None:
    fetcher = _fetcher(LOCAL, resolver={"pages.test": ["127.0.0.1"]})
    server, page = _serving(
        {"/doc?q=1": response(200, b"plain words", "text/plain")},
        lambda s: fetcher.fetch(s.url("/doc?q=1", host="pages.test")),
    )
    assert isinstance(page, FetchedPage) and page.text == "plain words"
    assert page.url == f"http://pages.test:{server.port}/doc?q=1"
    assert server.requests[0].headers["host"] == f"pages.test:{server.port}"


def test_a_redirect_to_the_metadata_address_is_refused_on_the_hop() -> None:
    routes = {"/go": redirect("http://169.254.169.254/latest/meta-data/")}
    server, error = _serving(routes, lambda s: _fetcher(LOCAL).fetch(s.url("/go")))
    assert isinstance(error, WebFetchError) and error.error_code == "url_not_allowed"
    assert "redirected to http://169.254.169.254/latest/meta-data/" in error.message
    assert "cloud metadata address" in error.message
    assert [r.path for r in server.requests] == ["/go"]


def test_redirects_are_checked_against_the_domain_filters() -> None:
    fetcher = _fetcher(LOCAL, resolver={"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})

    async def use(server: PageServer) -> object:
        server.routes["/"] = redirect(server.url("/", host="b.test"))
        return await fetcher.fetch(server.url("/", host="a.test"), blocked_domains=["b.test"])

    server, error = _serving({}, use)
    assert isinstance(error, WebFetchError) and "blocked by" in error.message
    assert len(server.requests) == 1


def test_five_redirects_are_followed_and_a_sixth_is_refused() -> None:
    routes: dict[str, Route] = {
        f"/hop/{n}": redirect(f"/hop/{n + 1}", status=301 + n % 2) for n in range(6)
    }
    routes["/hop/5"] = response(200, b"arrived", "text/plain")
    _, page = _serving(routes, lambda s: _fetcher(LOCAL).fetch(s.url("/hop/0")))
    assert isinstance(page, FetchedPage) and page.text == "arrived" and "/hop/5" in page.url
    routes["/hop/6"] = routes.pop("/hop/5")
    routes["/hop/5"] = redirect("/hop/6")
    server, error = _serving(routes, lambda s: _fetcher(LOCAL).fetch(s.url("/hop/0")))
    assert isinstance(error, WebFetchError) and error.error_code == "url_not_accessible"
    assert "more than 5 times" in error.message and len(server.requests) == 6


def test_an_endless_body_is_abandoned_past_max_bytes() -> None:
    sent = [0]

    async def endless(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        chunk = b"x" * 65_536
        while True:
            writer.write(chunk)
            await writer.drain()
            sent[0] += len(chunk)

    fetcher = _fetcher(LOCAL, max_bytes=1 << 20)
    started = time.monotonic()
    _, error = _serving({"/": endless}, lambda s: fetcher.fetch(s.url()))
    assert time.monotonic() - started < 10
    assert isinstance(error, WebFetchError) and error.error_code == "content_too_large"
    assert "larger than 1048576 bytes" in error.message
    assert sent[0] < 64 << 20  # the client stopped reading; only socket buffers were filled


def test_a_declared_length_over_max_bytes_is_refused_before_reading() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99999999999\r\n\r\n"
    _, error = _serving({"/": head + b"abc"}, lambda s: _fetcher(LOCAL).fetch(s.url()))
    assert isinstance(error, WebFetchError) and error.error_code == "content_too_large"
    assert "larger than" in error.message


def test_a_stalled_server_runs_into_the_timeout() -> None:
    async def stall(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome")
        await writer.drain()
        await asyncio.sleep(60)

    fetcher = _fetcher(LOCAL, timeout_s=0.5)
    started = time.monotonic()
    _, error = _serving({"/": stall}, lambda s: fetcher.fetch(s.url()))
    assert time.monotonic() - started < 10
    assert isinstance(error, WebFetchError) and error.error_code == "url_not_accessible"
    assert "0.5 s" in error.message or "timed out" in error.message


@pytest.mark.parametrize(("status", "code"), [
    (404, "url_not_accessible"), (500, "url_not_accessible"), (403, "url_not_accessible"),
    (429, "too_many_requests"),
])
def test_error_statuses(status: int, code: str) -> None:
    _, error = _serving({"/": response(status, b"no")}, lambda s: _fetcher(LOCAL).fetch(s.url()))
    assert isinstance(error, WebFetchError) and error.error_code == code
    assert str(status) in error.message


def test_an_image_is_an_unsupported_content_type() -> None:
    png = response(200, b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    _, error = _serving({"/": png}, lambda s: _fetcher(LOCAL).fetch(s.url()))
    assert isinstance(error, WebFetchError) and error.error_code == "unsupported_content_type"
    assert "image/png" in error.message


def test_a_pdf_is_returned_as_bytes() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"
    _, page = _serving(
        {"/a.pdf": response(200, pdf, "application/pdf")},
        lambda s: _fetcher(LOCAL).fetch(s.url("/a.pdf")),
    )
    assert isinstance(page, FetchedPage)
    assert (page.media_type, page.data, page.text) == ("application/pdf", pdf, None)


def test_text_is_decoded_with_the_declared_charset() -> None:
    body = "Grüße, «JSON»".encode("iso-8859-1", errors="replace")
    _, page = _serving(
        {"/": response(200, body, "application/json; charset=ISO-8859-1")},
        lambda s: _fetcher(LOCAL).fetch(s.url()),
    )
    assert isinstance(page, FetchedPage) and page.text == "Grüße, «JSON»"


def test_connection_refused_and_unknown_names_are_not_accessible() -> None:
    async def closed_port() -> int:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port: int = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return port

    port = asyncio.run(closed_port())
    error = _refusal(_fetcher(LOCAL), f"http://127.0.0.1:{port}/")
    assert error.error_code == "url_not_accessible" and "could not connect" in error.message
    error = _refusal(_fetcher(resolver={}), "http://nowhere.test/")
    assert error.error_code == "url_not_accessible" and "does not resolve" in error.message


def test_refusals_made_before_any_connection() -> None:
    fetcher = _fetcher(LOCAL)
    assert _refusal(fetcher, "https://example.com/" + "a" * 240).error_code == "url_too_long"
    assert _refusal(fetcher, "http://user@127.0.0.1/").error_code == "url_not_allowed"
    assert _refusal(fetcher, "file:///etc/passwd").error_code == "url_not_allowed"
    error = _refusal(fetcher, "http://127.0.0.1/", allowed_domains=["example.com"])
    assert error.error_code == "url_not_allowed" and "allowed_domains" in error.message
    bad = _refusal(fetcher, "http://127.0.0.1/", allowed_domains=["https://example.com"])
    assert bad.error_code == "invalid_tool_input"
    off = WebFetcher(WebFetchSettings(enabled=False))
    assert _refusal(off, "https://example.com/").error_code == "unavailable"
