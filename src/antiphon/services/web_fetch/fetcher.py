"""`WebFetcher`: one GET of a URL the model asked for, made by the server, guarded hop by hop.

Each hop (the URL, then every redirect) is checked in full before anything is sent: syntax
and scheme, the request's domain filters, then every address the host resolves to against the
address policy. The connection goes to one of those checked addresses (the URL names the
address; `Host` and TLS SNI name the host, so certificates are verified against the host
name): a DNS answer that changes between check and connect has nothing to change. Redirects
are followed here, never by httpx, so that no hop escapes the checks.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from antiphon.services.web_fetch.content import FetchedPage, build_page, declared_kind
from antiphon.services.web_fetch.errors import WebFetchError
from antiphon.services.web_fetch.policy import (
    Allowlist,
    DomainFilters,
    IPAddress,
    Target,
    check_addresses,
    literal_address,
    parse_target,
)

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) → the host's addresses as text; raises OSError when the name does not resolve."""

USER_AGENT = "Mozilla/5.0 (compatible; antiphon-web-fetch/0.1)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.9,*/*;q=0.5"


@dataclass(frozen=True)
class WebFetchSettings:
    """`allow`: `--web-fetch-allow` entries (host, `*.suffix`, IP, CIDR) exempt from the
    address policy. `timeout_s` bounds the whole fetch, redirects and body included."""

    enabled: bool = True
    allow: tuple[str, ...] = ()
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0
    connect_timeout_s: float = 5.0
    max_redirects: int = 5


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver, run off the event loop by asyncio."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def pinned_url(target: Target, address: IPAddress) -> httpx.URL:
    """The target's URL with its host replaced by the checked address."""
    return target.url.copy_with(host=str(address))


class WebFetcher:
    """Safe to share between requests: it holds settings only, and each hop opens its own
    connection (a pooled one could carry a request for one host over TLS made for another)."""

    def __init__(
        self, settings: WebFetchSettings, resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._allow = Allowlist.parse(settings.allow)  # ValueError: a bad flag fails start-up
        self._resolve = resolver or resolve_host
        self._ssl = ssl_context or httpx.create_ssl_context()
        self._timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)

    async def fetch(
        self, url: str, allowed_domains: Sequence[str] = (), blocked_domains: Sequence[str] = (),
    ) -> FetchedPage:
        """The page at `url` after redirects; raises WebFetchError, never anything else."""
        if not self._settings.enabled:
            raise WebFetchError("unavailable", "web fetch is turned off on this server")
        try:
            filters = DomainFilters.parse(allowed_domains, blocked_domains)
        except ValueError as error:
            raise WebFetchError("invalid_tool_input", str(error)) from None
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                return await self._follow(url, filters)
        except TimeoutError:
            raise WebFetchError(
                "url_not_accessible",
                f"fetching {url} took longer than {self._settings.timeout_s:g} s",
            ) from None

    async def _follow(self, url: str, filters: DomainFilters) -> FetchedPage:
        current = url
        for hop in range(self._settings.max_redirects + 1):
            try:
                target = parse_target(current)
                filters.check(target)
                addresses = await self._checked_addresses(target)
                outcome = await self._get(target, addresses)
            except WebFetchError as error:
                if hop == 0:
                    raise
                raise WebFetchError(
                    error.error_code, f"{url} redirected to {current}: {error.message}"
                ) from None
            if isinstance(outcome, FetchedPage):
                return outcome
            current = outcome
        raise WebFetchError(
            "url_not_accessible",
            f"{url} redirected more than {self._settings.max_redirects} times",
        )

    async def _checked_addresses(self, target: Target) -> list[IPAddress]:
        literal = target.literal
        if literal is not None:
            addresses = [literal]
        else:
            try:
                found = await self._resolve(target.host, target.port)
            except OSError as error:
                raise WebFetchError(
                    "url_not_accessible",
                    f"{target.host} does not resolve: {error.strerror or error}",
                ) from None
            parsed = [literal_address(text.partition("%")[0]) for text in found]
            addresses = [address for address in parsed if address is not None]
            if not addresses or len(addresses) != len(parsed):
                raise WebFetchError(
                    "url_not_accessible", f"{target.host} resolves to no usable address"
                )
        check_addresses(target, addresses, self._allow)
        return addresses

    async def _get(self, target: Target, addresses: Sequence[IPAddress]) -> FetchedPage | str:
        """The page, or the URL a redirect points to. Addresses are tried in the resolver's
        order until one accepts the connection (a host's IPv6 address may be unreachable)."""
        failures: list[str] = []
        for address in addresses:
            try:
                return await self._get_from(target, address)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                failures.append(f"{address}: {error or type(error).__name__}")
        raise WebFetchError(
            "url_not_accessible",
            f"could not connect to {target.host} port {target.port} ({'; '.join(failures)})",
        )

    async def _get_from(self, target: Target, address: IPAddress) -> FetchedPage | str:
        headers = {
            "Host": target.url.netloc.decode("ascii"), "User-Agent": USER_AGENT,
            "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate",
        }
        named_tls = target.url.scheme == "https" and target.literal is None
        extensions = {"sni_hostname": target.host} if named_tls else {}
        async with httpx.AsyncClient(
            verify=self._ssl, trust_env=False, follow_redirects=False, timeout=self._timeout,
        ) as client:
            request = client.build_request(
                "GET", pinned_url(target, address), headers=headers, extensions=extensions
            )
            try:
                response = await client.send(request, stream=True)
                try:
                    return await self._read(target, response)
                finally:
                    await response.aclose()
            except (httpx.ConnectError, httpx.ConnectTimeout):
                raise
            except httpx.TimeoutException as error:
                raise WebFetchError(
                    "url_not_accessible", f"{target.url} timed out ({type(error).__name__})"
                ) from None
            except httpx.HTTPError as error:
                raise WebFetchError(
                    "url_not_accessible", f"{target.url} failed: {error or type(error).__name__}"
                ) from None

    async def _read(self, target: Target, response: httpx.Response) -> FetchedPage | str:
        status = response.status_code
        location = response.headers.get("location")
        if status in _REDIRECTS and location:
            try:
                return str(target.url.join(location))
            except httpx.InvalidURL:
                raise WebFetchError(
                    "url_not_accessible", f"{target.url} redirects to an invalid URL"
                ) from None
        if status == 429:
            raise WebFetchError("too_many_requests", f"{target.url} answered HTTP 429")
        if not 200 <= status < 300:
            raise WebFetchError(
                "url_not_accessible",
                f"{target.url} answered HTTP {status} {response.reason_phrase}".rstrip(),
            )
        content_type = response.headers.get("content-type")
        kind = declared_kind(content_type)
        body = await self._body(target, response)
        # Off the event loop: 10 MiB of HTML takes seconds of CPU to turn into text.
        return await asyncio.to_thread(build_page, str(target.url), content_type, kind, body)

    async def _body(self, target: Target, response: httpx.Response) -> bytes:
        """Reads at most `max_bytes` (decoded); a longer body is abandoned, not buffered."""
        limit = self._settings.max_bytes
        too_large = WebFetchError(
            "content_too_large", f"{target.url} is larger than {limit} bytes, the most read"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)
