"""The usage page's SVG charts: well-formed, accessible, to scale, no inline styles."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from antiphon.http.console.charts import (
    HEIGHT,
    PALETTE_SIZE,
    Chart,
    Series,
    compact,
    fold_other,
    legend,
    nice_ceiling,
    stacked_bars,
)

SVG = "{http://www.w3.org/2000/svg}"


def _chart(series: tuple[Series, ...], buckets: int = 3) -> Chart:
    labels = tuple(f"2026-03-0{i + 1}" for i in range(buckets))
    return Chart("Tokens by model", labels, tuple(f"Mar {i + 1}" for i in range(buckets)), series,
                 lambda v: f"{round(v):,} tokens", compact)


def _parse(markup: str) -> ET.Element:
    # The markup is inline SVG in HTML; parsed as XML it must be well formed.
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_axis_tops_are_round_numbers_at_or_above_the_largest_bar() -> None:
    assert nice_ceiling(0) == (1.0, 0.25)
    assert nice_ceiling(7) == (8.0, 2.0)
    assert nice_ceiling(100) == (100.0, 50.0)
    for value in (0.003, 1, 9.99, 12_345, 987_654_321):
        top, step = nice_ceiling(value)
        assert top >= value and top / step <= 5 and round(top / step) == top / step


def test_compact_numbers_for_the_axis() -> None:
    assert [compact(v) for v in (0, 12, 1_234, 3_400_000, 2e9)] == ["0", "12", "1.23k", "3.4M", "2G"]


def _segments(svg: ET.Element) -> dict[str, list[tuple[float, float, float]]]:
    """Each series' bar segments as (x, y, height), from its path's `M x y h w v height …z`."""
    found = {}
    for path in svg.findall(f"{SVG}path"):
        found[path.get("class", "")] = [
            (float(x), float(y), float(height))
            for x, y, height in re.findall(r"M([\d.]+) ([\d.]+)h[\d.]+v([\d.]+)h-[\d.]+z", path.get("d", ""))]
    return found


def test_bars_are_stacked_to_scale_with_a_tooltip_each() -> None:
    chart = _chart((Series("small-model", (10, 0, 30)), Series("big-model", (30, 0, 10))))
    svg = _parse(stacked_bars(chart))
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "Tokens by model: 80 tokens in total, 2026-03-01 to 2026-03-03"
    targets = [rect for rect in svg.findall(f"{SVG}rect") if rect.get("class") == "target"]
    assert len(targets) == 2  # the empty middle bucket has nothing to point at
    assert targets[0].findtext(f"{SVG}title") == \
        "2026-03-01: 40 tokens (small-model: 10 tokens; big-model: 30 tokens)"
    segments = _segments(svg)
    assert sorted(segments) == ["series-0", "series-1"]
    (x0, y0, h0), (_, y2, h2) = segments["series-0"]
    (x1, y1, h1), _ = segments["series-1"]
    assert h1 == 3 * h0 and h2 == 3 * segments["series-1"][1][2]  # 30 tokens: three times 10
    # Stacked: the first layer stands on the axis, the second on the first.
    assert x0 == x1 and y0 + h0 == HEIGHT - 30 and y1 + h1 == y0 and y2 + h2 == HEIGHT - 30


def test_no_style_attribute_and_names_are_escaped() -> None:
    chart = _chart((Series('<script>alert("x")</script> & co', (1, 2, 3)),))
    markup = str(stacked_bars(chart)) + str(legend(chart.series, chart.exact))
    assert "style=" not in markup and "<script>" not in markup
    assert "&lt;script&gt;" in markup
    _parse(stacked_bars(chart))


def test_an_empty_range_says_so() -> None:
    svg = _parse(stacked_bars(_chart((Series("m", (0, 0, 0)),))))
    assert [text.text for text in svg.iter(f"{SVG}text") if text.get("class") == "empty"] == ["No usage in this range"]
    assert svg.findall(f"{SVG}path") == [] and svg.findall(f"{SVG}rect") == []


def test_more_series_than_colours_fold_the_smallest_into_other() -> None:
    many = [Series(f"key-{i}", (float(i), 1.0)) for i in range(12)]
    folded = fold_other(many)
    assert len(folded) == PALETTE_SIZE
    assert [s.name for s in folded[:3]] == ["key-11", "key-10", "key-9"]
    assert folded[-1].name == "Other (5)" and folded[-1].values == (0 + 1 + 2 + 3 + 4, 5.0)
    assert sum(s.total for s in folded) == sum(s.total for s in many)
    assert fold_other(many[:3]) == tuple(reversed(many[:3]))


def test_legend_names_each_colour_and_total() -> None:
    chart = _chart((Series("a", (1, 1, 1)), Series("b", (2, 2, 2))))
    html = str(legend(chart.series, chart.exact))
    assert html.count("<li>") == 2 and 'class="series-1"' in html and "6 tokens" in html
    assert 'aria-hidden="true"' in html
