"""Overload at N times a server's capacity: how fast the excess is refused (529) and what
the accepted requests' time to first token is, against the same requests with no overload.

    python bench/overload.py --url http://127.0.0.1:8080 --key KEY --capacity 4 --times 10

The server should run with a known capacity (--parallel P --max-queue Q: capacity P+Q).
Prints one JSON object; RELIABILITY.md records what it printed and the command.

A burst is sent over connections opened beforehand, each request written as prepared bytes
and timed from its own write to its response's status line: a Python HTTP client making 40
requests at once spends tens of milliseconds of its own CPU before the last one is even
sent, and on a 2-core machine that time would be counted against the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

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


def request_bytes(host: str, key: str, model: str, index: int) -> bytes:
    body = json.dumps({"model": model, "max_tokens": 48, "stream": True, "temperature": 0,
                       "messages": [{"role": "user", "content": f"Tell me about the number {index}."}]})
    head = (f"POST /v1/messages HTTP/1.1\r\nhost: {host}\r\nx-api-key: {key}\r\n"
            "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n")
    return (head + body).encode()


async def raw_exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], payload: bytes
) -> tuple[int, float, float | None]:
    """(status, seconds from the write to the status line, seconds to the first text delta)."""
    reader, writer = connection
    started = time.perf_counter()
    writer.write(payload)
    status_line = await reader.readline()
    head = time.perf_counter() - started
    first = None
    while chunk := await reader.read(65536):  # `connection: close`: the body ends at EOF
        if first is None and b"text_delta" in chunk:
            first = time.perf_counter() - started
    writer.close()
    return int(status_line.split()[1]), head, first


async def burst(url: str, key: str, model: str, count: int) -> list[tuple[int, float, float | None]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    connections = [await asyncio.open_connection(host, port) for _ in range(count)]
    payloads = [request_bytes(f"{host}:{port}", key, model, i) for i in range(count)]
    return await asyncio.gather(*(raw_exchange(c, p) for c, p in zip(connections, payloads)))


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
            answers = await burst(args.url, args.key, args.model, args.capacity * args.times)
            statuses += [status for status, _, _ in answers]
            refused_ms += [head * 1000 for status, head, _ in answers if status == 529]
            accepted_ttft += [first * 1000 for status, _, first in answers if status == 200 and first]
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
