"""A burst of concurrent count_tokens calls, as agent clients fire them, against a running
server: latency of the counts, and of /health while they run (the event loop must stay free).

    python bench/count_tokens_burst.py --base-url http://127.0.0.1:8080 --key KEY --burst 48
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx

BODY = Path(__file__).parents[1] / "tests" / "fixtures" / "claude_code" / "main_turn.json"


async def count(client: httpx.AsyncClient, body: dict) -> float:
    started = time.perf_counter()
    response = await client.post("/v1/messages/count_tokens", json=body)
    response.raise_for_status()
    return time.perf_counter() - started


async def health_while(client: httpx.AsyncClient, done: asyncio.Event) -> list[float]:
    latencies = []
    while not done.is_set():
        started = time.perf_counter()
        (await client.get("/health")).raise_for_status()
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return latencies


async def main(base_url: str, key: str, burst: int) -> dict:
    capture = json.loads(BODY.read_text())["body"]
    body = {k: v for k, v in capture.items() if k not in ("max_tokens", "stream")}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    limits = httpx.Limits(max_connections=burst + 1)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300, limits=limits) as client:
        tokens = (await client.post("/v1/messages/count_tokens", json=body)).json()["input_tokens"]
        done = asyncio.Event()
        watcher = asyncio.create_task(health_while(client, done))
        started = time.perf_counter()
        latencies = await asyncio.gather(*(count(client, body) for _ in range(burst)))
        wall = time.perf_counter() - started
        done.set()
        health = await watcher
    ordered = sorted(latencies)
    return {
        "prompt_tokens": tokens,
        "burst": burst,
        "wall_s": round(wall, 2),
        "counts_per_s": round(burst / wall, 1),
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
        "health_p50_ms": round(1000 * statistics.median(health), 1) if health else None,
        "health_max_ms": round(1000 * max(health), 1) if health else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", required=True)
    parser.add_argument("--burst", type=int, default=48)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.base_url, args.key, args.burst)), indent=2))
