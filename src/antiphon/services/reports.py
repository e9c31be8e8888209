"""The usage and cost reports: time buckets of summed usage, one page of buckets at a time.

Buckets are aligned to their width in UTC (a day bucket starts at midnight) and every
bucket of the page is listed, with an empty `results` when nothing was used in it. The page
cursor is the start of the next bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from antiphon.ids import rfc3339
from antiphon.protocol.reports import (
    CacheCreationTokens,
    CostBucket,
    CostReport,
    CostResult,
    UsageBucket,
    UsageReport,
    UsageResult,
)
from antiphon.services.pricing import TOKEN_TYPES, PriceTable
from antiphon.store.usage import UsageQuery, UsageStore, UsageSum

WIDTH_MINUTES = {"1m": 1, "1h": 60, "1d": 1440}
_TOKEN_NAMES = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_tokens": "Cache Read",
    "cache_creation_5m_tokens": "Cache Write (5m)",
    "cache_creation_1h_tokens": "Cache Write (1h)",
}


@dataclass(frozen=True)
class ReportRequest:
    start_minute: int  # aligned to the bucket width
    end_minute: int  # exclusive
    width_minutes: int
    limit: int  # buckets per page
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _at(minute: int) -> str:
    return rfc3339(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute))


class Reports:
    def __init__(self, usage: UsageStore, prices: PriceTable) -> None:
        self._usage = usage
        self._prices = prices

    async def _page(
        self, request: ReportRequest, group_by: tuple[str, ...]
    ) -> tuple[list[int], dict[int, list[UsageSum]], str | None]:
        """The page's bucket starts, their sums, and the next page's cursor."""
        width = request.width_minutes
        # Only this page's starts: a range of centuries in minutes would not fit in memory
        # (a fuzzer asked for year 46 to now in 1m buckets, and the server was OOM-killed).
        following = min(request.start_minute + request.limit * width, request.end_minute)
        page = list(range(request.start_minute, following, width))
        sums: dict[int, list[UsageSum]] = defaultdict(list)
        if page:
            query = UsageQuery(page[0], min(page[-1] + width, request.end_minute), width, group_by, request.filters)
            for row in await self._usage.sums(query):
                sums[row.bucket * width].append(row)
        rest = page[-1] + width if page else request.end_minute
        return page, sums, (_at(rest) if rest < request.end_minute else None)

    async def usage(self, request: ReportRequest) -> UsageReport:
        page, sums, next_page = await self._page(request, request.group_by)
        buckets = [
            UsageBucket(
                starting_at=_at(start), ending_at=_at(min(start + request.width_minutes, request.end_minute)),
                results=[_usage_result(row) for row in sums.get(start, [])],
            )
            for start in page
        ]
        return UsageReport(data=buckets, has_more=next_page is not None, next_page=next_page)

    async def cost(self, request: ReportRequest, by_description: bool) -> CostReport:
        dims = tuple(d for d in ("workspace_id",) if d in request.group_by)
        page, sums, next_page = await self._page(request, (*dims, "model", "service_tier"))
        buckets = []
        for start in page:
            results = self._cost_results(sums.get(start, []), dims, by_description)
            end = min(start + request.width_minutes, request.end_minute)
            buckets.append(CostBucket(starting_at=_at(start), ending_at=_at(end), results=results))
        return CostReport(data=buckets, has_more=next_page is not None, next_page=next_page)

    def _cost_results(self, rows: Sequence[UsageSum], dims: tuple[str, ...], by_description: bool) -> list[CostResult]:
        totals: dict[tuple[str | None, ...], float] = defaultdict(float)
        for row in rows:
            model, tier = row.groups["model"] or "", row.groups["service_tier"] or "standard"
            for column in TOKEN_TYPES:
                cents = self._prices.cents(model, tier, column, row.tokens[column])
                detail: tuple[str | None, ...] = (model, tier, column) if by_description else (None, None, None)
                totals[(*(row.groups[d] for d in dims), *detail)] += cents
        results = []
        for key, cents in sorted(totals.items(), key=lambda item: tuple(str(k) for k in item[0])):
            fields: dict[str, str | None] = dict(zip(dims, key[: len(dims)]))
            line_model, line_tier, line_column = key[len(dims) :]
            if line_column is not None:
                fields |= {
                    "model": line_model, "service_tier": line_tier, "cost_type": "tokens",
                    "token_type": TOKEN_TYPES[line_column][1],
                    "description": f"{line_model} Usage - {_TOKEN_NAMES[line_column]}",
                }
            amount = f"{cents:.6f}".rstrip("0").rstrip(".") or "0"
            results.append(CostResult.model_validate({"amount": amount, **fields}))
        return results


def _usage_result(row: UsageSum) -> UsageResult:
    tokens = row.tokens
    creation = CacheCreationTokens(
        ephemeral_1h_input_tokens=tokens["cache_creation_1h_tokens"],
        ephemeral_5m_input_tokens=tokens["cache_creation_5m_tokens"],
    )
    return UsageResult.model_validate({
        "uncached_input_tokens": tokens["uncached_input_tokens"],
        "cache_creation": creation,
        "cache_read_input_tokens": tokens["cache_read_tokens"],
        "output_tokens": tokens["output_tokens"],
        **row.groups,
    })
