"""Stacked bar charts as inline SVG, rendered on the server: no script, no library.

The Console's CSP forbids inline styles, so colours come from CSS classes (`series-0` …
`series-7` in console.css) and geometry from SVG attributes. Each chart is an image with a
text alternative (role="img" and an aria-label that states what it shows and the total);
every bar's column carries a `<title>` (the browser's tooltip) with its exact values, and
the page shows the same numbers in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE_SIZE = 8  # series-0 … series-7 in console.css; more series are folded into "Other"
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 30  # room for the y-axis labels and the x-axis labels
MAX_X_LABELS = 8
Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One stacked layer: its name and one value per bucket."""

    name: str
    values: tuple[float, ...]

    @property
    def total(self) -> float:
        return sum(self.values)


@dataclass(frozen=True)
class Chart:
    """`labels` name the buckets in full (tooltips), `ticks` briefly (the x axis)."""

    title: str
    labels: tuple[str, ...]
    ticks: tuple[str, ...]
    series: tuple[Series, ...]
    exact: Format  # a value as the tooltips and the aria-label say it
    axis: Format  # a value as the y axis says it (shorter)


def fold_other(series: Sequence[Series], keep: int = PALETTE_SIZE) -> tuple[Series, ...]:
    """The `keep - 1` largest series and one "Other" holding the rest (when there are more
    than `keep`), so that each colour stands for one thing."""
    ranked = sorted(series, key=lambda s: -s.total)
    if len(ranked) <= keep:
        return tuple(ranked)
    rest = ranked[keep - 1 :]
    other = tuple(sum(values) for values in zip(*(s.values for s in rest), strict=True))
    return (*ranked[: keep - 1], Series(f"Other ({len(rest)})", other))


def nice_ceiling(value: float) -> tuple[float, float]:
    """An axis top at or above `value` and its tick step: 1, 2 or 5 times a power of ten,
    four or five ticks high."""
    if value <= 0:
        return 1.0, 0.25
    raw_step = value / 4
    power = 10 ** math.floor(math.log10(raw_step))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw_step)
    return step * math.ceil(value / step - 1e-9), step


def compact(value: float) -> str:
    """1,234 → "1.2k", 3,400,000 → "3.4M": short enough for an axis."""
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:.3g}"


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _y_axis(top: float, step: float, axis: Format) -> list[str]:
    plot_height = HEIGHT - TOP - BOTTOM
    parts = []
    ticks = round(top / step)
    for i in range(ticks + 1):
        y = HEIGHT - BOTTOM - plot_height * i / ticks
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_number(y)}" y2="{_number(y)}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{_number(y + 4)}" text-anchor="end">'
                     f"{escape(axis(step * i))}</text>")
    return parts


def _x_axis(ticks: Sequence[str], slot: float) -> list[str]:
    every = max(1, math.ceil(len(ticks) / MAX_X_LABELS))
    parts = []
    for i in range(0, len(ticks), every):
        x = LEFT + slot * (i + 0.5)
        anchor = "start" if i == 0 and len(ticks) > 1 else "middle"
        parts.append(f'<text class="tick" x="{_number(x if anchor == "middle" else LEFT)}" '
                     f'y="{HEIGHT - 10}" text-anchor="{anchor}">{escape(ticks[i])}</text>')
    return parts


def _tooltip(chart: Chart, index: int) -> str:
    values = [(s.name, s.values[index]) for s in chart.series if s.values[index] > 0]
    lines = "; ".join(f"{name}: {chart.exact(value)}" for name, value in values)
    return f"{chart.labels[index]}: {chart.exact(sum(v for _, v in values))} ({lines})"


def _bars(chart: Chart, slot: float, scale: float) -> list[str]:
    """One path per series (every bucket's segment of it), stacked bottom to top in series
    order, and per bucket with usage a column-high transparent target whose `<title>` is
    the tooltip: a year of buckets stays a few elements per series, not one per segment."""
    bar_width = max(slot * 0.8, 0.6)
    paths: list[list[str]] = [[] for _ in chart.series]
    targets = []
    for i in range(len(chart.labels)):
        x, y = LEFT + slot * i + (slot - bar_width) / 2, float(HEIGHT - BOTTOM)
        for k, series in enumerate(chart.series):
            if series.values[i] > 0:
                height = max(series.values[i] * scale, 0.5)
                y -= height
                # Tenths of a unit: the view box is 720 wide, so finer is invisible.
                paths[k].append(f"M{x:.1f} {y:.1f}h{bar_width:.1f}v{height:.1f}h-{bar_width:.1f}z")
        if y < HEIGHT - BOTTOM:
            targets.append(f'<rect class="target" x="{_number(LEFT + slot * i)}" y="{TOP}" '
                           f'width="{_number(slot)}" height="{HEIGHT - TOP - BOTTOM}">'
                           f"<title>{escape(_tooltip(chart, i))}</title></rect>")
    layers = [f'<path class="series-{k}" d="{"".join(d)}"/>' for k, d in enumerate(paths) if d]
    return layers + targets


def stacked_bars(chart: Chart) -> Markup:
    """The chart as an `<svg>` element that scales to its container's width."""
    buckets = len(chart.labels)
    totals = [sum(s.values[i] for s in chart.series) for i in range(buckets)]
    top, step = nice_ceiling(max(totals, default=0.0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(buckets, 1)
    summary = f"{chart.title}: {chart.exact(sum(totals))} in total"
    if buckets:
        summary += f", {chart.labels[0]} to {chart.labels[-1]}"
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(summary)}" preserveAspectRatio="xMidYMid meet">',
             f"<title>{escape(summary)}</title>", *_y_axis(top, step, chart.axis)]
    parts += _bars(chart, slot, plot_height / top)
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
                 f'y2="{HEIGHT - BOTTOM}"/>')
    parts += _x_axis(chart.ticks, slot)
    if not any(totals):
        parts.append(f'<text class="empty" x="{LEFT + plot_width / 2}" y="{TOP + plot_height / 2}" '
                     'text-anchor="middle">No usage in this range</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: Sequence[Series], exact: Format) -> Markup:
    """The series' colours and names, with each one's total."""
    items = [
        f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true" focusable="false">'
        f'<rect class="series-{k}" width="10" height="10" rx="2"/></svg>'
        f"{escape(s.name)} <span class=\"hint\">{escape(exact(s.total))}</span></li>"
        for k, s in enumerate(series)
    ]
    return Markup(f'<ul class="legend">{"".join(items)}</ul>')
