"""The prefix cache's disk tier: KV state of long cached prefixes, kept across restarts.

A prompt prefix whose prefill took a minute (Claude Code's system prompt and tools) is
saved once, as llama.cpp's own per-sequence state, and a later process restores it with a
copy instead of a prefill. An entry is one file:

    MAGIC · header length (4 bytes, little-endian) · header (JSON) · token ids (int32) · state

The header names the model key (the model file and every setting that shapes its K and V),
the number of tokens, the state's size and its SHA-256. A file is written to a temporary
name, synced and renamed, so a crash leaves either the whole entry or none; a file that is
torn, truncated, damaged or made for another model is deleted when read, and the prefix is
prefilled again. The directory is bounded in bytes, least recently used entries first.

Thread-safe: the engine thread looks up and reads; a writer thread of its own writes, at
a low priority and only while the engine is idle (or once an entry has waited its patience:
engine/idle_gate.py), a slice at a time, so that saving a prefix never slows decoding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import struct
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from antiphon.engine.idle_gate import IdleGate
from antiphon.engine.os_thread import name_this_thread

log = logging.getLogger(__name__)

MAGIC = b"antiphon-kv-1\n"
SUFFIX = ".kv"
_LENGTH = struct.Struct("<I")
WRITE_SLICE = 8 << 20  # hashed and written between looks at the gate: ~10 ms of work
WRITE_PATIENCE_SECONDS = 30.0  # how long an entry waits for an idle engine at most


@dataclass(frozen=True)
class Restored:
    """A verified entry: the state to restore (a view into the file as read, so that a
    state of hundreds of MB is not copied) and how long its prompt-caching pin lasts."""

    state: memoryview
    pinned_until: float  # wall-clock time; in the past when its TTL has run out
    pin_seconds: float


def model_key(model_path: Path, shaping: dict[str, object]) -> str:
    """Identifies the model file (size, time and the head of its contents) and the settings
    that change what its KV cells hold (RoPE scaling, KV type, llama.cpp's version)."""
    stat = model_path.stat()
    with model_path.open("rb") as handle:
        head = hashlib.sha256(handle.read(1 << 20)).hexdigest()
    fields = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head, **shaping}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _token_bytes(tokens: tuple[int, ...]) -> bytes:
    return array("i", tokens).tobytes()


def _header(data: bytes | bytearray) -> tuple[dict[str, Any], int]:
    """An entry's header and the offset of its token ids."""
    if not data.startswith(MAGIC):
        raise ValueError("not an entry of this format")
    (size,) = _LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start + size:
        raise ValueError("its header is cut short")
    return json.loads(data[start : start + size]), start + size


class PrefixStore:
    def __init__(self, directory: Path, max_bytes: int, key: str,
                 gate: IdleGate | None = None) -> None:
        self._directory = directory
        self.gate = gate or IdleGate(WRITE_PATIENCE_SECONDS)
        self._max_bytes = max_bytes
        self._key = key
        self._lock = threading.Lock()
        self._lengths: dict[str, int] = {}  # file name → tokens it holds
        self._bytes = 0
        self.hits = 0
        self.writes = 0
        self.rejected = 0  # damaged, truncated or foreign entries dropped
        directory.mkdir(parents=True, exist_ok=True)
        for path in directory.glob(f"*{SUFFIX}.tmp"):  # a write a crash interrupted
            path.unlink(missing_ok=True)
        for path in directory.glob(f"*{SUFFIX}"):
            length = self._read_length(path)
            if length is None:
                self._drop(path)
            elif length >= 0:  # not another model's
                self._lengths[path.name] = length
                self._bytes += path.stat().st_size
        self._pending: queue.SimpleQueue[tuple[tuple[int, ...], memoryview, float, float, float] | None]
        self._pending = queue.SimpleQueue()
        self._queued: set[str] = set()  # names saved but not written yet (or failed)
        self._writer = threading.Thread(target=self._write_loop, name="prefix-store", daemon=True)
        self._writer.start()

    @property
    def entries(self) -> int:
        return len(self._lengths)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def name(self, tokens: tuple[int, ...]) -> str:
        digest = hashlib.sha256(self._key.encode() + _token_bytes(tokens)).hexdigest()
        return digest[:40] + SUFFIX

    def holds(self, tokens: tuple[int, ...]) -> bool:
        """Whether an entry for `tokens` is stored or queued for the writer (so that a
        prefix is saved once however often prompts run through it before it is written)."""
        name = self.name(tokens)
        with self._lock:
            return name in self._lengths or name in self._queued

    def longest(self, prompt: tuple[int, ...], longer_than: int) -> tuple[int, ...] | None:
        """The longest stored prefix of `prompt` (leaving its last token) beyond `longer_than`."""
        with self._lock:
            lengths = sorted({n for n in self._lengths.values()}, reverse=True)
            for length in lengths:
                if longer_than < length < len(prompt) and self.name(prompt[:length]) in self._lengths:
                    return prompt[:length]
        return None

    def read(self, tokens: tuple[int, ...]) -> Restored | None:
        """The entry for exactly `tokens`, verified; None (and the file gone) if it is not
        whole and ours."""
        path = self._directory / self.name(tokens)
        try:
            with path.open("rb") as handle:
                data = bytearray(handle.read())
            restored = self._parse(data, tokens)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            log.warning("prefix store: dropping %s: %s", path.name, error)
            self.rejected += 1
            self._drop(path)
            return None
        os.utime(path)  # recently used
        self.hits += 1
        return restored

    def save(self, tokens: tuple[int, ...], state: memoryview, pinned_until: float,
             pin_seconds: float) -> None:
        """Queue an entry for the writer thread (the engine thread does not wait for disk)."""
        with self._lock:
            self._queued.add(self.name(tokens))
        self._pending.put((tokens, state, pinned_until, pin_seconds, self.gate.deadline()))

    def close(self) -> None:
        """Write what is queued (without waiting for idleness any more), then stop."""
        self.gate.engine_busy(False)
        self._pending.put(None)
        self._writer.join(timeout=30)

    # ----- files ----------------------------------------------------------------------

    def _parse(self, data: bytearray, tokens: tuple[int, ...]) -> Restored:
        header, offset = _header(data)
        if header["model"] != self._key:
            raise ValueError("made for another model or other settings")
        view = memoryview(data)
        count = int(header["tokens"])
        if view[offset : offset + 4 * count] != _token_bytes(tokens):
            raise ValueError("holds other tokens")
        state = view[offset + 4 * count :]
        if len(state) != int(header["state_bytes"]):
            raise ValueError(f"truncated: {len(state)} of {header['state_bytes']} state bytes")
        if hashlib.sha256(state).hexdigest() != header["state_sha256"]:
            raise ValueError("its state does not match its checksum")
        return Restored(state, float(header["pinned_until"]), float(header["pin_seconds"]))

    def _read_length(self, path: Path) -> int | None:
        """The tokens an entry holds from its header; -1 for another model's; None if the
        header is not whole."""
        try:
            with path.open("rb") as handle:
                head = handle.read(len(MAGIC) + _LENGTH.size)
                if len(head) < len(MAGIC) + _LENGTH.size:
                    return None
                (size,) = _LENGTH.unpack_from(head, len(MAGIC))
                header, _ = _header(head + handle.read(size))
            return int(header["tokens"]) if header["model"] == self._key else -1
        except (OSError, ValueError, KeyError):
            return None

    def _write_loop(self) -> None:
        name_this_thread("prefix-store")
        _yield_to_decoding()
        while (item := self._pending.get()) is not None:
            try:
                self._write(*item)
            except OSError as error:  # a full disk costs speed, never an answer
                log.warning("prefix store: could not write an entry: %s", error)
            finally:
                with self._lock:
                    self._queued.discard(self.name(item[0]))

    def _slices(self, state: memoryview, deadline: float) -> Iterator[memoryview]:
        """`state` a slice at a time, each once the gate lets it through."""
        for start in range(0, len(state), WRITE_SLICE):
            self.gate.wait(deadline)
            yield state[start : start + WRITE_SLICE]

    def _write(self, tokens: tuple[int, ...], state: memoryview, pinned_until: float,
               pin_seconds: float, deadline: float) -> None:
        name = self.name(tokens)
        digest = hashlib.sha256()
        for piece in self._slices(state, deadline):
            digest.update(piece)
        header = json.dumps({
            "model": self._key, "tokens": len(tokens), "state_bytes": len(state),
            "state_sha256": digest.hexdigest(), "pinned_until": pinned_until,
            "pin_seconds": pin_seconds, "written_at": time.time(),
        }).encode()
        path = self._directory / name
        temporary = path.with_name(name + ".tmp")
        with temporary.open("wb") as handle:
            for part in (MAGIC, _LENGTH.pack(len(header)), header, _token_bytes(tokens)):
                handle.write(part)
            for piece in self._slices(state, deadline):
                handle.write(piece)
                handle.flush()
                os.fdatasync(handle.fileno())  # a slice's writeback now, not all at the end
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        with self._lock:
            if name not in self._lengths:
                self._bytes += path.stat().st_size
            self._lengths[name] = len(tokens)
            self.writes += 1
        self._evict()

    def _evict(self) -> None:
        """Remove least recently used entries until the directory is within its bound."""
        while self._bytes > self._max_bytes and self._lengths:
            oldest = min(
                (self._directory / name for name in list(self._lengths)),
                key=lambda path: path.stat().st_mtime if path.exists() else 0.0,
            )
            self._drop(oldest)

    def _drop(self, path: Path) -> None:
        with self._lock:
            if self._lengths.pop(path.name, None) is not None and path.exists():
                self._bytes -= path.stat().st_size
        path.unlink(missing_ok=True)


# A background priority for the writer: hashing and copying a 12,000-token prefix (~300 MB)
# right after its prefill took most of a core for seconds, and llama.cpp's threads, which
# wait by spinning, decoded at half speed meanwhile (BENCHMARKS.md, issue 13).
WRITER_NICENESS = 19


def _yield_to_decoding() -> None:
    """Lower this thread's scheduling priority (Linux schedules threads one by one; where
    the call is not available the writer just runs at the process's priority)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)
    except (AttributeError, OSError, PermissionError):
        pass
