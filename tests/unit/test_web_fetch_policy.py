"""The web fetch policy without a network: which addresses are refused by default (and in
which disguises), what the operator's allowlist admits, how the request's domain filters match,
and the URL checks made before any lookup."""

from __future__ import annotations

import ipaddress

import pytest

from antiphon.services.web_fetch import WebFetchError
from antiphon.services.web_fetch.policy import (
    Allowlist,
    DomainFilters,
    address_refusal,
    check_addresses,
    parse_target,
)


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("100.64.0.1", "shared"),
    ("240.0.0.1", "private"),  # ipaddress files 240/4 ("reserved") among the private ranges
    ("fec0::1", "site-local"),
    ("192.0.2.1", "private"),  # documentation range
    ("2001:db8::1", "private"),
    ("::ffff:127.0.0.1", "IPv6 form of 127.0.0.1, a loopback"),
    ("::ffff:169.254.169.254", "IPv6 form of 169.254.169.254, the cloud metadata"),
    ("2002:7f00:1::", "IPv6 form of 127.0.0.1"),  # 6to4
    ("2002:a00:1::", "IPv6 form of 10.0.0.1, a private"),
    ("64:ff9b::a9fe:a9fe", "IPv6 form of 169.254.169.254"),  # NAT64
    ("::7f00:1", "IPv6 form of 127.0.0.1"),  # IPv4-compatible
])
def test_non_global_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::",
])
def test_global_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def _check(url: str, addresses: list[str], allow: tuple[str, ...] = ()) -> None:
    parsed = [ipaddress.ip_address(address) for address in addresses]
    check_addresses(parse_target(url), parsed, Allowlist.parse(allow))


def test_the_refusal_says_what_the_address_is_and_how_to_allow_it() -> None:
    with pytest.raises(WebFetchError) as literal:
        _check("http://127.0.0.1:8080/", ["127.0.0.1"])
    assert literal.value.error_code == "url_not_allowed"
    assert literal.value.message == (
        "127.0.0.1 is a loopback address; an operator may allow it with --web-fetch-allow"
    )
    with pytest.raises(WebFetchError) as named:
        _check("https://pages.test/", ["10.0.0.1"])
    assert named.value.message.startswith("pages.test resolves to 10.0.0.1, a private address;")


def test_one_forbidden_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(WebFetchError, match="169.254.169.254"):
        _check("https://mixed.test/", ["93.184.216.34", "169.254.169.254"])
    _check("https://public.test/", ["93.184.216.34", "2606:4700::1111"])


@pytest.mark.parametrize(("allow", "url", "addresses"), [
    (("127.0.0.1",), "http://127.0.0.1/", ["127.0.0.1"]),
    (("127.0.0.1",), "http://[::ffff:127.0.0.1]/", ["::ffff:127.0.0.1"]),
    (("10.0.0.0/8",), "http://wiki.test/", ["10.20.30.40"]),
    (("::1",), "http://[::1]/", ["::1"]),
    (("intranet.example",), "http://Intranet.Example./x", ["192.168.0.5"]),
    (("*.corp.example",), "http://git.corp.example/", ["10.0.0.7", "fd00::7"]),
])
def test_the_allowlist_admits_hosts_and_networks(
    allow: tuple[str, ...], url: str, addresses: list[str]
) -> None:
    with pytest.raises(WebFetchError):
        _check(url, addresses)
    _check(url, addresses, allow)


@pytest.mark.parametrize(("allow", "url", "addresses"), [
    (("127.0.0.1",), "http://127.0.0.2/", ["127.0.0.2"]),
    (("10.0.0.0/24",), "http://wiki.test/", ["10.0.1.1"]),
    (("*.corp.example",), "http://corp.example/", ["10.0.0.7"]),  # the wildcard is subdomains
    (("*.corp.example",), "http://evilcorp.example/", ["10.0.0.7"]),
    (("intranet.example",), "http://www.intranet.example/", ["10.0.0.7"]),
    (("10.0.0.0/8",), "http://mixed.test/", ["10.0.0.1", "169.254.169.254"]),
])
def test_the_allowlist_admits_nothing_more(
    allow: tuple[str, ...], url: str, addresses: list[str]
) -> None:
    with pytest.raises(WebFetchError):
        _check(url, addresses, allow)


def test_a_malformed_allowlist_entry_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="--web-fetch-allow '10.0.0.0/99'"):
        Allowlist.parse(["10.0.0.0/99"])


def _filters(allowed: tuple[str, ...] = (), blocked: tuple[str, ...] = ()) -> DomainFilters:
    return DomainFilters.parse(allowed, blocked)


def _admitted(filters: DomainFilters, url: str) -> bool:
    try:
        filters.check(parse_target(url))
    except WebFetchError as error:
        assert error.error_code == "url_not_allowed"
        return False
    return True


@pytest.mark.parametrize(("url", "admitted"), [
    ("https://example.com/", True),
    ("https://docs.example.com/page", True),
    ("https://a.b.EXAMPLE.com./", True),
    ("https://notexample.com/", False),
    ("https://example.com.evil.test/", False),
    ("https://other.org/", False),
])
def test_allowed_domains_cover_subdomains(url: str, admitted: bool) -> None:
    assert _admitted(_filters(allowed=("example.com",)), url) is admitted


@pytest.mark.parametrize(("url", "admitted"), [
    ("https://example.com/blog", True),
    ("https://example.com/blog/", True),
    ("https://example.com/blog/post-1?x=1", True),
    ("https://news.example.com/blog/post", True),
    ("https://example.com/shop", False),
    ("https://example.com/blogger", False),  # a prefix of a segment is not the segment
    ("https://example.com/", False),
    ("https://example.com/blog/../shop", False),
    ("https://example.com/%62log/x", True),
])
def test_allowed_domains_with_a_path_prefix(url: str, admitted: bool) -> None:
    assert _admitted(_filters(allowed=("example.com/blog",)), url) is admitted


def test_blocked_domains_refuse_subdomains_and_paths_and_name_the_entry() -> None:
    filters = _filters(blocked=("tracker.test", "example.com/private"))
    assert not _admitted(filters, "http://cdn.tracker.test/x.js")
    assert not _admitted(filters, "http://example.com/private/keys")
    assert _admitted(filters, "http://example.com/public")
    with pytest.raises(WebFetchError, match="blocked_domains entry 'example.com/private'"):
        filters.check(parse_target("http://example.com/private"))


def test_a_wildcard_in_the_path_matches_any_text() -> None:
    filters = _filters(allowed=("example.com/*/articles",))
    assert _admitted(filters, "https://example.com/2024/articles/one")
    assert not _admitted(filters, "https://example.com/2024/videos/one")


@pytest.mark.parametrize("entry", ["https://example.com", "*.example.com", "example.com:8080"])
def test_malformed_domain_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        _filters(allowed=(entry,))


def test_a_url_longer_than_250_characters_is_refused() -> None:
    url = "https://example.com/" + "a" * 231
    assert len(url) == 251
    with pytest.raises(WebFetchError) as error:
        parse_target(url)
    assert error.value.error_code == "url_too_long"
    parse_target(url[:-1])


@pytest.mark.parametrize(("url", "code"), [
    ("http://a@example.com/", "url_not_allowed"),
    ("https://user:secret@example.com/", "url_not_allowed"),
    ("file:///etc/passwd", "url_not_allowed"),
    ("ftp://example.com/file", "url_not_allowed"),
    ("gopher://example.com/", "url_not_allowed"),
    ("example.com/page", "invalid_tool_input"),
    ("http://", "invalid_tool_input"),
    ("http://exa mple.com/", "invalid_tool_input"),
])
def test_urls_refused_before_any_lookup(url: str, code: str) -> None:
    with pytest.raises(WebFetchError) as error:
        parse_target(url)
    assert error.value.error_code == code
