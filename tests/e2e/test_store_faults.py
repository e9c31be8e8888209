"""The stores fail under load: Redis is killed and comes back, PostgreSQL crashes and
restarts, while clients keep asking. Both run privately for this test (a redis-server and
a PostgreSQL cluster of their own), so killing them disturbs nothing else.

Every client gets a complete answer or a retriable refusal (529 with retry-after, never a
500, never a hang); once the stores are back everything succeeds again; files uploaded
during the run read back whole; and no usage is lost: the usage report adds up to exactly
the output tokens of the answers served, the records that could not be written while
PostgreSQL was down included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_server
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import unavailable

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster, run as the `postgres` user (initdb refuses root)."""

    def __init__(self, root: Path) -> None:
        assert PG_BIN is not None
        self.root, self.port = root, free_port()
        shutil.chown(root, "postgres")
        self._as_postgres(PG_BIN / "initdb", "-D", str(root / "data"), "-A", "trust", "-U", "postgres")
        self.start()

    def _as_postgres(self, *command: object) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.root / "data", "-l", self.root / "log", "-w", "-o",
                          f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def crash(self) -> None:
        """Stop as a crash would (no shutdown checkpoint): recovery runs at the next start."""
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.root / "data", "-m", "immediate", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture(scope="module")
def stores() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    if PG_BIN is None or shutil.which("redis-server") is None or shutil.which("runuser") is None:
        unavailable("a private PostgreSQL (initdb, pg_ctl, runuser) and redis-server are needed")
    if os.geteuid() != 0:
        unavailable("running a private PostgreSQL as the postgres user needs root (runuser)")
    root = Path(tempfile.mkdtemp(prefix="antiphon-pg-"))  # pytest's tmp is root's alone
    postgres = PrivatePostgres(root)
    redis = PrivateRedis()
    yield postgres, redis
    redis.kill()
    postgres.crash()
    shutil.rmtree(root, ignore_errors=True)


class Load:
    """Clients asking steadily on three threads: messages, streams, and file uploads."""

    def __init__(self, platform: PlatformServer, key: str) -> None:
        self.platform, self.key = platform, key
        self.stop = threading.Event()
        self.outcomes: list[tuple[float, str, int, str]] = []  # (time, kind, status, body)
        self.output_tokens = 0
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=work, daemon=True)
                         for work in (self._messages, self._streams, self._uploads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _note(self, kind: str, status: int, body: str, output_tokens: int = 0) -> None:
        with self._lock:
            self.outcomes.append((time.monotonic(), kind, status, body))
            self.output_tokens += output_tokens

    def _messages(self) -> None:
        with self.platform.raw(self.key) as raw:
            while not self.stop.is_set():
                answer = raw.post("/v1/messages", json={"model": MODEL, "max_tokens": 6,
                                                        "messages": [{"role": "user", "content": "Say hi"}]})
                tokens = answer.json()["usage"]["output_tokens"] if answer.status_code == 200 else 0
                self._note("message", answer.status_code, answer.text, tokens)
                time.sleep(0.05)

    def _streams(self) -> None:
        with self.platform.raw(self.key) as raw:
            while not self.stop.is_set():
                body = {"model": MODEL, "max_tokens": 10, "stream": True,
                        "messages": [{"role": "user", "content": "Count"}]}
                with raw.stream("POST", "/v1/messages", json=body) as answer:
                    text = answer.read().decode()
                tokens = 0
                if answer.status_code == 200 and "event: message_stop" in text:
                    delta = next(line for line in text.splitlines()[::-1] if '"type":"message_delta"' in line)
                    tokens = json.loads(delta.removeprefix("data: "))["usage"]["output_tokens"]
                self._note("stream", answer.status_code, text, tokens)
                time.sleep(0.05)

    def _uploads(self) -> None:
        with self.platform.raw(self.key) as raw:
            step = 0
            while not self.stop.is_set():
                step += 1
                data = f"upload {step} ".encode() * 1000
                answer = raw.post("/v1/files", files={"file": (f"f{step}.txt", data, "text/plain")})
                if answer.status_code == 200:
                    with self._lock:
                        self.files[answer.json()["id"]] = data
                self._note("upload", answer.status_code, answer.text)
                time.sleep(0.1)


def _wait_until_served(platform: PlatformServer, key: str, timeout: float = 60) -> None:
    """Poll (not a fixed sleep) until a request that needs every store succeeds again."""
    deadline = time.monotonic() + timeout
    with platform.raw(key) as raw:
        while raw.get("/v1/files").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)


def _assert_answered(outcomes: list[tuple[float, str, int, str]]) -> None:
    for _, kind, status, body in outcomes:
        if status == 200:
            if kind == "stream":
                assert "event: message_stop" in body or '"type":"overloaded_error"' in body, body[-300:]
            continue
        assert status == 529, (kind, status, body[:300])
        assert '"overloaded_error"' in body


def test_redis_killed_and_postgresql_crashed_under_load(
    stores: tuple[PrivatePostgres, PrivateRedis], tmp_path: Path
) -> None:
    postgres, redis = stores
    process, platform = start_platform_server(
        tmp_path, "faults", postgres.url, ["--rate-limit-requests-per-minute", "100000"],
        env={"ANTIPHON_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"},
    )
    try:
        with platform.admin() as admin:
            workspace = create_workspace(admin, "faults")["id"]
            key = create_key(admin, "faults", workspace)["key"]
        with Load(platform, key) as load:
            time.sleep(3)
            redis.kill()
            time.sleep(3)
            redis.start()
            time.sleep(3)
            postgres.crash()
            time.sleep(3)
            postgres.start()
            _wait_until_served(platform, key)
            recovered_after = time.monotonic()
            time.sleep(4)
        _assert_answered(load.outcomes)
        late = [status for at, _, status, _ in load.outcomes if at > recovered_after]
        assert late and set(late) == {200}, late
        assert {kind for _, kind, _, _ in load.outcomes} == {"message", "stream", "upload"}
        assert 529 in {status for _, _, status, _ in load.outcomes}  # the faults were felt

        with platform.raw(key) as raw:
            for file_id, data in load.files.items():
                assert raw.get(f"/v1/files/{file_id}/content").content == data
            listed = raw.get("/v1/files", params={"limit": 1000}).json()["data"]
        assert {f["id"] for f in listed} == set(load.files)

        with platform.admin() as admin:
            start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
            query = {"starting_at": start.isoformat().replace("+00:00", "Z"),
                     "workspace_ids[]": workspace, "bucket_width": "1h"}
            deadline = time.monotonic() + 30
            while True:  # records that failed to write while PostgreSQL was down are retried
                report = admin.get("/v1/organizations/usage_report/messages", params=query).json()
                reported = sum(row["output_tokens"] for bucket in report["data"] for row in bucket["results"])
                if reported >= load.output_tokens or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert reported == load.output_tokens
        statuses = [status for _, _, status, _ in load.outcomes]
        print(f"store faults: {len(statuses)} requests, {statuses.count(200)} answered, "
              f"{statuses.count(529)} refused 529; {len(load.files)} files intact; "
              f"{reported} output tokens reported of {load.output_tokens} served")
    finally:
        stop_server(process)
