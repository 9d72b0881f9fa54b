"""The HTML report: one self-contained page a person would rather look at than read.

A header with the verdict, whose baseline the window was compared with, and where this check
stands against the drift alarm; a table of every feature with each measure beside its threshold
(the one that decided marked), why an "ok" can sit beside a large number, and the feature's
distance over the last checks; then for each drifted feature its CDFs (steps for whole
numbers), a histogram overlay, mean and standard deviation side by side, and its distance over
the last checks, all with labelled axes. Inline SVG, no JavaScript and no external assets, so
the page renders the same from S3, an email attachment or a browser's file viewer. Every string
that came from data or configuration (title, feature names, categories) is escaped.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from driftcheck.compare import DriftResult, FeatureDrift
from driftcheck.features import DriftSettings
from driftcheck.formats import Measure
from driftcheck.reference import CategoricalReference, NumericReference, Reference
from driftcheck.summary import moments
from driftcheck.window import CategoricalPartial, NumericPartial

WIDTH, HEIGHT, PAD = 500, 210, 48
MAX_POINTS = 240
TOP_CATEGORIES = 10
HISTOGRAM_BINS = 20
MAX_INTEGER_BINS = 40  # whole numbers spanning up to this many values get a bar each
BASELINE_COLOUR, WINDOW_COLOUR, ALERT_COLOUR = "#98a2b3", "#1570ef", "#b42318"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#101828;margin:0;
background:#f9fafb}main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.muted{color:#667085}
.banner{border-radius:8px;padding:12px 16px;margin:16px 0;font-weight:600}
.drift{background:#fef3f2;color:#b42318}.ok{background:#ecfdf3;color:#067647}
.nodata{background:#f2f4f7;color:#344054}
.facts{display:flex;gap:12px;flex-wrap:wrap;margin:0;padding:0}
.facts div{background:#fff;border:1px solid #eaecf0;border-radius:8px;padding:8px 14px}
.facts dt{font-size:12px;color:#667085}.facts dd{margin:0;font-size:18px;font-weight:600}
.panel{background:#fff;border:1px solid #eaecf0;border-radius:8px;padding:12px 16px;margin:12px 0}
.panel p{margin:4px 0}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #eaecf0}
table{font-size:13px}th,td{padding:5px 7px;border-bottom:1px solid #eaecf0;text-align:right}
td{white-space:nowrap}th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}
th{font-size:12px;color:#667085;font-weight:600}
.why{white-space:normal;text-align:left;min-width:180px;max-width:240px;font-size:12px}
.scroll{overflow-x:auto}td .kind{display:block;font-size:11px}
tr.drifted td{background:#fffbfa}td.decided{font-weight:700;color:#b42318}
.tag{border-radius:10px;padding:1px 8px;font-size:12px}
.tag.drift{background:#fee4e2}.tag.ok{background:#d1fadf}.tag.off{background:#f2f4f7}
figure{background:#fff;border:1px solid #eaecf0;border-radius:8px;margin:12px 0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}svg text{font-size:11px;fill:#475467}
.plots{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
table.side{width:auto;border:none;margin-top:6px}table.side td,table.side th{padding:2px 10px}
li{margin:2px 0}code{font-size:12px}dl.help dt{font-weight:600}dl.help dd{margin:0 0 6px 0}
"""


# How the verdict column names the measure that found a drift.
MEASURE_NAMES: Mapping[Measure, str] = {
    "distance": "distance",
    "psi": "PSI",
    "wasserstein": "Wasserstein",
    "chi2": "χ²",
}


@dataclass(frozen=True)
class AlarmRule:
    """The model's drift alarm: it fires when more than `share` of the features drifted in
    `datapoints` of the last `periods` checks."""

    share: float
    datapoints: int
    periods: int


@dataclass(frozen=True)
class PastCheck:
    """An earlier window of the same model as its metrics recorded it; `drifted_share` is None
    for a window without data (nothing was published)."""

    start: datetime
    drifted_share: float | None
    distances: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportContext:
    """What the report says beyond the window itself. `history`: the windows before this one,
    oldest first, one per check period; None when they could not be read (the page says so)."""

    baseline: str = ""  # whose baseline the window was compared with: "taxi-fare v3"
    baseline_uri: str = ""  # its statistics.json
    alarm: AlarmRule | None = None
    history: tuple[PastCheck, ...] | None = ()


def render_report(
    result: DriftResult,
    ref: Reference,
    *,
    title: str,
    window: str = "",
    context: ReportContext | None = None,
) -> str:
    """The report page for one compared window. `window` describes the traffic period."""
    context = context or ReportContext()
    ranked = sorted(result.features, key=lambda f: (-f.drifted, -f.distance, f.name))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body><main>",
        _header(result, ref, title, window, context),
    ]
    if ranked:
        parts.append(_alarm_panel(result, context))
        parts.append(_table(ranked, ref.settings, context.history, _means(result, ref)))
        parts.append(_how_to_read(ref.settings))
    drifted = [f for f in ranked if f.drifted]
    if drifted:
        parts.append("<h2>Drifted features</h2>")
        parts.extend(_figure(f, result, ref, context.history) for f in drifted)
    if result.violations:
        parts.append("<h2>Constraint violations</h2><ul>")
        parts.extend(
            f"<li><strong>{_e(v.feature_name)}</strong> <code>{_e(v.constraint_check_type)}</code>"
            f" {_e(_rounded(v.description))}</li>"
            for v in result.violations
        )
        parts.append(
            "</ul><p class='muted'>Numbers rounded here; constraint_violations.json has them"
            " in full.</p>"
        )
    if result.malformed_examples:
        parts.append("<h2>Unreadable records (first few)</h2><ul>")
        parts.extend(f"<li><code>{_e(e)}</code></li>" for e in result.malformed_examples)
        parts.append("</ul>")
    parts.append("</main></body></html>")
    return "".join(parts)


# -- header and alarm --------------------------------------------------------------------------


def _header(
    result: DriftResult, ref: Reference, title: str, window: str, context: ReportContext
) -> str:
    drifted = len(result.drifted_features)
    if result.no_data:
        banner = "<p class='banner nodata'>No data: the window holds no readable rows.</p>"
    elif drifted:
        banner = (
            f"<p class='banner drift'>Drift in {drifted} of {len(result.features)} features "
            f"({result.drifted_share:.0%})</p>"
        )
    else:
        banner = f"<p class='banner ok'>No drift in {len(result.features)} features</p>"
    facts = [
        ("Records", f"{result.records:,}"),
        ("Rows", f"{result.rows:,}"),
        ("Malformed", f"{result.malformed:,}"),
        ("Drifted share", f"{result.drifted_share:.0%}"),
        ("Violations", f"{len(result.violations):,}"),
        ("Baseline rows", f"{ref.item_count:,}"),
    ]
    if context.baseline:
        facts.append(("Baseline of", _e(context.baseline)))
    listing = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    described = [window] if window else []
    if context.baseline_uri:
        described.append(f"Baseline: {context.baseline_uri}")
    subtitle = "".join(f"<p class='muted'>{_e(line)}</p>" for line in described)
    return (
        f"<header><h1>{_e(title)}</h1>{subtitle}{banner}<dl class='facts'>{listing}</dl></header>"
    )


def _alarm_panel(result: DriftResult, context: ReportContext) -> str:
    """Where this check stands against the alarm, from the windows its metric holds."""
    alarm, history = context.alarm, context.history
    if alarm is None:
        return ""
    rule = (
        f"The drift alarm fires when more than {alarm.share:.0%} of the features drift in "
        f"{alarm.datapoints} of the last {alarm.periods} checks."
    )
    here = "above" if result.drifted_share > alarm.share else "not above"
    lines = [
        f"<p>{rule}</p><p>This check: <strong>{result.drifted_share:.0%}</strong> drifted, "
        f"{here} {alarm.share:.0%}.</p>"
    ]
    if history is None:
        lines.append("<p class='muted'>The earlier checks' metrics could not be read.</p>")
        return f"<section class='panel' id='alarm'>{''.join(lines)}</section>"
    earlier = history[-(alarm.periods - 1) :] if alarm.periods > 1 else ()
    shares = [*(c.drifted_share for c in earlier), result.drifted_share]
    above = sum(s is not None and s > alarm.share for s in shares)
    empty = sum(s is None for s in shares)
    met = above >= alarm.datapoints
    verdict = "meets" if met else "does not meet"
    gaps = f", {empty} without data (the alarm ignores those)" if empty else ""
    lines.append(
        f"<p>With the checks before it: <strong>{above} of the last {len(shares)}</strong> "
        f"above {alarm.share:.0%}{gaps}: this {verdict} the alarm's condition. "
        "<span class='muted'>CloudWatch sets the alarm's state from the same metric.</span></p>"
    )
    lines.append(_share_chart(history, result.drifted_share, alarm))
    return f"<section class='panel' id='alarm'>{''.join(lines)}</section>"


def _share_chart(history: Sequence[PastCheck], current: float, alarm: AlarmRule) -> str:
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
        f"text-anchor='middle'>{_e(text)}</text>"
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


# -- the table ---------------------------------------------------------------------------------


def _table(
    features: Sequence[FeatureDrift],
    settings: DriftSettings,
    history: Sequence[PastCheck] | None,
    means: Mapping[str, tuple[float | None, float]],
) -> str:
    """One row per feature; a measure's column only where it applies (the Wasserstein one
    when turned on, PSI with numeric features, chi-square with categorical ones)."""
    kinds = {f.kind for f in features}
    measures: list[tuple[Measure, str, Callable[[FeatureDrift], str]]] = [
        ("distance", "Distance / threshold", lambda f: _against(f.distance, f.threshold)),
    ]
    if "numeric" in kinds:
        measures.append(
            ("psi", "PSI / threshold", lambda f: _against(f.psi, settings.psi_threshold))
        )
    if settings.wasserstein_threshold is not None:
        moved = settings.wasserstein_threshold
        measures.append(
            ("wasserstein", "Moved (sd) / threshold", lambda f: _against(f.wasserstein, moved))
        )
    if "categorical" in kinds:
        measures.append(("chi2", "&chi;&sup2; (p)", _chi))
    head = (
        "<h2>Features</h2><div class='scroll'><table id='features'><thead><tr>"
        "<th>Feature</th><th>Verdict</th>"
        + "".join(f"<th>{title}</th>" for _, title, _ in measures)
        + "<th>Mean, baseline &rarr; window</th><th>Completeness</th>"
        "<th class='why'>Why</th><th>Distance, last checks</th></tr></thead><tbody>"
    )
    rows = []
    for f in features:
        if not f.judged:
            verdict = _tag("off", "not compared")
        elif f.drifted:
            verdict = _tag("drift", f"drift by {MEASURE_NAMES[f.found_by or 'distance']}")
        else:
            verdict = _tag("ok", "ok")
        cells = "".join(
            f"<td{' class=decided' if f.found_by == measure else ''}>{show(f)}</td>"
            for measure, _, show in measures
        )
        rows.append(
            f"<tr{" class='drifted'" if f.drifted else ''}>"
            f"<td>{_e(f.name)} <span class='muted kind'>{f.kind}</span></td><td>{verdict}</td>"
            f"{cells}<td>{_mean_change(means.get(f.name))}</td>"
            f"<td>{f.completeness:.1%} <span class='muted'>/ {f.baseline_completeness:.1%}</span>"
            f"</td><td class='why'>{_e(_why(f, settings))}</td>"
            f"<td>{_sparkline(f, history)}</td></tr>"
        )
    return head + "".join(rows) + "</tbody></table></div>"


def _against(value: float | None, threshold: float | None) -> str:
    if value is None:
        return "–"
    limit = "off" if threshold is None else f"{threshold:.3g}"
    return f"{value:.3f} <span class='muted'>/ {limit}</span>"


def _chi(f: FeatureDrift) -> str:
    if f.chi2 is None or f.p_value is None:
        return "–"
    return f"{f.chi2:,.1f} <span class='muted'>({_e(_p(f.p_value))})</span>"


def _means(result: DriftResult, ref: Reference) -> dict[str, tuple[float | None, float]]:
    """Each numeric feature's (baseline mean, window mean), for features with values."""
    found = {}
    for feature, partial in zip(ref.features, result.window.partials, strict=True):
        if not isinstance(feature, NumericReference) or not isinstance(partial, NumericPartial):
            continue
        if partial.count:
            found[feature.name] = (feature.mean, moments(partial, feature)[0])
    return found


def _mean_change(means: tuple[float | None, float] | None) -> str:
    if means is None:
        return "–"
    baseline, window = means
    return f"{'–' if baseline is None else _num(baseline)} &rarr; {_num(window)}"


def _why(f: FeatureDrift, settings: DriftSettings) -> str:
    """One sentence: the measure that decided, or why the numbers past a threshold are ok."""
    if not f.judged:
        return "The baseline's constraints turn the comparison off for this feature."
    if f.drifted:
        return {
            "distance": f"Distance {f.distance:.3f} > {f.threshold:.3g}.",
            "psi": f"PSI {f.psi or 0:.3f} > {settings.psi_threshold or 0:.3g}: the spread or "
            "shape changed more than the distance shows.",
            "wasserstein": f"Moved {f.wasserstein or 0:.2f} sd > "
            f"{settings.wasserstein_threshold or 0:.3g} sd.",
            "chi2": f"χ² test: {_p(f.p_value or 0.0)} < {settings.chi2_p_value:.3g}.",
            "": "",
        }[f.found_by]
    reasons = []
    if f.within_noise:
        past = {
            "distance": f"distance {f.linf:.3f} (before the noise margin) > {f.threshold:.3g}",
            "psi": f"PSI {f.psi or 0:.3f} > {settings.psi_threshold or 0:.3g}",
            "wasserstein": f"moved {f.wasserstein or 0:.2f} sd > "
            f"{settings.wasserstein_threshold or 0:.3g}",
            "chi2": "",
        }
        listed = " and ".join(past[m] for m in f.within_noise)
        reasons.append(
            f"{listed[0].upper()}{listed[1:]}, but within the sampling noise of {f.count:,} "
            "values (robust method)."
        )
    chi_significant = f.p_value is not None and f.p_value < settings.chi2_p_value
    if f.kind == "categorical" and settings.categorical_method == "linf" and chi_significant:
        reasons.append(
            f"χ² is significant ({_p(f.p_value or 0.0)}), but the distance decides: "
            f"{f.distance:.3f} ≤ {f.threshold:.3g} (χ² grows with the number of values, "
            f"{f.count:,} here, and finds moves too small to matter)."
        )
    return " ".join(reasons) or "Every measure within its threshold."


def _how_to_read(settings: DriftSettings) -> str:
    chi = (
        "Decides for categorical features (the chi-square method): drift when p is below "
        f"{settings.chi2_p_value:.3g}."
        if settings.categorical_method == "chisquared"
        else "Shown, not deciding: with many rows it is significant for moves too small to "
        'matter, so a large χ² beside "ok" is expected; the distance decides.'
    )
    return (
        "<details class='panel'><summary>How to read the table</summary><dl class='help'>"
        "<dt>Distance</dt><dd>Model Monitor's baseline drift distance: the largest gap between "
        "the baseline's and the window's cumulative shares (L-infinity), less a noise margin "
        "for small windows (robust method). The metric feature_baseline_drift_&lt;feature&gt; "
        "and the alarm use it.</dd>"
        "<dt>PSI</dt><dd>Population stability index over the baseline's deciles: it sees a "
        "change of spread the distance barely sees.</dd>"
        "<dt>Moved (sd)</dt><dd>Wasserstein distance in baseline standard deviations, when "
        "turned on.</dd>"
        f"<dt>&chi;&sup2; (p)</dt><dd>Pearson's test of the category counts. {chi}</dd>"
        "<dt>Verdict</dt><dd>Drift when any measure in force passes its threshold; the "
        "measure that decided is in bold red.</dd></dl></details>"
    )


# -- figures -----------------------------------------------------------------------------------


def _figure(
    drift: FeatureDrift,
    result: DriftResult,
    ref: Reference,
    history: Sequence[PastCheck] | None,
) -> str:
    index = ref.names.index(drift.name)
    feature, partial = ref.features[index], result.window.partials[index]
    if isinstance(feature, NumericReference) and isinstance(partial, NumericPartial):
        plots = [_cdf_plot(feature, partial), _histogram(feature, partial)]
        side = _numeric_side_by_side(feature, partial)
    elif isinstance(feature, CategoricalReference) and isinstance(partial, CategoricalPartial):
        plots = [_bar_plot(feature, partial)]
        side = _categorical_side_by_side(feature, partial)
    else:
        return ""
    if history is not None:
        plots.append(_history_plot(drift, history))
    legend = (
        f"<div><span style='color:{BASELINE_COLOUR}'>&#9632; baseline</span> "
        f"<span style='color:{WINDOW_COLOUR}'>&#9632; this window</span>{side}</div>"
    )
    return (
        f"<figure id='feature-{_e(_anchor(drift.name))}'><figcaption>{_e(drift.name)} "
        f"<span class='muted'>({_e(_why(drift, ref.settings))})</span></figcaption>"
        f"<div class='plots'>{''.join(plots)}{legend}</div></figure>"
    )


def _cdf_plot(feature: NumericReference, partial: NumericPartial) -> str:
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


def _histogram(feature: NumericReference, partial: NumericPartial) -> str:
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


def _numeric_side_by_side(feature: NumericReference, partial: NumericPartial) -> str:
    mean, std = moments(partial, feature)
    rows = [
        ("Mean", _num(feature.mean) if feature.mean is not None else "–", _num(mean)),
        ("Std dev", _num(feature.spread) if feature.spread else "–", _num(std)),
        ("Min", _num(feature.low), _num(partial.minimum)),
        ("Max", _num(feature.high), _num(partial.maximum)),
        ("Values", f"{feature.count:,}", f"{partial.count:,}"),
    ]
    return _side_table(rows)


def _categorical_side_by_side(feature: CategoricalReference, partial: CategoricalPartial) -> str:
    n, m = feature.count or 1, partial.present or 1
    top = max(feature.counts, key=lambda v: feature.counts[v], default="")
    rows = [
        ("Values", f"{feature.count:,}", f"{partial.present:,}"),
        ("Distinct", f"{len(feature.counts):,}", f"{len(partial.counts) + bool(partial.other):,}"),
        (
            f"Share of {_e(top)}" if top else "Top value",
            f"{feature.counts.get(top, 0) / n:.1%}",
            f"{partial.counts.get(top, 0) / m:.1%}",
        ),
    ]
    return _side_table(rows)


def _side_table(rows: Sequence[tuple[str, str, str]]) -> str:
    body = "".join(f"<tr><th>{k}</th><td>{b}</td><td>{w}</td></tr>" for k, b, w in rows)
    return (
        "<table class='side'><thead><tr><th></th><th>Baseline</th><th>This window</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )


def _bar_plot(feature: CategoricalReference, partial: CategoricalPartial) -> str:
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
            f"<text x='{label_width - 6}' y='{top_y + 11}' text-anchor='end'>{_e(label)}</text>"
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


def _history_plot(drift: FeatureDrift, history: Sequence[PastCheck]) -> str:
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
        f"<text x='{plot.left}' y='{plot.bottom + 14}'>{_e(first)}</text>"
        f"<text x='{plot.right}' y='{plot.bottom + 14}' text-anchor='end'>this check</text>"
    )
    axes = plot.axes(
        "check window (UTC)",
        "distance",
        y_ticks=[(0.0, "0"), (top, f"{top:.2g}")],
        x_ticks=x_ticks,
    )
    return _svg(axes + path + "".join(points) + limit, WIDTH, HEIGHT, "distance, last checks")


def _sparkline(f: FeatureDrift, history: Sequence[PastCheck] | None) -> str:
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
            f"{_num(v)}</text>"
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
            f"text-anchor='middle'>{_e(x_label)}</text>"
            f"<text class='axis' x='12' y='{middle:.0f}' text-anchor='middle' "
            f"transform='rotate(-90 12 {middle:.0f})'>{_e(y_label)}</text>"
        )


def _svg(body: str, width: int, height: int, label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{_e(label)}'>"
        f"<title>{_e(label)}</title>{body}</svg>"
    )


# -- words and numbers -------------------------------------------------------------------------

_LONG_NUMBER = re.compile(r"-?\d+\.\d{4,}(?:E-?\d+)?")


def _rounded(text: str) -> str:
    """A violation's description with its long Java doubles cut to 3 significant digits."""
    return _LONG_NUMBER.sub(lambda m: f"{float(m.group()):.3g}", text)


def _num(value: float) -> str:
    """A value for a person: 4 significant digits, thousands separated."""
    if not math.isfinite(value):
        return "–"
    value += 0.0  # -0.0 reads as 0
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"


def _hour(at: datetime) -> str:
    return at.strftime("%d %b %H:%M")


def _anchor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _p(p_value: float) -> str:
    return "p < 1e-15" if p_value < 1e-15 else f"p = {p_value:.2g}"


def _tag(kind: str, text: str) -> str:
    return f"<span class='tag {kind}'>{text}</span>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
