"""Overload at N times a server's capacity: how fast the excess is refused (529) and what
the accepted requests' time to first token is, against the same requests with no overload.

    python bench/overload.py --url http://127.0.0.1:8080 --key KEY --capacity 4 --times 10

The server should run with a known capacity (--parallel P --max-queue Q: capacity P+Q).
Prints one JSON object; RELIABILITY.md records what it printed and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx


async def one(client: httpx.AsyncClient, url: str, key: str, model: str, index: int) -> tuple[int, float, float | None]:
    """(status, seconds to the response head, seconds to the first text delta or None)."""
    body = {"model": model, "max_tokens": 48, "stream": True, "temperature": 0,
            "messages": [{"role": "user", "content": f"Tell me about the number {index}."}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    started = time.perf_counter()
    async with client.stream("POST", f"{url}/v1/messages", json=body, headers=headers) as response:
        head = time.perf_counter() - started
        first = None
        async for line in response.aiter_lines():
            if first is None and line.startswith("data:") and "text_delta" in line:
                first = time.perf_counter() - started
        return response.status_code, head, first


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    async with httpx.AsyncClient(timeout=300) as client:
        calm = [await one(client, args.url, args.key, args.model, i) for i in range(5)]
        refused_ms: list[float] = []
        accepted_ttft: list[float] = []
        statuses: list[int] = []
        for _ in range(args.rounds):
            burst = await asyncio.gather(*(one(client, args.url, args.key, args.model, i)
                                           for i in range(args.capacity * args.times)))
            statuses += [status for status, _, _ in burst]
            refused_ms += [head * 1000 for status, head, _ in burst if status == 529]
            accepted_ttft += [first * 1000 for status, _, first in burst if status == 200 and first]
        after = [await one(client, args.url, args.key, args.model, i) for i in range(5)]
    calm_ttft = [first * 1000 for _, _, first in calm if first]
    print(json.dumps({
        "requests": len(statuses), "accepted": statuses.count(200), "refused_529": statuses.count(529),
        "other": len(statuses) - statuses.count(200) - statuses.count(529),
        "refusal_ms_p50": round(statistics.median(refused_ms), 1) if refused_ms else None,
        "refusal_ms_p99": round(quantile(refused_ms, 0.99), 1),
        "refusal_ms_max": round(max(refused_ms), 1) if refused_ms else None,
        "calm_ttft_ms_p50": round(statistics.median(calm_ttft), 1),
        "accepted_ttft_ms_p50": round(statistics.median(accepted_ttft), 1),
        "accepted_ttft_ms_min": round(min(accepted_ttft), 1),
        "after_statuses": [status for status, _, _ in after],
    }, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
