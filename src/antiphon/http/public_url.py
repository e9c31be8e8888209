"""The URL clients reach this server at, for URLs it hands out (a batch's `results_url`).

A `Host` header is whatever the client wrote: echoed into a response, `Host: evil.example`
would point a results URL (and any cache keyed without Host) at someone else's server. So
with `--public-url` set, that URL is used as given; without it, the request's Host is used
only when it names this machine (localhost, its host name, or an address of one of its
interfaces, which a LAN client uses against a server listening on 0.0.0.0), and otherwise
the listening address stands in.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket

from starlette.requests import Request

# host[:port] as RFC 3986 allows it in Host: a name, an IPv4 address or a bracketed IPv6 one.
_HOST_HEADER = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?")


@functools.lru_cache(maxsize=256)
def _is_this_machine(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if name in ("localhost", socket.gethostname().lower(), socket.getfqdn().lower()):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:  # only an address of one of this machine's interfaces can be bound
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
        return True
    except OSError:
        return False


class PublicUrl:
    def __init__(self, configured: str | None, listening: str) -> None:
        """`configured`: --public-url; `listening`: the listening address as a URL."""
        self._configured = configured.rstrip("/") if configured else None
        self._listening = listening.rstrip("/")

    def base(self, request: Request) -> str:
        """The base URL (no trailing slash) that URLs in the answer to `request` start with."""
        if self._configured is not None:
            return self._configured
        match = _HOST_HEADER.fullmatch(request.headers.get("host", ""))
        if match is not None and _is_this_machine(match["host"]):
            return f"http://{match[0]}"
        return self._listening
