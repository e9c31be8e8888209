"""Which destinations the web fetch tool may reach.

Two independent gates, both checked on every hop of a fetch:
- the address policy (the operator's): only globally routable addresses, unless the operator's
  allowlist (`--web-fetch-allow`) names the host or its network. IPv6 forms that carry an IPv4
  address (`::ffff:127.0.0.1`, 6to4, NAT64) are judged as the IPv4 address they reach;
- the domain filters (the request's `allowed_domains` / `blocked_domains`): `example.com`
  covers its subdomains, `example.com/blog` only paths at or below `/blog`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from antiphon.services.web_fetch.errors import WebFetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 250
ALLOW_FLAG = "--web-fetch-allow"

_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))


def normal_host(host: str) -> str:
    """The form hosts are compared in: IDNA-encoded, lower case, no brackets or final dot,
    so that `Example.COM.` cannot slip past a rule written `example.com`."""
    host = host.strip().strip("[]").rstrip(".")
    if not host:
        raise ValueError("empty host")
    try:
        encoded = httpx.URL(f"http://[{host}]/" if ":" in host else f"http://{host}/").raw_host
    except httpx.InvalidURL as error:
        raise ValueError(f"{host!r} is not a valid host name: {error}") from None
    normal = encoded.decode("ascii").lower().rstrip(".")
    if literal_address(normal) is None and not _HOST_NAME.fullmatch(normal):
        raise ValueError(f"{host!r} is not a valid host name")
    return normal


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv6 form reaches (mapped, 6to4, NAT64, IPv4-compatible)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _special_kind(address: IPAddress) -> str | None:
    checks: list[tuple[bool, str]] = [
        (address in _METADATA, "the cloud metadata address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in _SHARED_ADDRESS_SPACE, "a shared (carrier-grade NAT) address"),
        (address.is_private, "a private address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
         "a site-local address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a special-purpose address that is not globally routable"),
    ]
    return next((kind for refused, kind in checks if refused), None)


def address_refusal(address: IPAddress) -> str | None:
    """What makes `address` unfit to fetch by default ("a loopback address"); None when it is
    an ordinary global address."""
    inner = embedded_ipv4(address)
    if inner is None:
        return _special_kind(address)
    kind = _special_kind(inner)
    return f"an IPv6 form of {inner}, {kind}" if kind else None


@dataclass(frozen=True)
class Allowlist:
    """The operator's exceptions to the address policy: host names (`intranet.example`),
    wildcards (`*.corp.example`: subdomains only, not `corp.example` itself), addresses and
    networks (`10.0.0.0/8`). A host or network named here is trusted completely."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Allowlist:
        """Raises ValueError naming the first entry that is none of the four forms."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().strip("[]")
            try:
                if "/" in text:
                    networks.append(ipaddress.ip_network(text, strict=False))
                elif (address := literal_address(text)) is not None:
                    networks.append(ipaddress.ip_network(address))
                elif text.startswith("*."):
                    suffixes.append("." + normal_host(text[2:]))
                else:
                    hosts.add(normal_host(text))
            except ValueError as error:
                raise ValueError(f"{ALLOW_FLAG} {entry!r}: {error}") from None
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def admits_host(self, host: str) -> bool:
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.suffixes)

    def admits_address(self, address: IPAddress) -> bool:
        forms = [address, embedded_ipv4(address)]
        return any(form in network for form in forms if form for network in self.networks)


@dataclass(frozen=True)
class Target:
    """One URL that passed the syntactic checks: `host` is in `normal_host` form."""

    url: httpx.URL
    host: str
    port: int

    @property
    def literal(self) -> IPAddress | None:
        return literal_address(self.host)

    @property
    def path(self) -> str:
        """The decoded path with dot segments removed: what a server would serve, so that
        `/blog/../shop` and `/%62log` are judged as `/shop` and `/blog`."""
        segments: list[str] = []
        for segment in (self.url.path or "/").split("/")[1:]:
            if segment == "..":
                segments = segments[:-1]
            elif segment != ".":
                segments.append(segment)
        return "/" + "/".join(segments)


def parse_target(raw: str) -> Target:
    """Checks what can be told from the URL alone: length, syntax, scheme, no credentials."""
    if len(raw) > MAX_URL_LENGTH:
        raise WebFetchError(
            "url_too_long", f"the URL is {len(raw)} characters long; at most {MAX_URL_LENGTH} "
            "are fetched"
        )
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise WebFetchError("invalid_tool_input", f"{raw!r} is not a valid URL: {error}") from None
    if url.scheme and url.scheme not in ("http", "https"):
        raise WebFetchError(
            "url_not_allowed", f"only http and https URLs are fetched, not {url.scheme}: URLs"
        )
    if not url.is_absolute_url:
        raise WebFetchError(
            "invalid_tool_input", f"{raw!r} is not an absolute URL (write https://{raw})"
        )
    if url.userinfo:
        raise WebFetchError(
            "url_not_allowed", "URLs with credentials (user@host) are not fetched"
        )
    try:
        host = normal_host(url.host)
    except ValueError as error:
        raise WebFetchError("invalid_tool_input", f"{raw!r}: {error}") from None
    return Target(url, host, url.port or (443 if url.scheme == "https" else 80))


def check_addresses(target: Target, addresses: Sequence[IPAddress], allow: Allowlist) -> None:
    """Refuses the target if ANY of its addresses is forbidden: the connection may go to any
    of them, and a name that resolves to one public and one private address is an attack."""
    if allow.admits_host(target.host):
        return
    for address in addresses:
        reason = None if allow.admits_address(address) else address_refusal(address)
        if reason is None:
            continue
        subject = f"{address} is" if target.literal else f"{target.host} resolves to {address},"
        raise WebFetchError(
            "url_not_allowed",
            f"{subject} {reason}; an operator may allow it with {ALLOW_FLAG}",
        )


@dataclass(frozen=True)
class DomainRule:
    """One `allowed_domains` / `blocked_domains` entry: a host (covering its subdomains) and
    an optional path prefix, matched at segment boundaries; `*` in the path matches any text."""

    entry: str
    host: str
    path: re.Pattern[str] | None

    @classmethod
    def parse(cls, entry: str) -> DomainRule:
        text = entry.strip()
        if "://" in text:
            raise ValueError(
                f"domain {entry!r}: write domains without a scheme (example.com, not "
                "https://example.com)"
            )
        host_part, slash, path_part = text.partition("/")
        if "*" in host_part or "@" in host_part or ":" in host_part.strip("[]"):
            raise ValueError(
                f"domain {entry!r}: the domain part is a plain host name; it covers its "
                "subdomains without a wildcard"
            )
        host = normal_host(host_part)
        if not slash or not path_part.strip("/*"):
            return cls(entry, host, None)
        pieces = [re.escape(piece) for piece in ("/" + path_part).split("*")]
        open_end = path_part.endswith(("/", "*"))
        pattern = ".*".join(pieces) + ("" if open_end else "(?:/.*)?\\Z")
        return cls(entry, host, re.compile(pattern, re.DOTALL))

    def matches(self, target: Target) -> bool:
        host = target.host
        if host != self.host and not host.endswith("." + self.host):
            return False
        return self.path is None or self.path.match(target.path) is not None


@dataclass(frozen=True)
class DomainFilters:
    allowed: tuple[DomainRule, ...] = ()
    blocked: tuple[DomainRule, ...] = ()

    @classmethod
    def parse(cls, allowed: Sequence[str], blocked: Sequence[str]) -> DomainFilters:
        """Raises ValueError naming the first malformed entry."""
        return cls(
            tuple(DomainRule.parse(entry) for entry in allowed),
            tuple(DomainRule.parse(entry) for entry in blocked),
        )

    def check(self, target: Target) -> None:
        shown = f"{target.host}{target.path}"
        if self.allowed and not any(rule.matches(target) for rule in self.allowed):
            raise WebFetchError(
                "url_not_allowed", f"{shown} is not covered by allowed_domains "
                f"({', '.join(rule.entry for rule in self.allowed)})"
            )
        blocking = next((rule for rule in self.blocked if rule.matches(target)), None)
        if blocking is not None:
            raise WebFetchError(
                "url_not_allowed", f"{shown} is blocked by the blocked_domains entry "
                f"{blocking.entry!r}"
            )
