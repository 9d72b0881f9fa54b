"""The report's charts, as inline SVG: CDFs, histograms, category bars, a feature's distance and
the drifted share over the last checks, and the table's sparklines. All with labelled axes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from driftcheck.compare import FeatureDrift
from driftcheck.reference import CategoricalReference, NumericReference
from driftcheck.report.context import AlarmRule, PastCheck
from driftcheck.report.words import escape, readable
from driftcheck.window import CategoricalPartial, NumericPartial

WIDTH, HEIGHT, PAD = 500, 210, 48
MAX_POINTS = 240
TOP_CATEGORIES = 10
HISTOGRAM_BINS = 20
MAX_INTEGER_BINS = 40  # whole numbers spanning up to this many values get a bar each
BASELINE_COLOUR, WINDOW_COLOUR, ALERT_COLOUR = "#98a2b3", "#1570ef", "#b42318"


def share_chart(history: Sequence[PastCheck], current: float, alarm: AlarmRule) -> str:
    """Drifted share per check window, this one highlighted, the alarm's share dashed."""
    shares = [c.drifted_share for c in history] + [current]
    labels = [c.start for c in history]
    width, height = 2 * WIDTH, 150
    top = max([alarm.share * 1.5, *(s for s in shares if s is not None)])
    plot = _Frame(width, height, 0.0, float(len(shares)), 0.0, top)
    step = (plot.right - plot.left) / len(shares)
    bars = []
    for i, share in enumerate(shares):
        x = plot.left + i * step + step * 0.15
        if share is None:  # a window without data: nothing published
            mark = f"<text x='{x + step * 0.35:.1f}' y='{plot.bottom - 4}' text-anchor='middle'>"
            bars.append(mark + "–</text>")
            continue
        colour = WINDOW_COLOUR if i == len(shares) - 1 else BASELINE_COLOUR
        y = plot.y(share)
        bars.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{step * 0.7:.1f}' "
            f"height='{plot.bottom - y:.1f}' fill='{colour}'><title>{share:.0%}</title></rect>"
        )
    ticks = [(0, _hour(labels[0]) if labels else "")] if labels else []
    ticks.append((len(shares) - 1, "this check"))
    x_ticks = "".join(
        f"<text x='{plot.left + (i + 0.5) * step:.1f}' y='{plot.bottom + 14}' "
        f"text-anchor='middle'>{escape(text)}</text>"
        for i, text in ticks
    )
    limit = (
        f"<line x1='{plot.left}' x2='{plot.right}' y1='{plot.y(alarm.share):.1f}' "
        f"y2='{plot.y(alarm.share):.1f}' stroke='{ALERT_COLOUR}' stroke-dasharray='4 3'/>"
        f"<text x='{plot.left + 4}' y='{plot.y(alarm.share) - 4:.1f}'>"
        f"alarm: more than {alarm.share:.0%}</text>"
    )
    axes = plot.axes(
        "check window (UTC)",
        "drifted share",
        y_ticks=[(0.0, "0%"), (top, f"{top:.0%}")],
        x_ticks="",
    )
    return _svg(axes + "".join(bars) + x_ticks + limit, width, height, "drifted share by check")


def cdf_plot(feature: NumericReference, partial: NumericPartial) -> str:
    """Baseline and window CDFs at the baseline's edges, with the largest gap marked; steps
    for whole numbers (their CDF jumps at each value), lines otherwise."""
    edges = feature.edges
    window_cdf = np.cumsum(partial.counts)[:-1] / max(partial.count, 1)
    low = min(feature.low, partial.minimum)
    high = max(feature.high, partial.maximum)
    keep = np.unique(np.linspace(0, edges.size - 1, min(edges.size, MAX_POINTS)).astype(int))
    gap = int(np.argmax(np.abs(feature.cdf - window_cdf)))
    keep = np.union1d(keep, [gap])
    plot = _Frame(WIDTH, HEIGHT, low, high, 0.0, 1.0)

    def line(cdf: NDArray[np.float64], colour: str) -> str:
        points = []
        previous = 0.0
        for i in keep:
            x, share = plot.x(float(edges[i])), float(cdf[i])
            if feature.integral:
                points.append(f"{x:.1f},{plot.y(previous):.1f}")
            points.append(f"{x:.1f},{plot.y(share):.1f}")
            previous = share
        if float(edges[-1]) < high:  # on to the window's maximum, where every CDF is 1
            points.append(f"{plot.right:.1f},{plot.y(1.0):.1f}")
        return (
            f"<polyline fill='none' stroke='{colour}' stroke-width='2' "
            f"points='{' '.join(points)}'/>"
        )

    gx = plot.x(float(edges[gap]))
    size = abs(float(feature.cdf[gap] - window_cdf[gap]))
    marker = (
        f"<line x1='{gx:.1f}' x2='{gx:.1f}' y1='{plot.y(float(feature.cdf[gap])):.1f}' "
        f"y2='{plot.y(float(window_cdf[gap])):.1f}' stroke='{ALERT_COLOUR}' "
        "stroke-dasharray='3 2' stroke-width='2'/>"
        f"<text x='{plot.right}' y='{plot.bottom - 6}' text-anchor='end' "
        f"fill='{ALERT_COLOUR}'>largest gap {size:.3f}</text>"
    )
    axes = plot.axes(
        f"{feature.name} (value)",
        "share of values ≤ x",
        y_ticks=[(0.0, "0"), (0.5, "0.5"), (1.0, "1")],
        x_ticks=plot.value_ticks(whole=feature.integral),
    )
    kind = "step CDF, whole numbers" if feature.integral else "CDF"
    lines = line(feature.cdf, BASELINE_COLOUR) + line(window_cdf, WINDOW_COLOUR)
    return _svg(axes + lines + marker, WIDTH, HEIGHT, f"cumulative distribution ({kind})")


def histogram(feature: NumericReference, partial: NumericPartial) -> str:
    """Share of values per bin, baseline filled and window overlaid. Both read off the same
    step CDFs at the same bounds, so their bars compare like for like."""
    low = min(feature.low, partial.minimum)
    high = max(feature.high, partial.maximum)
    if feature.integral and high - low <= MAX_INTEGER_BINS:
        bounds = np.arange(math.floor(low) - 0.5, math.ceil(high) + 1.0, 1.0)
    else:
        bounds = np.linspace(low, high, HISTOGRAM_BINS + 1)
    window_cdf = np.cumsum(partial.counts)[:-1] / max(partial.count, 1)
    baseline = _shares(feature.edges, feature.cdf, bounds)
    window = _shares(feature.edges, window_cdf, bounds)
    top = float(max(baseline.max(initial=0.0), window.max(initial=0.0))) or 1.0
    plot = _Frame(WIDTH, HEIGHT, float(bounds[0]), float(bounds[-1]), 0.0, top)
    bars = []
    for i in range(bounds.size - 1):
        left, right = plot.x(float(bounds[i])), plot.x(float(bounds[i + 1]))
        for share, colour, opacity in (
            (baseline[i], BASELINE_COLOUR, 1.0),
            (window[i], WINDOW_COLOUR, 0.55),
        ):
            y = plot.y(float(share))
            bars.append(
                f"<rect x='{left + 0.5:.1f}' y='{y:.1f}' width='{max(right - left - 1, 0.5):.1f}' "
                f"height='{plot.bottom - y:.1f}' fill='{colour}' fill-opacity='{opacity}'/>"
            )
    axes = plot.axes(
        f"{feature.name} (value)",
        "share of values",
        y_ticks=[(0.0, "0"), (top, f"{top:.0%}")],
        x_ticks=plot.value_ticks(whole=feature.integral),
    )
    return _svg(axes + "".join(bars), WIDTH, HEIGHT, "histogram")


def _shares(
    edges: NDArray[np.float64], cdf: NDArray[np.float64], bounds: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The share of values in each (bounds[i], bounds[i+1]] from a step CDF known at `edges`;
    everything from the first bound to the last is counted."""
    at = np.searchsorted(edges, bounds, side="right") - 1
    cumulative = np.where(at >= 0, cdf[np.clip(at, 0, None)], 0.0)
    cumulative[0], cumulative[-1] = 0.0, 1.0
    return np.diff(np.maximum.accumulate(cumulative))


def bar_plot(feature: CategoricalReference, partial: CategoricalPartial) -> str:
    """Paired bars (baseline, window) for the categories most frequent on either side."""
    n, m = feature.count or 1, partial.present or 1
    values = set(feature.counts) | set(partial.counts)
    share = {v: (feature.counts.get(v, 0) / n, partial.counts.get(v, 0) / m) for v in values}
    top = sorted(share, key=lambda v: (-max(share[v]), v))[:TOP_CATEGORIES]
    biggest = max((max(share[v]) for v in top), default=1.0) or 1.0
    label_width, row = 150, 18
    scale = (WIDTH - label_width - 100) / biggest
    items = []
    for i, value in enumerate(top):
        top_y = 8 + i * row
        base, win = share[value]
        label = value if len(value) <= 22 else value[:21] + "…"
        items.append(
            f"<text x='{label_width - 6}' y='{top_y + 11}' text-anchor='end'>{escape(label)}</text>"
            f"<rect x='{label_width}' y='{top_y}' width='{base * scale:.1f}' height='7' "
            f"fill='{BASELINE_COLOUR}'/>"
            f"<rect x='{label_width}' y='{top_y + 7}' width='{win * scale:.1f}' height='7' "
            f"fill='{WINDOW_COLOUR}'/>"
            f"<text x='{label_width + max(base, win) * scale + 4:.1f}' y='{top_y + 11}'>"
            f"{base:.0%} → {win:.0%}</text>"
        )
    height = 40 + row * len(top)
    axis = (
        f"<line x1='{label_width}' x2='{WIDTH - 100}' y1='{height - 28}' y2='{height - 28}' "
        "stroke='#d0d5dd'/>"
        f"<text x='{(label_width + WIDTH - 100) / 2:.0f}' y='{height - 8}' "
        "text-anchor='middle'>share of values (baseline → this window)</text>"
    )
    return _svg("".join(items) + axis, WIDTH, height, "most frequent values")


def history_plot(drift: FeatureDrift, history: Sequence[PastCheck]) -> str:
    """The feature's distance per check window, this one last, its threshold dashed."""
    values = [c.distances.get(drift.name) for c in history] + [drift.distance]
    top = max([drift.threshold * 1.5, *(v for v in values if v is not None)])
    plot = _Frame(WIDTH, HEIGHT, 0.0, float(max(len(values) - 1, 1)), 0.0, top)
    points = [
        f"<circle cx='{plot.x(i):.1f}' cy='{plot.y(v):.1f}' r='3' "
        f"fill='{WINDOW_COLOUR if i == len(values) - 1 else BASELINE_COLOUR}'>"
        f"<title>{v:.3f}</title></circle>"
        for i, v in enumerate(values)
        if v is not None
    ]
    path = _segments(values, plot.x, plot.y)
    limit = (
        f"<line x1='{plot.left}' x2='{plot.right}' y1='{plot.y(drift.threshold):.1f}' "
        f"y2='{plot.y(drift.threshold):.1f}' stroke='{ALERT_COLOUR}' stroke-dasharray='4 3'/>"
        f"<text x='{plot.right}' y='{plot.y(drift.threshold) - 4:.1f}' text-anchor='end'>"
        f"threshold {drift.threshold:.3g}</text>"
    )
    first = _hour(history[0].start) if history else ""
    x_ticks = (
        f"<text x='{plot.left}' y='{plot.bottom + 14}'>{escape(first)}</text>"
        f"<text x='{plot.right}' y='{plot.bottom + 14}' text-anchor='end'>this check</text>"
    )
    axes = plot.axes(
        "check window (UTC)",
        "distance",
        y_ticks=[(0.0, "0"), (top, f"{top:.2g}")],
        x_ticks=x_ticks,
    )
    return _svg(axes + path + "".join(points) + limit, WIDTH, HEIGHT, "distance, last checks")


def sparkline(f: FeatureDrift, history: Sequence[PastCheck] | None) -> str:
    """A tiny distance-per-check line for the table (threshold dashed, this check a dot)."""
    if history is None:
        return "<span class='muted'>unavailable</span>"
    values = [c.distances.get(f.name) for c in history] + [f.distance]
    width, height = 96, 24
    top = max([f.threshold * 1.5, *(v for v in values if v is not None)])

    def x(i: float) -> float:
        return 2 + i * (width - 4) / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return height - 2 - v / top * (height - 4)

    last = (
        f"<circle cx='{x(len(values) - 1):.1f}' cy='{y(f.distance):.1f}' r='2.5' "
        f"fill='{ALERT_COLOUR if f.drifted else WINDOW_COLOUR}'/>"
    )
    limit = (
        f"<line x1='0' x2='{width}' y1='{y(f.threshold):.1f}' y2='{y(f.threshold):.1f}' "
        f"stroke='{ALERT_COLOUR}' stroke-width='0.7' stroke-dasharray='2 2'/>"
    )
    known = ", ".join("–" if v is None else f"{v:.3f}" for v in values)
    return (
        f"<svg class='spark' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"role='img' aria-label='distance over the last checks: {known}'>"
        f"<title>distance, oldest first: {known}</title>{limit}"
        f"{_segments(values, x, y, width=1.5)}{last}</svg>"
    )


def _segments(
    values: Sequence[float | None],
    x: Callable[[float], float],
    y: Callable[[float], float],
    width: float = 2.0,
) -> str:
    """Polylines through consecutive known values: a window without data is a gap."""
    runs: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
    return "".join(
        f"<polyline fill='none' stroke='{WINDOW_COLOUR}' stroke-width='{width}' "
        f"points='{' '.join(run)}'/>"
        for run in runs
        if len(run) > 1
    )


# -- drawing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """A plot area inside an SVG of width x height, mapping data (x, y) ranges to pixels."""

    width: int
    height: int
    x_low: float
    x_high: float
    y_low: float
    y_high: float

    @property
    def left(self) -> float:
        return PAD

    @property
    def right(self) -> float:
        return self.width - 16

    @property
    def top(self) -> float:
        return 12

    @property
    def bottom(self) -> float:
        return self.height - 36

    def x(self, value: float) -> float:
        span = (self.x_high - self.x_low) or 1.0
        return self.left + (value - self.x_low) / span * (self.right - self.left)

    def y(self, value: float) -> float:
        span = (self.y_high - self.y_low) or 1.0
        return self.bottom - (value - self.y_low) / span * (self.bottom - self.top)

    def value_ticks(self, count: int = 5, *, whole: bool = False) -> str:
        """Evenly spaced value labels along the x axis (whole numbers only, if asked)."""
        if whole:  # inside the axis, which whole-number bars widen by half a value
            low, high = math.ceil(self.x_low), math.floor(self.x_high)
            values = np.unique(np.round(np.linspace(low, high, count)))
        else:
            values = np.linspace(self.x_low, self.x_high, count)
        return "".join(
            f"<text x='{self.x(v):.1f}' y='{self.bottom + 14}' text-anchor='middle'>"
            f"{readable(v)}</text>"
            for v in values.tolist()
        )

    def axes(
        self, x_label: str, y_label: str, *, y_ticks: Sequence[tuple[float, str]], x_ticks: str
    ) -> str:
        """Both axes with their ticks and labels (the y label turned along its axis)."""
        middle = (self.top + self.bottom) / 2
        return (
            f"<line x1='{self.left}' y1='{self.bottom}' x2='{self.right}' y2='{self.bottom}' "
            "stroke='#98a2b3'/>"
            f"<line x1='{self.left}' y1='{self.top}' x2='{self.left}' y2='{self.bottom}' "
            "stroke='#98a2b3'/>"
            + "".join(
                f"<text x='{self.left - 5}' y='{self.y(v) + 4:.1f}' text-anchor='end'>{t}</text>"
                for v, t in y_ticks
            )
            + x_ticks
            + f"<text class='axis' x='{(self.left + self.right) / 2:.0f}' y='{self.height - 4}' "
            f"text-anchor='middle'>{escape(x_label)}</text>"
            f"<text class='axis' x='12' y='{middle:.0f}' text-anchor='middle' "
            f"transform='rotate(-90 12 {middle:.0f})'>{escape(y_label)}</text>"
        )


def _svg(body: str, width: int, height: int, label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(label)}'>"
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _hour(at: datetime) -> str:
    return at.strftime("%d %b %H:%M")
