"""Password hashes: scrypt from the standard library (a memory-hard KDF), and nothing else.

A stored hash names its parameters — `scrypt$<n>$<r>$<p>$<salt>$<key>`, salt and key in
unpadded base64 — so the parameters can be raised later without breaking older hashes:
`verify_password` reads them from the hash, `needs_rehash` says when a user's hash should be
replaced at their next sign-in.

`verify_password` does the same work whatever it is given: no hash at all (an unknown user,
or one without a password) or a malformed one is checked against a dummy with the current
parameters, so the time a sign-in takes does not tell whether the email is a member's.

Each call costs tens of milliseconds and 16 MiB of memory on purpose: callers on the event
loop run it in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from antiphon.errors import InvalidRequest

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # bounds the work one request can ask for


@dataclass(frozen=True)
class ScryptParams:
    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def max_memory(self) -> int:
        """What OpenSSL needs for these parameters (128·r·(n + p + 2) bytes), with room."""
        return 2 * 128 * self.r * (self.n + self.p + 2)


CURRENT = ScryptParams()
# Never equal to a derived key in practice (a 256-bit random value): verifying against it
# costs a full derivation and always fails.
_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)
_DUMMY_KEY = secrets.token_bytes(KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(password: str, salt: bytes, params: ScryptParams, length: int = KEY_BYTES) -> bytes:
    # NFC: the same password typed on two keyboards is the same bytes (RFC 8265's rule).
    secret = unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")
    return hashlib.scrypt(secret, salt=salt, n=params.n, r=params.r, p=params.p,
                          maxmem=params.max_memory, dklen=length)


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidRequest(
            f"password: must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")


def hash_password(password: str, params: ScryptParams = CURRENT) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    return f"{SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(p.isdigit() for p in parts[1:4]):
        return None
    params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
    # A hash that asks for absurd work is damaged, not a reason to exhaust the machine.
    if params.n < 2 or params.n & (params.n - 1) or params.n > 2**20 or not 1 <= params.r * params.p <= 64:
        return None
    try:
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    return (params, salt, key) if 16 <= len(key) <= 64 else None


def verify_password(password: str, stored: str | None) -> bool:
    parsed = _parse(stored) if stored is not None else None
    params, salt, expected = parsed if parsed is not None else (CURRENT, _DUMMY_SALT, _DUMMY_KEY)
    matches = hmac.compare_digest(_derive(password, salt, params, len(expected)), expected)
    return matches and parsed is not None


def needs_rehash(stored: str) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[0] != CURRENT
