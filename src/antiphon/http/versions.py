"""`anthropic-version` and `anthropic-beta` headers."""

from __future__ import annotations

import re

from antiphon.errors import InvalidRequest

LEGACY_VERSION = "2023-01-01"
KNOWN_VERSIONS = (LEGACY_VERSION, "2023-06-01", "2026-10-21")
NEWEST_VERSION = max(KNOWN_VERSIONS)
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def negotiate_version(raw: str | None) -> str:
    """The version to serve. A date newer than any known one is served as the newest known:
    clients update faster than servers."""
    if raw is None or not raw.strip():
        raise InvalidRequest("anthropic-version: header is required")
    value = raw.strip()
    if not _DATE.fullmatch(value):
        raise InvalidRequest(
            f"anthropic-version: {value!r} is not a valid version; expected a date such as "
            f"2023-06-01"
        )
    if value in KNOWN_VERSIONS:
        return value
    if value > NEWEST_VERSION:
        return NEWEST_VERSION
    raise InvalidRequest(
        f"anthropic-version: {value!r} is not a known version; "
        f"known versions: {', '.join(KNOWN_VERSIONS)}"
    )


def parse_betas(raw: str | None) -> tuple[str, ...]:
    """Comma-separated beta names. Unknown names are accepted and ignored."""
    if not raw:
        return ()
    return tuple(name.strip() for name in raw.split(",") if name.strip())
