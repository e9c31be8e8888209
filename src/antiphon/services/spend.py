"""Month-to-date spend per workspace, for spend limits.

The month's sum is read from the usage table (all replicas' records) at most every
`REFRESH_SECONDS` per workspace; what this process records in between is added at once, so
a workspace that crosses its limit here is stopped by its next request here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from antiphon.errors import Overloaded
from antiphon.services.pricing import TOKEN_TYPES, PriceTable
from antiphon.store.tables import UsageRecord
from antiphon.store.usage import UsageQuery, UsageStore

REFRESH_SECONDS = 5.0


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass
class _Spent:
    month: datetime
    cents: float
    read_at: float


class SpendTracker:
    def __init__(self, usage: UsageStore, prices: PriceTable) -> None:
        self._usage = usage
        self._prices = prices
        self._spent: dict[str, _Spent] = {}

    def on_record(self, record: UsageRecord) -> None:
        spent = self._spent.get(record.workspace_id or "")
        if spent is not None and spent.month == month_start(record.recorded_at):
            tokens = {column: getattr(record, column) for column in TOKEN_TYPES}
            spent.cents += self._prices.total_cents(record.model, record.service_tier, tokens)

    async def month_to_date_cents(self, workspace_id: str, now: datetime) -> float:
        month = month_start(now)
        spent = self._spent.get(workspace_id)
        if spent is None or spent.month != month or time.monotonic() - spent.read_at > REFRESH_SECONDS:
            try:
                cents = await self._read(workspace_id, month, now)
            except Overloaded:
                if spent is None or spent.month != month:
                    raise
                cents = spent.cents  # the store is down: what is known so far applies
            spent = _Spent(month, cents, time.monotonic())
            self._spent[workspace_id] = spent
        return spent.cents

    async def _read(self, workspace_id: str, month: datetime, now: datetime) -> float:
        query = UsageQuery(
            start_minute=int(month.timestamp() // 60),
            end_minute=int(now.timestamp() // 60) + 1,
            width_minutes=60 * 24 * 31,
            group_by=("model", "service_tier"),
            filters=(("workspace_id", (workspace_id,)),),
        )
        total = 0.0
        for row in await self._usage.sums(query):
            model, tier = row.groups["model"] or "", row.groups["service_tier"] or "standard"
            total += self._prices.total_cents(model, tier, row.tokens)
        return total
