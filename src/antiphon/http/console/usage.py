"""The Console's usage and cost page: tokens and cost over time, grouped by model, workspace
or API key, for a range of dates (UTC).

The numbers are the sums behind `/v1/organizations/usage_report/messages` (`UsageStore.sums`,
which `services/reports.Reports` pages into the report), priced by the price table behind
`/v1/organizations/cost_report` as the database adds them up (`PriceTable.weights`), so the
page and the Admin API agree to the token and to the cent; the report's JSON shapes are
skipped, as building them for a year of day buckets took longer than everything else
together. A member limited to some workspaces sees only theirs. The form is a GET, so a view
is a URL that can be shared.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from antiphon.errors import InvalidRequest
from antiphon.http.console import charts
from antiphon.http.console.keys import usable_workspaces
from antiphon.http.console.pages import render
from antiphon.http.console.session import CAN_MANAGE_KEYS, Visit, page
from antiphon.http.routes.admin.views import platform
from antiphon.ids import utc_now
from antiphon.services.platform import Platform
from antiphon.store.pages import PageRequest
from antiphon.store.usage import MINUTES_PER_DAY, UsageQuery, UsageSum, Weights

DEFAULT_DAYS = 30
MAX_DAYS = 366
HOURLY_MAX_DAYS = 2  # beyond this, hour buckets would be too thin to read
WIDTHS = {"day": 1440, "hour": 60}
GROUPS = {"model": ("model", "Model"), "workspace": ("workspace_id", "Workspace"),
          "key": ("api_key_id", "API key")}
TOKEN_KINDS = ("Uncached input", "Cache writes", "Cache reads", "Output")
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAMES_LISTED = 1000


@dataclass(frozen=True)
class Selection:
    start: date
    end: date  # inclusive
    width: str  # a key of WIDTHS
    group: str  # a key of GROUPS

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def query(self, filters: tuple[tuple[str, tuple[str, ...]], ...], weights: Weights) -> UsageQuery:
        """The sums the usage report would ask for these days (its buckets aligned the same
        way), by group, each priced as the store adds it up."""
        start = (self.start - EARLIEST).days * MINUTES_PER_DAY
        return UsageQuery(start_minute=start, end_minute=start + self.days * MINUTES_PER_DAY,
                          width_minutes=WIDTHS[self.width], group_by=(GROUPS[self.group][0],),
                          filters=filters, weights=weights)


def _date(params: QueryParams, name: str, label: str, default: date) -> date:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"{label}: not a date (YYYY-MM-DD): {raw!r}") from None
    if not EARLIEST <= value <= LATEST:
        raise InvalidRequest(f"{label}: must be between {EARLIEST} and {LATEST}")
    return value


def parse_selection(params: QueryParams, today: date) -> Selection:
    """The form's fields, or the defaults: the last 30 days by model, in day buckets (hour
    buckets for a range of up to two days)."""
    end = _date(params, "end", "End date", today)
    start = _date(params, "start", "Start date", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise InvalidRequest("Start date: must not be after the end date")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InvalidRequest(f"Dates: a range is at most {MAX_DAYS} days, this one is {days}")
    width = params.get("width") or ("hour" if days <= HOURLY_MAX_DAYS else "day")
    if width not in WIDTHS:
        raise InvalidRequest(f"Bucket: must be day or hour, got {width!r}")
    if width == "hour" and days > HOURLY_MAX_DAYS:
        raise InvalidRequest(f"Bucket: hours are for ranges of up to {HOURLY_MAX_DAYS} days; choose day")
    group = params.get("group") or "model"
    if group not in GROUPS:
        raise InvalidRequest(f"Group by: must be model, workspace or key, got {group!r}")
    return Selection(start, end, width, group)


@dataclass
class GroupTotals:
    """One group's sums over the whole range (a row of the totals table)."""

    key: str | None
    name: str
    tokens: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # as TOKEN_KINDS
    cents: float = 0.0

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)


@dataclass
class UsageView:
    labels: tuple[str, ...]
    ticks: tuple[str, ...]
    groups: list[GroupTotals]
    by_type: list[list[int]]  # TOKEN_KINDS × buckets
    tokens: dict[str | None, list[int]]  # group → tokens per bucket
    cents: dict[str | None, list[float]]  # group → cents per bucket
    bucket_cents: list[float]

    def bucket_rows(self) -> list[tuple[str, list[int], float]]:
        """The buckets with any usage: label, tokens by kind, cents (the per-bucket table)."""
        rows = []
        for i, label in enumerate(self.labels):
            counts = [values[i] for values in self.by_type]
            if any(counts) or self.bucket_cents[i]:
                rows.append((label, counts, self.bucket_cents[i]))
        return rows

    @property
    def total(self) -> GroupTotals:
        total = GroupTotals(None, "Total")
        for group in self.groups:
            total.tokens = [a + b for a, b in zip(total.tokens, group.tokens, strict=True)]
            total.cents += group.cents
        return total


def _token_counts(row: UsageSum) -> tuple[int, int, int, int]:
    tokens = row.tokens
    return (tokens["uncached_input_tokens"], tokens["cache_creation_5m_tokens"] + tokens["cache_creation_1h_tokens"],
            tokens["cache_read_tokens"], tokens["output_tokens"])


def _bucket_names(selection: Selection, starts: range) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each bucket's full label (tooltips, table) and its short one (the x axis)."""
    moments = [EPOCH + timedelta(minutes=minute) for minute in starts]
    if selection.width == "day":
        return (tuple(m.strftime("%Y-%m-%d") for m in moments),
                tuple(m.strftime("%b %-d") for m in moments))
    return (tuple(m.strftime("%Y-%m-%d %H:%M") for m in moments),
            tuple(m.strftime("%b %-d") if m.hour == 0 else m.strftime("%H:%M") for m in moments))


async def _names(services: Platform, visit: Visit, request: Request, group: str) -> dict[str | None, str]:
    """Display names of the groups: workspace and key names (their ids where unknown)."""
    if group == "workspace":
        return {w.id: w.name for w in await usable_workspaces(request, visit)} | {None: "No workspace"}
    if group == "key":
        keys = await services.keys.list(PageRequest(NAMES_LISTED), None, None, visit.user.workspace_ids)
        return {key.id: key.name for key in keys.rows} | {None: "No API key"}
    return {None: "Unknown model"}


async def gather(services: Platform, selection: Selection,
                 filters: tuple[tuple[str, tuple[str, ...]], ...], names: dict[str | None, str]) -> UsageView:
    """The range's sums, as the usage report reads them, priced by the database with the
    cost report's prices (`PriceTable.weights`), folded into the charts' series."""
    query = selection.query(filters, services.prices.weights())
    starts = range(query.start_minute, query.end_minute, query.width_minutes)
    buckets, first = len(starts), query.start_minute // query.width_minutes
    column = GROUPS[selection.group][0]
    by_type = [[0] * buckets for _ in TOKEN_KINDS]
    tokens: dict[str | None, list[int]] = defaultdict(lambda: [0] * buckets)
    cents: dict[str | None, list[float]] = defaultdict(lambda: [0.0] * buckets)
    groups: dict[str | None, GroupTotals] = {}
    for row in await services.usage.sums(query):
        i, key = row.bucket - first, row.groups[column]
        counts = _token_counts(row)
        totals = groups.get(key) or groups.setdefault(key, GroupTotals(key, names.get(key, key or "")))
        for kind, count in enumerate(counts):
            by_type[kind][i] += count
            totals.tokens[kind] += count
        tokens[key][i] += sum(counts)
        cents[key][i] += row.weighted
        totals.cents += row.weighted
    labels, ticks = _bucket_names(selection, starts)
    ranked = sorted(groups.values(), key=lambda g: (-g.total_tokens, -g.cents, g.name))
    bucket_cents = [sum(values[i] for values in cents.values()) for i in range(buckets)]
    return UsageView(labels, ticks, ranked, by_type, dict(tokens), dict(cents), bucket_cents)


def dollars(cents: float) -> str:
    """US dollars from cents: two decimals, four for amounts under a dollar."""
    amount = cents / 100
    return f"${amount:,.2f}" if abs(amount) >= 1 or amount == 0 else f"${amount:,.4f}"


def _charts(view: UsageView, group_label: str) -> list[tuple[charts.Chart, Markup, Markup]]:
    def tokens_text(value: float) -> str:
        return f"{round(value):,} tokens"

    def series(values: dict[str | None, list[int]] | dict[str | None, list[float]]) -> tuple[charts.Series, ...]:
        return charts.fold_other([charts.Series(g.name, tuple(values.get(g.key, ()))) for g in view.groups])

    def axis_dollars(cents: float) -> str:
        return "$" + charts.compact(cents / 100) if cents >= 100 else f"${cents / 100:.2f}"

    made = [
        charts.Chart("Tokens by type", view.labels, view.ticks,
                     tuple(charts.Series(kind, tuple(values)) for kind, values in zip(TOKEN_KINDS, view.by_type, strict=True)),
                     tokens_text, charts.compact),
        charts.Chart(f"Tokens by {group_label.lower()}", view.labels, view.ticks, series(view.tokens),
                     tokens_text, charts.compact),
        charts.Chart(f"Cost by {group_label.lower()}", view.labels, view.ticks, series(view.cents),
                     dollars, axis_dollars),
    ]
    return [(chart, charts.stacked_bars(chart), charts.legend(chart.series, chart.exact)) for chart in made]


async def _filters(request: Request, visit: Visit) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A member limited to some workspaces sees their usage only (no usage at all if none)."""
    if visit.may_use(None):  # not limited to any workspace
        return ()
    allowed = tuple(sorted(w.id for w in await usable_workspaces(request, visit)))
    return (("workspace_id", allowed),)


@page(CAN_MANAGE_KEYS)
async def usage_page(request: Request, visit: Visit) -> Response:
    params = request.query_params
    form = {name: params.get(name, "") for name in ("start", "end", "width", "group")}
    try:
        selection = parse_selection(params, utc_now().date())
    except InvalidRequest as error:
        return render(request, "usage.html", visit, 400, form=form, error=error.message,
                      groups=GROUPS, view=None, hourly_max_days=HOURLY_MAX_DAYS)
    services = platform(request)
    names = await _names(services, visit, request, selection.group)
    view = await gather(services, selection, await _filters(request, visit), names)
    form = {"start": selection.start.isoformat(), "end": selection.end.isoformat(),
            "width": params.get("width", ""), "group": selection.group}  # "Automatic" stays so
    group_label = GROUPS[selection.group][1]
    return render(request, "usage.html", visit, form=form, groups=GROUPS, view=view,
                  selection=selection, group_label=group_label, charts=_charts(view, group_label),
                  token_kinds=TOKEN_KINDS, dollars=dollars, hourly_max_days=HOURLY_MAX_DAYS)
