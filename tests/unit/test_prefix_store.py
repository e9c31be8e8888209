"""The disk tier's files: whole entries only, ours only, within their bound."""

from __future__ import annotations

import time
from pathlib import Path

from antiphon.engine.idle_gate import IdleGate
from antiphon.engine.prefix_store import SUFFIX, WRITE_SLICE, PrefixStore

KEY = "model-a"


def stored(directory: Path, max_bytes: int = 1 << 20, key: str = KEY) -> PrefixStore:
    return PrefixStore(directory, max_bytes, key)


def saved(store: PrefixStore, tokens: tuple[int, ...], state: bytes) -> None:
    writes = store.writes
    store.save(tokens, state, time.time() + 300, 300.0)
    deadline = time.monotonic() + 10
    while store.writes == writes:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_an_entry_round_trips_and_is_found_as_the_longest_prefix(tmp_path: Path) -> None:
    store = stored(tmp_path)
    saved(store, tuple(range(100)), b"state-100")
    saved(store, tuple(range(50)), b"state-50")
    prompt = tuple(range(120))
    assert store.longest(prompt, 0) == tuple(range(100))
    assert store.longest(prompt, 100) is None  # nothing longer than what is cached
    assert store.longest(tuple(range(100)), 0) == tuple(range(50))  # one token stays to decode
    entry = store.read(tuple(range(100)))
    assert entry is not None and entry.state == b"state-100" and entry.pin_seconds == 300.0
    assert store.hits == 1 and store.entries == 2
    store.close()
    reopened = stored(tmp_path)  # another process finds them
    assert reopened.entries == 2 and reopened.bytes_used == store.bytes_used
    reopened.close()


def test_another_models_or_a_torn_entry_is_never_read(tmp_path: Path) -> None:
    store = stored(tmp_path)
    saved(store, tuple(range(10)), b"x" * 1000)
    store.close()
    foreign = stored(tmp_path, key="model-b")
    assert foreign.entries == 0 and foreign.longest(tuple(range(20)), 0) is None
    foreign.close()
    (tmp_path / ("partial" + SUFFIX + ".tmp")).write_bytes(b"half")  # a crash mid-write
    (entry,) = tmp_path.glob(f"*{SUFFIX}")
    entry.write_bytes(entry.read_bytes()[:-10])
    store = stored(tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
    assert store.read(tuple(range(10))) is None and store.rejected == 1
    assert store.entries == 0 and not list(tmp_path.glob(f"*{SUFFIX}"))
    store.close()


def test_the_least_recently_used_entries_go_beyond_the_bound(tmp_path: Path) -> None:
    store = stored(tmp_path, max_bytes=3000)  # two entries of ~1,250 bytes, not three
    saved(store, (1,) * 10, b"a" * 1000)
    saved(store, (2,) * 10, b"b" * 1000)
    time.sleep(0.02)
    assert store.read((1,) * 10) is not None  # now the more recently used
    saved(store, (3,) * 10, b"c" * 1000)
    assert store.holds((1,) * 10) and store.holds((3,) * 10) and not store.holds((2,) * 10)
    assert store.bytes_used <= 3000
    store.close()


def test_entries_wait_for_an_idle_engine(tmp_path: Path) -> None:
    """While the engine decodes, the writer does not touch the entry (not even to hash it);
    once the engine is idle the entry is written, whole, however many slices it has."""
    gate = IdleGate(patience_seconds=60)
    store = PrefixStore(tmp_path, 1 << 30, KEY, gate)
    gate.engine_busy(True)
    state = bytes(range(256)) * (3 * WRITE_SLICE // 256 + 7)  # four slices, the last short
    store.save(tuple(range(64)), memoryview(state), time.time() + 300, 300.0)
    time.sleep(0.5)
    assert store.writes == 0 and not list(tmp_path.glob(f"*{SUFFIX}*"))
    gate.engine_busy(False)
    deadline = time.monotonic() + 10
    while store.writes == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    entry = store.read(tuple(range(64)))
    assert entry is not None and bytes(entry.state) == state
    store.close()


def test_an_entry_waiting_for_the_writer_counts_as_held(tmp_path: Path) -> None:
    """Prompts that run through a prefix while its entry waits for an idle engine must not
    save it again (each save is a copy of its whole KV state on the engine thread)."""
    gate = IdleGate(patience_seconds=60)
    store = PrefixStore(tmp_path, 1 << 20, KEY, gate)
    gate.engine_busy(True)
    tokens = tuple(range(32))
    assert not store.holds(tokens)
    store.save(tokens, memoryview(b"queued" * 10), time.time() + 300, 300.0)
    assert store.holds(tokens) and store.writes == 0
    gate.engine_busy(False)
    store.close()
    assert store.holds(tokens) and store.writes == 1


def test_a_never_idle_engine_gets_its_entries_written_after_their_patience(tmp_path: Path) -> None:
    gate = IdleGate(patience_seconds=0.3)
    store = PrefixStore(tmp_path, 1 << 20, KEY, gate)
    gate.engine_busy(True)
    started = time.monotonic()
    saved(store, tuple(range(10)), b"busy" * 100)
    assert time.monotonic() - started >= 0.25
    assert store.read(tuple(range(10))) is not None
    store.close()


def test_closing_writes_what_is_queued_at_once(tmp_path: Path) -> None:
    gate = IdleGate(patience_seconds=600)
    store = PrefixStore(tmp_path, 1 << 20, KEY, gate)
    gate.engine_busy(True)
    store.save(tuple(range(10)), memoryview(b"late" * 100), time.time() + 300, 300.0)
    store.close()  # the engine stopping: nothing waits for idleness any more
    assert store.writes == 1
