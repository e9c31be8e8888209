"""What the platform adds to each model request, without the model.

Runs the per-request path a `POST /v1/messages` takes through the platform (authenticate
the key, look up the workspace's limits, admit against the buckets, charge output, record
usage) N times in-process, and writes the recorded usage the way the server does (batches
every 0.5 s). Reports microseconds per request and usage records written per second.

    python bench/platform_overhead.py --requests 5000                       # SQLite + memory
    createdb -h 127.0.0.1 -U postgres antiphon_bench   # a database of its own
    python bench/platform_overhead.py --database-url postgresql://postgres@127.0.0.1/antiphon_bench \\
        --redis-url redis://127.0.0.1:6379/0                                # PostgreSQL + Redis
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from antiphon.config import Settings
from antiphon.services.bootstrap import bootstrap
from antiphon.services.keys import Principal
from antiphon.services.platform import build_platform
from antiphon.services.usage import TokenUsage
from antiphon.store.tables import UsageRecord


async def _run(settings: Settings, requests: int) -> dict[str, float]:
    started = await bootstrap(settings)
    platform = build_platform(settings, started.organization_id)
    await platform.start()
    try:
        workspace = await platform.workspaces.create("bench", None, None)
        await platform.policy.set_overrides(workspace.id, {
            "requests_per_minute": 10**9, "input_tokens_per_minute": 10**12,
            "output_tokens_per_minute": 10**12})
        _, secret = await platform.keys.register("api", "bench", workspace.id)
        usage = TokenUsage(1200, 0, 0, 3000, 64)
        timings: list[float] = []
        for i in range(requests):
            begin = time.perf_counter()
            principal: Principal = await platform.keys.authenticate(secret)
            meter = platform.metering.meter(principal, f"req_bench_{i}")
            await meter.admit(4200)
            await meter.on_output(32)
            await meter.finish("bench-model", usage)
            timings.append(time.perf_counter() - begin)
        queued = list(platform.recorder._pending)  # noqa: SLF001 - measured separately below
        flush_begin = time.perf_counter()
        await platform.recorder.flush()
        flush_seconds = time.perf_counter() - flush_begin
        return {
            "p50_us": statistics.median(timings) * 1e6,
            "p99_us": sorted(timings)[int(len(timings) * 0.99)] * 1e6,
            "mean_us": statistics.fmean(timings) * 1e6,
            "records_written_per_s": len(queued) / flush_seconds if flush_seconds else 0.0,
            "records_in_last_flush": float(len(queued)),
        }
    finally:
        await platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), database_url=args.database_url,
                            redis_url=args.redis_url, rate_limit_requests_per_minute=10**9)
        results = asyncio.run(_run(settings, args.requests))
    store = "postgresql" if args.database_url else "sqlite"
    limiter = "redis" if args.redis_url else "memory"
    print(f"{store} + {limiter}, {args.requests} requests: " + ", ".join(
        f"{name} {value:,.0f}" for name, value in results.items()))


if __name__ == "__main__":
    _ = UsageRecord  # the record type the flush writes
    main()
