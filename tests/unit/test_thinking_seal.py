"""Thinking signatures and redacted thinking: round trips, and every forgery refused."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antiphon.config import SettingsError
from antiphon.errors import InvalidRequest
from antiphon.services.thinking_seal import (
    SECRET_BYTES,
    InvalidThinking,
    ThinkingSeal,
    load_or_create_secret,
    secret_from_text,
)

SEAL = ThinkingSeal(b"k" * 32)
OTHER = ThinkingSeal(b"o" * 32)
THINKING = "Let me add 2 and 2. That makes 4."


def flip_byte(sealed: str, position: int) -> str:
    raw = bytearray(base64.b64decode(sealed))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def test_signature_round_trip() -> None:
    signature = SEAL.sign(THINKING)
    assert SEAL.open_signature(signature) == THINKING
    assert SEAL.verify(THINKING, signature) == THINKING


def test_signature_is_standard_base64_and_fresh_each_time() -> None:
    first, second = SEAL.sign(THINKING), SEAL.sign(THINKING)
    assert first != second  # random nonce: equal thoughts do not give equal signatures
    assert base64.b64encode(base64.b64decode(first, validate=True)).decode() == first


@given(st.text())
def test_any_text_round_trips(thinking: str) -> None:
    assert SEAL.verify(thinking, SEAL.sign(thinking)) == thinking
    assert SEAL.unredact(SEAL.redact(thinking)) == thinking


def test_empty_and_unicode_thinking() -> None:
    assert SEAL.open_signature(SEAL.sign("")) == ""
    text = "Überlegung: 東京 → 🚀\n\u0000 and a lone \ud800 surrogate"
    assert SEAL.verify(text, SEAL.sign(text)) == text


def test_display_omitted_thinking_verifies_and_returns_the_sealed_text() -> None:
    assert SEAL.verify("", SEAL.sign(THINKING)) == THINKING


def test_changed_thinking_text_is_refused() -> None:
    with pytest.raises(InvalidThinking) as caught:
        SEAL.verify(THINKING + " Or 5.", SEAL.sign(THINKING))
    assert caught.value.field == "thinking"
    assert "does not match its signature" in caught.value.message


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_tampered_signature_bytes_are_refused(position: int) -> None:
    with pytest.raises(InvalidThinking) as caught:
        SEAL.open_signature(flip_byte(SEAL.sign(THINKING), position))
    assert caught.value.field == "signature"
    assert "signature does not verify" in caught.value.message
    assert "another server or with another secret" in caught.value.message


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not base64!",
        "AAAA",
        "EqQK" * 3,
        "a" * 7,
        base64.b64encode(b"\x01" + b"\x00" * 28).decode(),
    ],
)
def test_garbage_signatures_are_refused(signature: str) -> None:
    with pytest.raises(InvalidThinking):
        SEAL.verify("", signature)


def test_truncated_signature_is_refused() -> None:
    signature = SEAL.sign(THINKING)
    with pytest.raises(InvalidThinking):
        SEAL.open_signature(signature[:-8])
    raw = base64.b64decode(signature)
    with pytest.raises(InvalidThinking):
        SEAL.open_signature(base64.b64encode(raw[:-1]).decode())


def test_signature_from_another_secret_is_refused() -> None:
    with pytest.raises(InvalidThinking):
        SEAL.verify(THINKING, OTHER.sign(THINKING))
    with pytest.raises(InvalidThinking):
        SEAL.unredact(OTHER.redact(THINKING))


def test_replicas_sharing_a_secret_accept_each_others_signatures() -> None:
    replica = ThinkingSeal(b"k" * 32)
    assert replica.verify(THINKING, SEAL.sign(THINKING)) == THINKING


def test_signature_and_redacted_data_are_not_interchangeable() -> None:
    with pytest.raises(InvalidThinking) as caught:
        SEAL.unredact(SEAL.sign(THINKING))
    assert caught.value.field == "data"
    assert "redacted_thinking block's data does not verify" in caught.value.message
    with pytest.raises(InvalidThinking) as caught:
        SEAL.open_signature(SEAL.redact(THINKING))
    assert caught.value.field == "signature"


def test_redacted_data_round_trip_and_tampering() -> None:
    data = SEAL.redact(THINKING)
    assert THINKING not in data
    assert SEAL.unredact(data) == THINKING
    with pytest.raises(InvalidThinking):
        SEAL.unredact(flip_byte(data, 20))


def test_invalid_thinking_is_a_400_that_takes_the_block_path() -> None:
    with pytest.raises(InvalidThinking) as caught:
        SEAL.open_signature("garbage")
    assert isinstance(caught.value, InvalidRequest)
    located = caught.value.at("messages.1.content.0")
    assert isinstance(located, InvalidRequest)
    assert located.message.startswith("messages.1.content.0.signature: the thinking block's")


def test_a_short_secret_is_rejected() -> None:
    with pytest.raises(ValueError):
        ThinkingSeal(b"short")


def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deeper" / "secret"
    secret = load_or_create_secret(path)
    assert len(secret) == SECRET_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == secret
    assert [entry.name for entry in path.parent.iterdir()] == ["secret"]  # no temporary left
    assert load_or_create_secret(tmp_path / "other") != secret


def test_signatures_survive_a_restart_with_the_stored_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    signature = ThinkingSeal(load_or_create_secret(path)).sign(THINKING)
    assert ThinkingSeal(load_or_create_secret(path)).open_signature(signature) == THINKING


@pytest.mark.parametrize("size", [0, 16, 33])
def test_secret_file_of_the_wrong_size_is_a_clear_error(tmp_path: Path, size: int) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"x" * size)
    with pytest.raises(SettingsError, match=f"holds {size} bytes, not {SECRET_BYTES}"):
        load_or_create_secret(path)


def test_secret_from_text() -> None:
    secret = secret_from_text("correct horse battery staple")
    assert len(secret) == SECRET_BYTES
    assert secret_from_text("correct horse battery staple\n") == secret
    assert secret_from_text("correct horse battery stable") != secret
    with pytest.raises(SettingsError, match="at least 16 characters"):
        secret_from_text("too short")
