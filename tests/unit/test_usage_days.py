"""Usage summed per day (`usage_days`) answers exactly as the records do, on SQLite and
PostgreSQL: for random ranges, bucket widths, groups and filters; after retried batches;
and after the migration that fills it from the records already stored."""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC, datetime, timedelta
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from antiphon.config import ModelPrice
from antiphon.services.pricing import PriceTable
from antiphon.services.usage import TokenUsage, usage_record
from antiphon.store.database import Database
from antiphon.store.tables import UsageRecord
from antiphon.store.usage import GROUPABLE, UsageQuery, UsageStore, UsageSum

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 12


def _records(rng: random.Random, count: int, prefix: str) -> list[UsageRecord]:
    records = []
    for i in range(count):
        at = START + timedelta(minutes=rng.randrange(DAYS * 1440))
        workspace = rng.choice(["wrkspc_a", "wrkspc_b", None])
        key = None if workspace is None else rng.choice([f"key_{workspace}_1", f"key_{workspace}_2"])
        usage = TokenUsage(*(rng.randrange(0, 500) for _ in range(5)))
        records.append(usage_record(f"{prefix}_{i}", rng.choice(["m1", "m2", "m3"]), key, workspace,
                                    rng.choice(["standard", "batch"]), usage, at))
    return records


def _canonical(rows: list[UsageSum]) -> list[tuple[object, ...]]:
    return sorted((row.bucket, tuple(sorted((k, v is None, v or "") for k, v in row.groups.items())),
                   tuple(sorted(row.tokens.items()))) for row in rows)


def _random_query(rng: random.Random) -> UsageQuery:
    base = int(START.timestamp() // 60)
    start = base + rng.randrange(-1440, DAYS * 1440)
    end = start + rng.randrange(1, (DAYS + 1) * 1440)
    width = rng.choice([60, 1440, 1440, 2880, 10080])
    group_by = tuple(rng.sample(GROUPABLE, rng.randrange(0, 3)))
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if rng.random() < 0.4:
        filters = (("workspace_id", tuple(rng.sample(["wrkspc_a", "wrkspc_b", "", "nope"], 2))),)
    elif rng.random() < 0.3:
        filters = (("model", ("m2",)),)
    if width < 1440 or rng.random() < 0.5:
        start = start // width * width  # as the reports align it
    return UsageQuery(start, end, width, group_by, filters)


def test_day_sums_equal_record_sums_for_random_queries(url: str) -> None:
    async def scenario() -> None:
        rng = random.Random(17)
        database = await Database.open(url)
        store = UsageStore(database)
        records = _records(rng, 600, "req")
        await store.add_many(records[:400])
        await store.add_many(records[300:])  # a retried batch: its first 100 are not counted again
        for _ in range(60):
            query = _random_query(rng)
            assert _canonical(await store.sums(query)) == _canonical(await store.record_sums(query)), query
        whole = await store.sums(UsageQuery(0, 10**9, 1440 * 10**5))
        assert sum(row.tokens["output_tokens"] for row in whole) == sum(r.output_tokens for r in records)
        await database.close()

    asyncio.run(scenario())


def test_sums_priced_by_the_store_equal_pricing_each_model_and_tier(url: str) -> None:
    """The Console's usage page has the database price what it sums (`PriceTable.weights`):
    per group and bucket it must equal pricing each (model, tier) line as the cost report
    does, from the day rows and from the records alike."""
    prices = PriceTable({"m1": ModelPrice(input=3.0, output=15.0, cache_read=0.3, cache_write_5m=3.75),
                         "m2": ModelPrice(input=1.0, output=5.0, cache_write_1h=2.0),
                         "*": ModelPrice(input=0.5, output=0.25)})

    async def scenario() -> None:
        rng = random.Random(5)
        database = await Database.open(url)
        store = UsageStore(database)
        await store.add_many(_records(rng, 500, "priced"))
        base = int(START.timestamp() // 60)
        for start, width in ((base, 1440), (base + 37, 1440), (base, 60), (base, 2880)):
            end = base + DAYS * 1440 - 11
            for group in ("model", "api_key_id", "workspace_id"):
                priced = await store.sums(UsageQuery(start, end, width, (group,), weights=prices.weights()))
                lines = await store.sums(UsageQuery(start, end, width, tuple(dict.fromkeys((group, "model", "service_tier")))))
                expected: dict[tuple[int, str | None], float] = {}
                for line in lines:
                    cents = prices.total_cents(line.groups["model"] or "", line.groups["service_tier"] or "standard", line.tokens)
                    key = (line.bucket, line.groups[group])
                    expected[key] = expected.get(key, 0.0) + cents
                got = {(row.bucket, row.groups[group]): row.weighted for row in priced}
                assert got.keys() == expected.keys()
                for key, cents in expected.items():
                    assert math.isclose(got[key], cents, rel_tol=1e-9, abs_tol=1e-9), (group, width, key)
        await database.close()

    asyncio.run(scenario())


def _migrate(connection: Connection, revision: str, up: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(files("antiphon.store") / "migrations"))
    config.attributes["connection"] = connection
    (command.upgrade if up else command.downgrade)(config, revision)


def test_the_migration_sums_the_records_already_stored(url: str) -> None:
    async def scenario() -> None:
        rng = random.Random(5)
        database = await Database.open(url)
        store = UsageStore(database)
        async with database.engine.begin() as connection:
            await connection.run_sync(_migrate, "0008", False)
        records = _records(rng, 200, "old")
        async with database.transaction() as session:
            session.add_all(records)  # as stored before days were kept
        async with database.engine.begin() as connection:
            await connection.run_sync(_migrate, "head", True)
            assert (await connection.execute(text("SELECT COUNT(*) FROM usage_days"))).scalar_one() > 0
        for _ in range(20):
            query = _random_query(rng)
            assert _canonical(await store.sums(query)) == _canonical(await store.record_sums(query)), query
        await database.close()

    asyncio.run(scenario())
