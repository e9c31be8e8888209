"""Signatures for `thinking` blocks and the sealed payload of `redacted_thinking` blocks.

Clients send earlier thinking blocks back in later requests. The `signature` lets this server,
or any replica that shares its secret, prove that a block comes back exactly as it was
produced; `redacted_thinking.data` carries thinking the client may not read but may send back
to be used again. One mechanism serves both: AES-GCM under a key derived from the server
secret, sealing the thinking text itself. So a signature also carries its thinking, which is
what lets a client send a thinking block whose display was omitted (`thinking: ""`).

Wire format, base64 with the standard alphabet (like the hosted API's signatures):
    version (1 byte) ‖ nonce (12 random bytes) ‖ AES-GCM ciphertext + tag
The associated data names the purpose, so a signature cannot be passed off as redacted data
or the other way round, and includes the version byte, so it cannot be altered either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from antiphon.config import SettingsError
from antiphon.errors import InvalidRequest

SECRET_BYTES = 32
MIN_SECRET_BYTES = 16
MIN_SECRET_TEXT_CHARS = 16
_VERSION = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_INFO = b"antiphon thinking seal v1"
_SIGNATURE_PURPOSE = b"antiphon/thinking-signature"
_REDACTED_PURPOSE = b"antiphon/redacted-thinking"
_PASSPHRASE_SALT = b"antiphon server secret v1"
# Thinking is model output and normally valid UTF-8; surrogatepass keeps sealing total even
# for a lone surrogate, so a block can always be signed and read back unchanged.
_TEXT_ERRORS = "surrogatepass"


class InvalidThinking(InvalidRequest):
    """A thinking block that does not verify (400).

    `message` has no request path, because the seal does not know where the block sits;
    `field` names the block's offending field. Use `at(block_path)` to get the error to raise.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field

    def at(self, block_path: str) -> InvalidRequest:
        """The same error, its message prefixed with `block_path.field`."""
        return InvalidRequest(f"{block_path}.{self.field}: {self.message}")


def _signature_error() -> InvalidThinking:
    return InvalidThinking(
        "the thinking block's signature does not verify: the block was changed, or it was "
        "produced by another server or with another secret; send thinking blocks back "
        "exactly as they were returned, or leave them out",
        field="signature",
    )


def _mismatch_error() -> InvalidThinking:
    return InvalidThinking(
        "the thinking text does not match its signature: it was changed after it was "
        "returned; send it back exactly as returned, or leave the block out",
        field="thinking",
    )


def _redacted_error() -> InvalidThinking:
    return InvalidThinking(
        "the redacted_thinking block's data does not verify: it was changed, or it was "
        "produced by another server or with another secret; send redacted_thinking blocks "
        "back exactly as they were returned, or leave them out",
        field="data",
    )


class ThinkingSeal:
    """Seals and opens thinking text under one server secret. Stateless; thread-safe."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the server secret must be at least {MIN_SECRET_BYTES} bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(secret)
        self._aead = AESGCM(key)

    def sign(self, thinking: str) -> str:
        """The `signature` for a thinking block holding `thinking`."""
        return self._seal(thinking, _SIGNATURE_PURPOSE)

    def open_signature(self, signature: str) -> str:
        """The thinking a signature carries; `InvalidThinking` if it was not issued here."""
        thinking = self._open(signature, _SIGNATURE_PURPOSE)
        if thinking is None:
            raise _signature_error()
        return thinking

    def verify(self, thinking: str, signature: str) -> str:
        """The block's thinking, checked against its signature.

        An empty `thinking` is accepted: with display omitted the client never saw the text,
        which then travels only inside the signature.
        """
        sealed = self.open_signature(signature)
        if thinking and thinking != sealed:
            raise _mismatch_error()
        return sealed

    def redact(self, thinking: str) -> str:
        """The `data` of a redacted_thinking block holding `thinking`."""
        return self._seal(thinking, _REDACTED_PURPOSE)

    def unredact(self, data: str) -> str:
        """The thinking inside a redacted_thinking block's `data`."""
        thinking = self._open(data, _REDACTED_PURPOSE)
        if thinking is None:
            raise _redacted_error()
        return thinking

    def _seal(self, thinking: str, purpose: bytes) -> str:
        header = bytes([_VERSION])
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = thinking.encode("utf-8", _TEXT_ERRORS)
        ciphertext = self._aead.encrypt(nonce, plaintext, purpose + header)
        return base64.b64encode(header + nonce + ciphertext).decode("ascii")

    def _open(self, sealed: str, purpose: bytes) -> str | None:
        """The text sealed for `purpose`, or None for anything else (garbage, tampering …)."""
        try:
            raw = base64.b64decode(sealed, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 1 + _NONCE_BYTES + _TAG_BYTES or raw[0] != _VERSION:
            return None
        header, nonce, ciphertext = raw[:1], raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, purpose + header)
        except InvalidTag:
            return None
        return plaintext.decode("utf-8", _TEXT_ERRORS)


def load_or_create_secret(path: Path) -> bytes:
    """The server secret stored at `path`, created (32 random bytes, mode 0600) if absent.

    Creation is atomic and never overwrites: the bytes are written to a temporary file and
    hard-linked into place, so two processes starting together end up sharing one secret
    and a crash never leaves a half-written secret in its place.
    """
    if not path.exists():
        _create_secret_file(path)
    try:
        secret = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read the server secret {path}: {exc.strerror}") from exc
    if len(secret) != SECRET_BYTES:
        raise SettingsError(
            f"the server secret {path} holds {len(secret)} bytes, not {SECRET_BYTES}; it is "
            "not a file antiphon wrote. Restore the original (thinking signatures issued "
            "with it stop verifying otherwise), or delete it to have a new one created"
        )
    return secret


def _create_secret_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise SettingsError(f"cannot create the server secret {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # mkstemp's default too; stated where it matters
            file.write(secrets.token_bytes(SECRET_BYTES))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    except OSError as exc:
        raise SettingsError(f"cannot create the server secret {path}: {exc.strerror}") from exc
    finally:
        os.unlink(temporary)


def secret_from_text(text: str) -> bytes:
    """32 secret bytes from a configured passphrase (e.g. `ANTIPHON_SECRET`), via scrypt.

    Surrounding whitespace is ignored (a trailing newline from a secrets file must not change
    the key). Replicas configured with the same text derive the same bytes.
    """
    stripped = text.strip()
    if len(stripped) < MIN_SECRET_TEXT_CHARS:
        raise SettingsError(
            f"the server secret must be at least {MIN_SECRET_TEXT_CHARS} characters long; "
            "use a long random string (e.g. `openssl rand -hex 32`)"
        )
    # scrypt, not a plain hash: a signature lets anyone test guesses of the passphrase
    # offline, and this runs once at start-up, so making each guess costly is nearly free.
    return hashlib.scrypt(
        stripped.encode("utf-8"), salt=_PASSPHRASE_SALT, n=2**14, r=8, p=1, dklen=SECRET_BYTES
    )
