"""Real upstream engines for the remote-pool tests: `llama-server` processes built from the
pinned llama.cpp sources by `bench/build_llama_server.sh` (`.ci/run` builds it first), each
serving the embedded GGUF file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from antiphon.engine.model_source import embedded_model_path
from tests.conftest import free_port

LLAMA_SERVER = Path(os.environ.get(
    "ANTIPHON_LLAMA_SERVER",
    Path.home() / ".cache/antiphon-bench/llama-server/bin/llama-server",
))
SLOTS = 2
CONTEXT = 4096  # split over its slots: 2,048 positions per request


def llama_server_binary() -> Path:
    if not LLAMA_SERVER.is_file():
        pytest.fail(f"no llama-server at {LLAMA_SERVER}: run bash bench/build_llama_server.sh")
    return LLAMA_SERVER


@dataclass
class LlamaServer:
    """One upstream, restartable on the same port."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    api_key: str | None = None  # llama-server's --api-key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlamaServer:
        command = [
            str(llama_server_binary()), "-m", str(embedded_model_path()), "-c", str(CONTEXT),
            "-np", str(SLOTS), "-t", "1", "--host", "127.0.0.1", "--port", str(self.port),
            "--slots", *(["--api-key", self.api_key] if self.api_key else []),
        ]
        log = (self.log_dir / f"llama-server-{self.port}.log").open("a")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"llama-server on {self.port} exited"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"llama-server on {self.port} did not become healthy")

    def kill(self) -> None:
        """Gone at once, as a crashed or unplugged machine is."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def slots_processing(self) -> int:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        slots = httpx.get(f"{self.url}/slots", headers=headers, timeout=5).json()
        return sum(1 for slot in slots if slot.get("is_processing"))


def start_fleet(log_dir: Path, count: int, api_key: str | None = None) -> list[LlamaServer]:
    return [LlamaServer(log_dir, api_key=api_key).start() for _ in range(count)]


def pool_spec(model: str, fleet: list[LlamaServer], *options: str) -> str:
    urls = ",".join(upstream.url for upstream in fleet)
    return ";".join([f"{model}=llama-server:{urls}", *options])


VLLM_CACHE = Path(os.environ.get("ANTIPHON_BENCH_CACHE", Path.home() / ".cache/antiphon-bench"))
VLLM_CONTEXT = 2048


@dataclass
class VllmServer:
    """vLLM's OpenAI server on this machine's CPU (`bench/setup_vllm.sh` installs it and
    makes the Hugging Face copy of the embedded model it loads), started as its users run
    it, with prompt-cache counts switched on."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VllmServer:
        python, model = VLLM_CACHE / "vllm-venv/bin/python", VLLM_CACHE / "smollm2-hf"
        if not python.is_file() or not (model / "model.safetensors").is_file():
            pytest.fail(f"no vLLM in {VLLM_CACHE}: run bash bench/setup_vllm.sh")
        command = [
            str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", "smol", "--host", "127.0.0.1", "--port", str(self.port),
            "--max-model-len", str(VLLM_CONTEXT), "--dtype", "float32",
            "--enable-prompt-tokens-details",
            "--enforce-eager",  # starts in ~1 min instead of ~2.5 (no graph compilation)
        ]
        log = (self.log_dir / f"vllm-{self.port}.log").open("a")
        environment = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB of KV cache
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        env=environment)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"vLLM on {self.port} exited"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"vLLM on {self.port} did not become healthy")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def requests_running(self) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vllm:num_requests_running{"))
