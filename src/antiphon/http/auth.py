"""API key checks: `x-api-key: KEY` (older clients) or `Authorization: Bearer KEY` (newest SDK)."""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers

from antiphon.errors import AuthenticationFailed


def presented_key(headers: Headers) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class KeyChecker:
    """Compares digests in constant time, so timing reveals nothing about the key."""

    def __init__(self, api_key: str) -> None:
        self._digest = hashlib.sha256(api_key.encode()).digest()

    def check(self, headers: Headers) -> None:
        key = presented_key(headers)
        if key is None:
            raise AuthenticationFailed(
                "x-api-key header is required (or Authorization: Bearer <key>)"
            )
        if not hmac.compare_digest(hashlib.sha256(key.encode()).digest(), self._digest):
            raise AuthenticationFailed("invalid x-api-key")
