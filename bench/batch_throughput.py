"""A 1,000-request Message Batch's throughput, and interactive TTFT with and without it.

Starts `antiphon serve` (embedded model, SQLite in a temporary directory), then:
1. baseline: interactive streaming requests one after another, time to the first text delta;
2. submits the batch and, while it runs, sends the same interactive requests again;
3. reports the batch's wall time, requests/s and output tokens/s, and both TTFT p50/p90.

    python bench/batch_throughput.py                      # 1,000 requests, 16 tokens each
    python bench/batch_throughput.py --requests 200 --parallel 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

KEY = "sk-antiphon-bench-key"
MODEL = "smollm2-135m-instruct"
TOPICS = ["the sea", "a forest", "trains", "winter", "coffee", "a library", "rain", "bicycles"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data_dir: Path, parallel: int, batch_concurrency: int | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "ANTIPHON_API_KEY": KEY, "ANTIPHON_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "antiphon", "serve", "--port", str(port), "--parallel", str(parallel),
         "--log-level", "warning",
         *(["--batch-concurrency", str(batch_concurrency)] if batch_concurrency else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start")


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120, headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})


def _params(i: int, max_tokens: int) -> dict[str, object]:
    return {"model": MODEL, "max_tokens": max_tokens, "temperature": 0.7, "seed": i,
            "messages": [{"role": "user", "content": f"Write one sentence about {TOPICS[i % len(TOPICS)]} (#{i})."}]}


def _ttft(client: httpx.Client, i: int) -> float:
    """Seconds from sending a streaming request to its first text delta."""
    begin = time.perf_counter()
    first: float | None = None
    with client.stream("POST", "/v1/messages", json={**_params(10_000 + i, 16), "stream": True}) as response:
        for line in response.iter_lines():  # read to the end, as a client would
            if first is None and line.startswith("data:") and '"text_delta"' in line:
                first = time.perf_counter() - begin
    if first is None:
        raise RuntimeError("no text in the stream")
    return first


def _interactive(url: str, count: int, gap: float, stop: threading.Event | None = None) -> list[float]:
    timings = []
    with _client(url) as client:
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            timings.append(_ttft(client, i))
            time.sleep(gap)
    return timings


def _summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {"n": len(ordered), "p50_ms": statistics.median(ordered) * 1000,
            "p90_ms": ordered[int(len(ordered) * 0.9)] * 1000}


def _run_batch(url: str, requests: int, max_tokens: int, during: list[float], probes: int, gap: float) -> dict[str, float]:
    with _client(url) as client:
        body = {"requests": [{"custom_id": f"r{i}", "params": _params(i, max_tokens)} for i in range(requests)]}
        begin = time.perf_counter()
        batch = client.post("/v1/messages/batches", json=body).json()
        submitted = time.perf_counter() - begin
        stop = threading.Event()
        prober = threading.Thread(target=lambda: during.extend(_interactive(url, probes, gap, stop)))
        time.sleep(2.0)  # let the batch fill its sequences first
        prober.start()
        while (state := client.get(f"/v1/messages/batches/{batch['id']}").json())["processing_status"] != "ended":
            time.sleep(0.5)
        wall = time.perf_counter() - begin
        stop.set()
        prober.join()
        output_tokens = 0
        for line in client.get(state["results_url"]).text.splitlines():
            result = json.loads(line)["result"]
            assert result["type"] == "succeeded", result
            output_tokens += result["message"]["usage"]["output_tokens"]
    return {"requests": requests, "submit_s": submitted, "wall_s": wall, "requests_per_s": requests / wall,
            "output_tokens": output_tokens, "output_tokens_per_s": output_tokens / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--batch-concurrency", type=int, default=None, help="default: the server's")
    parser.add_argument("--probes", type=int, default=30, help="interactive requests per phase")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between interactive requests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, url = _start(Path(data_dir), args.parallel, args.batch_concurrency)
        try:
            _interactive(url, 3, 0.0)  # warm-up
            baseline = _interactive(url, args.probes, args.gap)
            during: list[float] = []
            batch = _run_batch(url, args.requests, args.max_tokens, during, args.probes, args.gap)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    print(json.dumps({"batch": batch, "ttft_alone": _summary(baseline), "ttft_during_batch": _summary(during),
                      "parallel": args.parallel, "batch_concurrency": args.batch_concurrency}, indent=2))


if __name__ == "__main__":
    main()
