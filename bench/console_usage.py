"""The Console's usage page with a year of data: 1,000,000 usage records, SQLite and PostgreSQL.

For each store: seeds the records (spread over the 365 days up to today, over 4 models, 5
workspaces with 3 keys each, a tenth of them batch) through `UsageStore.add_many`, the
server's own write path, into a fresh database (SQLite in a temporary directory; a private
PostgreSQL database created on --postgres-url's server and dropped afterwards). Then starts
a real `antiphon serve` on it, signs in to the Console as an admin, and times real HTTP GETs
of `/console/usage` (warm: a few GETs first): the last 30 days and the whole year, grouped by
model, workspace and key. Last, in-process, the chart data queries alone (`UsageStore.sums`,
what the page and the Admin API's reports ask), beside the same sums read from the records
alone (`record_sums`, the query before day sums were kept).

    python bench/console_usage.py                       # both stores, 1,000,000 records
    python bench/console_usage.py --records 100000 --stores sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from antiphon.config import Settings
from antiphon.services.bootstrap import bootstrap
from antiphon.services.platform import build_platform
from antiphon.services.usage import TokenUsage, usage_record
from antiphon.store.database import Database, async_url
from antiphon.store.usage import UsageQuery, UsageStore

MODELS = {"claude-sonnet-4-5": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0),
          "smollm2-135m-instruct": (0.1, 0.4), "qwen3-8b": (0.3, 1.2)}
WORKSPACES, KEYS_PER_WORKSPACE, DAYS, BATCH = 5, 3, 365, 10_000
ADMIN = ("bench@example.com", "a benchmark's password")
SERVE = [sys.executable, "-m", "antiphon", "serve", "--parallel", "1",  # the embedded default model
         "--ctx", "512"]
PRICES = {model: {"input": i, "output": o, "cache_read": i / 10, "cache_write_5m": i * 1.25,
                  "cache_write_1h": i * 2} for model, (i, o) in MODELS.items()}


def percentiles(timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


async def seed(settings: Settings, records: int) -> list[str]:
    """Workspaces, keys and `records` usage records; returns the lines to report."""
    started = await bootstrap(settings)
    platform = build_platform(settings, started.organization_id)
    await platform.start()
    try:
        default = await platform.workspaces.default()
        workspaces = [default.id] + [(await platform.workspaces.create(f"team-{i}", None, None)).id
                                     for i in range(1, WORKSPACES)]
        keys = [(w, (await platform.keys.register("api", f"key-{n}-{k}", w))[0].id)
                for n, w in enumerate(workspaces) for k in range(KEYS_PER_WORKSPACE)]
        rng = random.Random(2026)
        now = datetime.now(UTC)
        begin, written = time.perf_counter(), 0
        while written < records:
            batch = []
            for i in range(written, min(records, written + BATCH)):
                workspace, key = rng.choice(keys)
                at = now - timedelta(seconds=rng.randrange(DAYS * 86400))
                usage = TokenUsage(rng.randrange(50, 4000), rng.choice((0, 0, 0, rng.randrange(500, 3000))), 0,
                                   rng.choice((0, rng.randrange(1000, 20000))), rng.randrange(10, 1200))
                tier = "batch" if rng.random() < 0.1 else "standard"
                batch.append(usage_record(f"req_bench_{i}", rng.choice(list(MODELS)), key, workspace, tier, usage, at))
            await platform.usage.add_many(batch)
            written += len(batch)
        seconds = time.perf_counter() - begin
        return [f"seeded {written:,} records in {seconds:.1f} s ({written / seconds:,.0f} records/s, "
                f"batches of {BATCH:,} through UsageStore.add_many)"]
    finally:
        await platform.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(env: dict[str, str], log: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([*SERVE, "--port", str(port)], env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def time_pages(url: str, runs: int) -> list[str]:
    today = datetime.now(UTC).date()
    year = {"start": (today - timedelta(days=DAYS - 1)).isoformat(), "end": today.isoformat()}
    views = [("30 days by model", {}), ("year by model", year), ("year by workspace", {**year, "group": "workspace"}),
             ("year by key", {**year, "group": "key"})]
    lines = []
    with httpx.Client(base_url=url, timeout=60) as client:
        signed_in = client.post("/console/sign-in", data={"email": ADMIN[0], "password": ADMIN[1]})
        assert signed_in.status_code == 303, signed_in.text
        for name, params in views:
            for _ in range(3):  # warm: connections, caches, templates
                client.get("/console/usage", params=params)
            timings = []
            for _ in range(runs):
                begin = time.perf_counter()
                response = client.get("/console/usage", params=params)
                timings.append(time.perf_counter() - begin)
                assert response.status_code == 200, response.text[:500]
            lines.append(f"GET /console/usage {name:18} {percentiles(timings)}  ({len(response.content) / 1024:,.0f} KiB)")
    return lines


async def time_queries(database_url: str, runs: int) -> list[str]:
    database = Database.create(database_url)
    store = UsageStore(database)
    now_minute = int(time.time() // 60)
    day_end = (now_minute // 1440 + 1) * 1440  # the page's ranges end at the end of today
    ranges = {"30 days": day_end - 30 * 1440, "year": day_end - DAYS * 1440}
    lines = []
    try:
        for label, start in ranges.items():
            query = UsageQuery(start, day_end, 1440, ("model", "service_tier"))
            for name, method in (("sums (day rows)", store.sums), ("record_sums (records only)", store.record_sums)):
                timings = await _timed(method, query, runs)
                lines.append(f"chart query {label:7} {name:27} {percentiles(timings)}")
    finally:
        await database.close()
    return lines


async def _timed(call: Callable[[UsageQuery], Awaitable[object]], query: UsageQuery, runs: int) -> list[float]:
    await call(query)
    timings = []
    for _ in range(runs):
        begin = time.perf_counter()
        await call(query)
        timings.append(time.perf_counter() - begin)
    return timings


def run_store(name: str, database_url: str | None, data_dir: Path, args: argparse.Namespace) -> list[str]:
    settings = Settings.model_validate({"data_dir": data_dir, "database_url": database_url, "prices": PRICES})
    lines = asyncio.run(seed(settings, args.records))
    env = {**os.environ, "ANTIPHON_DATA_DIR": str(data_dir), "ANTIPHON_PRICES": json.dumps(PRICES)}
    if database_url:
        env["ANTIPHON_DATABASE_URL"] = database_url
    subprocess.run([sys.executable, "-m", "antiphon", "users", "create", "--email", ADMIN[0], "--role", "admin",
                    "--password-stdin"], input=ADMIN[1] + "\n", text=True, env=env, check=True, capture_output=True)
    with running_server(env, data_dir / "serve.log") as url:
        lines += time_pages(url, args.runs)
    lines += asyncio.run(time_queries(async_url(database_url, data_dir), args.runs))
    return [f"[{name}] {line}" for line in lines]


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    name = f"antiphon_bench_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a server and database to connect to, to create the benchmark's own database")
    args = parser.parse_args()
    for store in args.stores.split(","):
        with tempfile.TemporaryDirectory() as data_dir:
            if store == "sqlite":
                lines = run_store(store, None, Path(data_dir), args)
            else:
                with postgres_database(args.postgres_url) as url:
                    lines = run_store(store, url, Path(data_dir), args)
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
