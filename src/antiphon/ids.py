"""Identifiers in the API's formats (msg_, toolu_, req_, …) and the clock.

Ids are random, base62 and long enough (24 characters, ~142 bits) never to collide.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_token(length: int = 24) -> str:
    """`length` base62 characters from one read of the system's randomness (one
    `secrets.choice` per character costs a system call each, on every request)."""
    value = int.from_bytes(secrets.token_bytes(length))  # 8 bits a byte > 5.95 a character
    characters = []
    for _ in range(length):
        value, index = divmod(value, 62)
        characters.append(_ALPHABET[index])
    return "".join(characters)


def new_id(prefix: str) -> str:
    """`new_id("msg")` → `msg_01…`; the `01` mimics the hosted API's ids, which clients log."""
    return f"{prefix}_01{random_token(22)}"


def message_id() -> str:
    return new_id("msg")


def tool_use_id() -> str:
    return new_id("toolu")


def server_tool_use_id() -> str:
    return new_id("srvtoolu")


def request_id() -> str:
    return new_id("req")


def completion_id() -> str:
    return new_id("compl")


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 with a `Z`, as the hosted API writes timestamps."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
