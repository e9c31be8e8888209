"""Claude Code's first request before and after a restart: the prefix cache's disk tier.

Starts `antiphon serve` (defaults, a fresh DATA_DIR), sends Claude Code 2.1.330's captured
first request (tests/fixtures/claude_code/main_turn.json, streamed), stops the server,
starts it again on the same DATA_DIR and sends the request again. Reports time to the first
streamed event after message_start, and the usage each time.

    .venv/bin/python bench/prefix_restart.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claude_code_prompts import fixture_body  # noqa: E402

PORT = 18090
KEY = "sk-antiphon-bench"


def start(data_dir: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "ANTIPHON_DATA_DIR": str(data_dir), "ANTIPHON_API_KEY": KEY}
    process = subprocess.Popen(
        [sys.executable, "-m", "antiphon", "serve", "--port", str(PORT)],
        stdout=log.open("a"), stderr=subprocess.STDOUT, env=env,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def first_request(body: dict) -> tuple[float, dict]:
    """Seconds to the first event after message_start, and the final usage."""
    body = {**body, "stream": True, "max_tokens": 32}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    began, first, usage = time.perf_counter(), None, {}
    with httpx.stream("POST", f"http://127.0.0.1:{PORT}/v1/messages", json=body,
                      headers=headers, timeout=900) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if first is None and event["type"] == "content_block_start":
                first = time.perf_counter() - began
            if event["type"] == "message_delta":
                usage = event["usage"]
    return first or float("nan"), usage


def main() -> None:
    body = fixture_body("main_turn")
    with tempfile.TemporaryDirectory() as folder:
        data, log = Path(folder) / "data", Path(folder) / "server.log"
        for label in ("cold", "after a restart"):
            process = start(data, log)
            try:
                seconds, usage = first_request(body)
            finally:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
            print(f"{label}: time to first token {seconds:.2f} s, usage {usage}", flush=True)
        size = sum(p.stat().st_size for p in (data / "prefix-cache").rglob("*.kv"))
        print(f"prefix-cache on disk: {size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
