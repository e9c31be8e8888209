"""The fetching half of the web fetch server tool: the server GETs a URL the model chose.

Security model. The fetch runs on the operator's machine, so the model must not reach what
only that machine can reach:
- Protected: loopback, private, link-local (cloud metadata included), shared, multicast,
  reserved and other non-global addresses, also in IPv6 disguises (`::ffff:127.0.0.1`, 6to4,
  NAT64); every address of a name is checked, on every redirect hop, and the connection is
  pinned to a checked address (no DNS rebinding). Only GET over http/https, no credentials in
  URLs, no proxies from the environment, bounded time, redirects and body size.
- Trusted: hosts and networks the operator lists with `--web-fetch-allow` are reachable in
  full. The request's `allowed_domains` / `blocked_domains` narrow further, never widen.
- Not protected: fetched content is returned as is. It is not sanitised for prompt
  injection, and a public site can still say anything it likes to the model.
"""

from __future__ import annotations

from antiphon.services.web_fetch.content import FetchedPage
from antiphon.services.web_fetch.errors import WebFetchError, WebFetchErrorCode
from antiphon.services.web_fetch.fetcher import Resolver, WebFetcher, WebFetchSettings
from antiphon.services.web_fetch.policy import (
    MAX_URL_LENGTH,
    Allowlist,
    DomainFilters,
    DomainRule,
    address_refusal,
)

__all__ = [
    "MAX_URL_LENGTH",
    "Allowlist",
    "DomainFilters",
    "DomainRule",
    "FetchedPage",
    "Resolver",
    "WebFetchError",
    "WebFetchErrorCode",
    "WebFetchSettings",
    "WebFetcher",
    "address_refusal",
]
