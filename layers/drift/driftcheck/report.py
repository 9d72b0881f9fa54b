"""The HTML report: one self-contained page a person would rather look at than read.

A header with the verdict, a table of features (largest distance first), and for each drifted
feature a small plot drawn as inline SVG: baseline against window CDF for numeric features, the
most frequent categories side by side for categorical ones. No JavaScript and no external assets,
so the page renders the same from S3, an email attachment or a browser's file viewer. Every
string that came from data or configuration (title, feature names, categories) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from driftcheck.compare import DriftResult, FeatureDrift
from driftcheck.reference import CategoricalReference, NumericReference, Reference
from driftcheck.window import CategoricalPartial, NumericPartial

WIDTH, HEIGHT, PAD = 520, 200, 36
MAX_POINTS = 240
TOP_CATEGORIES = 10
BASELINE_COLOUR, WINDOW_COLOUR = "#98a2b3", "#1570ef"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#101828;margin:0;
background:#f9fafb}main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.muted{color:#667085}
.banner{border-radius:8px;padding:12px 16px;margin:16px 0;font-weight:600}
.drift{background:#fef3f2;color:#b42318}.ok{background:#ecfdf3;color:#067647}
.nodata{background:#f2f4f7;color:#344054}
.facts{display:flex;gap:12px;flex-wrap:wrap;margin:0;padding:0}
.facts div{background:#fff;border:1px solid #eaecf0;border-radius:8px;padding:8px 14px}
.facts dt{font-size:12px;color:#667085}.facts dd{margin:0;font-size:18px;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #eaecf0}
th,td{padding:6px 10px;border-bottom:1px solid #eaecf0;text-align:right;white-space:nowrap}
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}th{font-size:12px;color:#667085;font-weight:600}
tr.drifted td{background:#fffbfa}.tag{border-radius:10px;padding:1px 8px;font-size:12px}
.tag.drift{background:#fee4e2}.tag.ok{background:#d1fadf}
figure{background:#fff;border:1px solid #eaecf0;border-radius:8px;margin:12px 0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}svg text{font-size:11px;fill:#475467}
li{margin:2px 0}code{font-size:12px}
"""


def render_report(result: DriftResult, ref: Reference, *, title: str, window: str = "") -> str:
    """The report page for one compared window. `window` describes the traffic period."""
    ranked = sorted(result.features, key=lambda f: (-f.drifted, -f.distance, f.name))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body><main>",
        _header(result, ref, title, window),
    ]
    if ranked:
        parts.append(_table(ranked))
    drifted = [f for f in ranked if f.drifted]
    if drifted:
        parts.append("<h2>Drifted features</h2>")
        parts.extend(_figure(f, result, ref) for f in drifted)
    if result.violations:
        parts.append("<h2>Constraint violations</h2><ul>")
        parts.extend(
            f"<li><strong>{_e(v.feature_name)}</strong> <code>{_e(v.constraint_check_type)}</code>"
            f" {_e(v.description)}</li>"
            for v in result.violations
        )
        parts.append("</ul>")
    if result.malformed_examples:
        parts.append("<h2>Unreadable records (first few)</h2><ul>")
        parts.extend(f"<li><code>{_e(e)}</code></li>" for e in result.malformed_examples)
        parts.append("</ul>")
    parts.append("</main></body></html>")
    return "".join(parts)


def _header(result: DriftResult, ref: Reference, title: str, window: str) -> str:
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
    listing = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    subtitle = f"<p class='muted'>{_e(window)}</p>" if window else ""
    return (
        f"<header><h1>{_e(title)}</h1>{subtitle}{banner}<dl class='facts'>{listing}</dl></header>"
    )


def _table(features: Sequence[FeatureDrift]) -> str:
    head = (
        "<h2>Features</h2><table><thead><tr><th>Feature</th><th>Kind</th><th>Distance</th>"
        "<th>Threshold</th><th>PSI</th><th>Moved (sd)</th><th>&chi;&sup2; / p</th>"
        "<th>Completeness</th>"
        "<th>Verdict</th></tr></thead><tbody>"
    )
    rows = []
    for f in features:
        chi = "–" if f.chi2 is None or f.p_value is None else f"{f.chi2:.1f} / {_p(f.p_value)}"
        verdict = _tag("drift", "drift") if f.drifted else _tag("ok", "ok")
        rows.append(
            f"<tr{" class='drifted'" if f.drifted else ''}><td>{_e(f.name)}</td><td>{f.kind}</td>"
            f"<td>{f.distance:.3f}</td><td>{f.threshold:.3g}</td>"
            f"<td>{'–' if f.psi is None else f'{f.psi:.3f}'}</td>"
            f"<td>{'–' if f.wasserstein is None else f'{f.wasserstein:.3f}'}</td><td>{chi}</td>"
            f"<td>{f.completeness:.1%} <span class='muted'>/ {f.baseline_completeness:.1%}</span>"
            f"</td><td>{verdict}</td></tr>"
        )
    return head + "".join(rows) + "</tbody></table>"


def _figure(drift: FeatureDrift, result: DriftResult, ref: Reference) -> str:
    index = ref.names.index(drift.name)
    feature, partial = ref.features[index], result.window.partials[index]
    if isinstance(feature, NumericReference) and isinstance(partial, NumericPartial):
        plot, what = _cdf_plot(feature, partial), "cumulative distribution"
    elif isinstance(feature, CategoricalReference) and isinstance(partial, CategoricalPartial):
        plot, what = _bar_plot(feature, partial), "most frequent values"
    else:
        return ""
    legend = (
        f"<span style='color:{BASELINE_COLOUR}'>&#9632; baseline</span> "
        f"<span style='color:{WINDOW_COLOUR}'>&#9632; window</span>"
    )
    return (
        f"<figure><figcaption>{_e(drift.name)}: {what} "
        f"<span class='muted'>(distance {drift.distance:.3f})</span></figcaption>"
        f"{plot}<div>{legend}</div></figure>"
    )


def _cdf_plot(feature: NumericReference, partial: NumericPartial) -> str:
    """Baseline and window CDFs at the baseline's edges, with the largest gap marked."""
    edges = feature.edges
    window_cdf = np.cumsum(partial.counts)[:-1] / max(partial.count, 1)
    low = min(float(edges[0]), partial.minimum)
    high = max(float(edges[-1]), partial.maximum)
    span = (high - low) or 1.0
    keep = np.unique(np.linspace(0, edges.size - 1, min(edges.size, MAX_POINTS)).astype(int))
    gap = int(np.argmax(np.abs(feature.cdf - window_cdf)))
    keep = np.union1d(keep, [gap])

    def x(v: float) -> float:
        return PAD + (v - low) / span * (WIDTH - 2 * PAD)

    def y(p: float) -> float:
        return HEIGHT - PAD + -p * (HEIGHT - 2 * PAD)

    def line(cdf: NDArray[np.float64], colour: str) -> str:
        points = " ".join(f"{x(float(edges[i])):.1f},{y(float(cdf[i])):.1f}" for i in keep)
        return f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>"

    gx = x(float(edges[gap]))
    marker = (
        f"<line x1='{gx:.1f}' x2='{gx:.1f}' y1='{y(float(feature.cdf[gap])):.1f}' "
        f"y2='{y(float(window_cdf[gap])):.1f}' stroke='#b42318' stroke-dasharray='3 2'/>"
    )
    axes = (
        f"<line x1='{PAD}' y1='{HEIGHT - PAD}' x2='{WIDTH - PAD}' y2='{HEIGHT - PAD}' "
        "stroke='#d0d5dd'/>"
        f"<text x='{PAD}' y='{HEIGHT - PAD + 16}'>{low:.4g}</text>"
        f"<text x='{WIDTH - PAD}' y='{HEIGHT - PAD + 16}' text-anchor='end'>{high:.4g}</text>"
        f"<text x='{PAD - 6}' y='{y(1.0) + 4:.1f}' text-anchor='end'>1</text>"
        f"<text x='{PAD - 6}' y='{y(0.0) + 4:.1f}' text-anchor='end'>0</text>"
    )
    lines = line(feature.cdf, BASELINE_COLOUR) + line(window_cdf, WINDOW_COLOUR)
    return _svg(axes + lines + marker)


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
    return _svg("".join(items), height=16 + row * len(top))


def _svg(body: str, height: int = HEIGHT) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' role='img'>{body}</svg>"
    )


def _p(p_value: float) -> str:
    return "&lt;1e-15" if p_value < 1e-15 else f"{p_value:.2g}"


def _tag(kind: str, text: str) -> str:
    return f"<span class='tag {kind}'>{text}</span>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
