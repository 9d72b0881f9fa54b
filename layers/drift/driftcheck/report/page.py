"""The report page's layout: the header, the alarm panel, the features table (the model's
output last, when it was compared), the figures of each drifted feature, the violations and
unreadable records."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from driftcheck.attributions import TOP
from driftcheck.compare import DriftResult, FeatureDrift
from driftcheck.features import DriftSettings
from driftcheck.formats import Measure
from driftcheck.reference import CategoricalReference, NumericReference, Reference
from driftcheck.report.charts import (
    BASELINE_COLOUR,
    WINDOW_COLOUR,
    bar_plot,
    cdf_plot,
    histogram,
    history_plot,
    share_chart,
    sparkline,
)
from driftcheck.report.context import AlarmRule, PastCheck, ReportContext
from driftcheck.report.words import (
    MEASURE_NAMES,
    escape,
    p_value_text,
    readable,
    rounded,
    why,
)
from driftcheck.summary import moments
from driftcheck.window import CategoricalPartial, NumericPartial

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
.chance{color:#667085}.chance.held{font-weight:700;color:#067647}
.tag{border-radius:10px;padding:1px 8px;font-size:12px}
.tag.drift{background:#fee4e2}.tag.ok{background:#d1fadf}.tag.off{background:#f2f4f7}
figure{background:#fff;border:1px solid #eaecf0;border-radius:8px;margin:12px 0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}svg text{font-size:11px;fill:#475467}
.plots{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
table.side{width:auto;border:none;margin-top:6px}table.side td,table.side th{padding:2px 10px}
li{margin:2px 0}code{font-size:12px}dl.help dt{font-weight:600}dl.help dd{margin:0 0 6px 0}
"""


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
    if result.prediction is not None:
        ranked.append(result.prediction)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>",
        _header(result, ref, title, window, context),
    ]
    if ranked:
        parts.append(_alarm_panel(result, ref.settings, context))
        parts.append(
            _table(ranked, ref.settings, context.history, _means(result, ref), _output(result))
        )
        parts.append(_how_to_read(ref.settings))
    drifted = [f for f in ranked if f.drifted]
    if drifted:
        parts.append("<h2>Drifted features</h2>" if result.drifted_features else "<h2>Drift</h2>")
        parts.extend(_figure(f, result, ref, context.history) for f in drifted)
    if result.violations:
        parts.append("<h2>Constraint violations</h2><ul>")
        parts.extend(
            f"<li><strong>{escape(v.feature_name)}</strong> "
            f"<code>{escape(v.constraint_check_type)}</code> {escape(rounded(v.description))}</li>"
            for v in result.violations
        )
        parts.append(
            "</ul><p class='muted'>Numbers rounded here; constraint_violations.json has them"
            " in full.</p>"
        )
    if result.malformed_examples:
        parts.append("<h2>Unreadable records (first few)</h2><ul>")
        parts.extend(f"<li><code>{escape(e)}</code></li>" for e in result.malformed_examples)
        parts.append("</ul>")
    parts.append("</main></body></html>")
    return "".join(parts)


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
    if not result.no_data:
        banner += _prediction_line(result) + _attribution_line(result)
    facts = [
        ("Records", f"{result.records:,}"),
        ("Rows", f"{result.rows:,}"),
        ("Malformed", f"{result.malformed:,}"),
        ("Drifted share", f"{result.drifted_share:.0%}"),
        ("Violations", f"{len(result.violations):,}"),
        ("Baseline rows", f"{ref.item_count:,}"),
    ]
    if result.bad_outputs:
        facts.append(("Unreadable outputs", f"{result.bad_outputs:,}"))
    if context.baseline:
        facts.append(("Baseline of", escape(context.baseline)))
    listing = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    described = [window] if window else []
    if context.baseline_uri:
        described.append(f"Baseline: {context.baseline_uri}")
    subtitle = "".join(f"<p class='muted'>{escape(line)}</p>" for line in described)
    return (
        f"<header><h1>{escape(title)}</h1>{subtitle}{banner}"
        f"<dl class='facts'>{listing}</dl></header>"
    )


def _output(result: DriftResult) -> str:
    """The name of the model's output column in the table ("" without one)."""
    return result.prediction.name if result.prediction is not None else ""


def _prediction_line(result: DriftResult) -> str:
    """What became of the model's output: drifted, not, or why it was not compared."""
    prediction = result.prediction
    if prediction is None:
        reason = result.prediction_skipped or "no prediction statistics"
        return (
            f"<p class='muted' id='prediction'>Prediction drift not checked: {escape(reason)}.</p>"
        )
    counted = (
        "counted in the drifted share"
        if result.prediction_in_share
        else "reported, not counted in the drifted share"
    )
    verdict = "drifted" if prediction.drifted else "did not drift"
    kind = "drift" if prediction.drifted else "ok"
    return (
        f"<p class='banner {kind}' id='prediction'>The model's output "
        f"({escape(prediction.name)}) {verdict}: distance {prediction.distance:.3f} "
        f"/ {prediction.threshold:.3g} ({counted})</p>"
    )


def _attribution_line(result: DriftResult) -> str:
    """What became of the answers' attributions: their ranking against the baseline's, or
    why it was not compared."""
    drift = result.attribution
    if drift is None:
        reason = result.attribution_skipped or "no attributions"
        return (
            "<p class='muted' id='attributions'>Feature-attribution drift not checked: "
            f"{escape(reason)}.</p>"
        )
    verdict = "drifted" if drift.drifted else "did not drift"
    kind = "drift" if drift.drifted else "ok"
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(b[0])}</td><td>{b[1]:.4g}</td>"
        f"<td>{escape(w[0])}</td><td>{w[1]:.4g}</td></tr>"
        for i, (b, w) in enumerate(zip(drift.baseline[:TOP], drift.window[:TOP], strict=True), 1)
    )
    return (
        f"<p class='banner {kind}' id='attributions'>Feature attributions {verdict}: nDCG "
        f"{drift.ndcg:.3f} / {drift.limit:g} over {drift.rows:,} explained rows</p>"
        "<table class='ranking'><thead><tr><th>Rank</th><th>Baseline</th><th>mean |SHAP|</th>"
        f"<th>This window</th><th>mean |SHAP|</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _alarm_panel(result: DriftResult, settings: DriftSettings, context: ReportContext) -> str:
    """Where this check stands against the alarm, from the windows its metric holds."""
    alarm, history = context.alarm, context.history
    if alarm is None:
        return ""
    budget = _budget_line(result, settings, alarm)
    counted = (
        "features and the model's output"
        if len(result.counted) > len(result.features)
        else "features"
    )
    rule = (
        f"The drift alarm fires when more than {alarm.share:.0%} of the {counted} drift in "
        f"{alarm.datapoints} of the last {alarm.periods} checks."
    )
    here = "above" if result.drifted_share > alarm.share else "not above"
    lines = [
        f"<p>{rule}{budget}</p><p>This check: <strong>{result.drifted_share:.0%}</strong> "
        f"drifted, {here} {alarm.share:.0%}.</p>"
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
    lines.append(share_chart(history, result.drifted_share, alarm))
    return f"<section class='panel' id='alarm'>{''.join(lines)}</section>"


def _budget_line(result: DriftResult, settings: DriftSettings, alarm: AlarmRule) -> str:
    """The false-alarm budget in force, and what it leaves one check and one feature."""
    levels = {f.level for f in result.counted if f.level is not None}
    if alarm.false_alarms is None or settings.check_level is None or not levels:
        return ""
    plural = "s" if alarm.false_alarms != 1 else ""
    return (
        f" Its false-alarm budget: on traffic that did not change, chance alone fires it at most "
        f"{alarm.false_alarms:g} time{plural} in 90 days. So at most "
        f"{settings.check_level * 100:.2g}% of checks may pass {alarm.share:.0%} by chance, and "
        f"each feature's test is made at level {min(levels):.2g}."
    )


def _table(
    features: Sequence[FeatureDrift],
    settings: DriftSettings,
    history: Sequence[PastCheck] | None,
    means: Mapping[str, tuple[float | None, float]],
    output: str = "",
) -> str:
    """One row per feature, and for the model's output (named `output`); a measure's column
    only where it applies (the Wasserstein one when turned on, PSI with numeric features,
    chi-square with categorical ones)."""
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
            f"<td>{escape(f.name)} <span class='muted kind'>"
            f"{'model output' if output and f.name == output else f.kind}</span></td>"
            f"<td>{verdict}{_chance(f)}</td>"
            f"{cells}<td>{_mean_change(means.get(f.name))}</td>"
            f"<td>{f.completeness:.1%} <span class='muted'>/ {f.baseline_completeness:.1%}</span>"
            f"</td><td class='why'>{escape(why(f, settings))}</td>"
            f"<td>{sparkline(f, history)}</td></tr>"
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
    return f"{f.chi2:,.1f} <span class='muted'>({escape(p_value_text(f.p_value))})</span>"


def _chance(f: FeatureDrift) -> str:
    """Under the verdict, with a false-alarm budget: the feature's test, p beside its level
    (in green where it held back a verdict)."""
    if f.chance is None or f.level is None:
        return ""
    held = " held" if f.by_chance else ""
    test = f"{escape(p_value_text(f.chance))} / {f.level:.2g}"
    return f" <span class='kind chance{held}'>{test}</span>"


def _means(result: DriftResult, ref: Reference) -> dict[str, tuple[float | None, float]]:
    """Each numeric feature's (baseline mean, window mean), for features with values."""
    found = {}
    for feature, partial in zip(ref.columns, result.window.partials, strict=True):
        if not isinstance(feature, NumericReference) or not isinstance(partial, NumericPartial):
            continue
        if partial.count:
            found[feature.name] = (feature.mean, moments(partial, feature)[0])
    return found


def _mean_change(means: tuple[float | None, float] | None) -> str:
    if means is None:
        return "–"
    baseline, window = means
    return f"{'–' if baseline is None else readable(baseline)} &rarr; {readable(window)}"


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
        f"{_how_to_read_chance(settings)}"
        "<dt>Verdict</dt><dd>Drift when any measure in force passes its threshold; the "
        "measure that decided is in bold red.</dd></dl></details>"
    )


def _how_to_read_chance(settings: DriftSettings) -> str:
    if settings.check_level is None:
        return ""
    return (
        "<dt>p / level, under the verdict</dt><dd>How likely two samples of one distribution "
        "differ as much as baseline and window do (the p-value of the Kolmogorov-Smirnov test "
        "of the distance, with a &chi;&sup2; test over the baseline's deciles when PSI is on, "
        "for numbers; of the &chi;&sup2; test of homogeneity for categories, both counting the "
        "baseline as a sample too), and the level it must be at most for a verdict of drift: "
        "the false-alarm budget's share for one feature. Above it, chance explains the "
        "difference, however large a measure is (in green when that held back a verdict).</dd>"
    )


def _figure(
    drift: FeatureDrift,
    result: DriftResult,
    ref: Reference,
    history: Sequence[PastCheck] | None,
) -> str:
    index = [column.name for column in ref.columns].index(drift.name)
    feature, partial = ref.columns[index], result.window.partials[index]
    if isinstance(feature, NumericReference) and isinstance(partial, NumericPartial):
        plots = [cdf_plot(feature, partial), histogram(feature, partial)]
        side = _numeric_side_by_side(feature, partial)
    elif isinstance(feature, CategoricalReference) and isinstance(partial, CategoricalPartial):
        plots = [bar_plot(feature, partial)]
        side = _categorical_side_by_side(feature, partial)
    else:
        return ""
    if history is not None:
        plots.append(history_plot(drift, history))
    legend = (
        f"<div><span style='color:{BASELINE_COLOUR}'>&#9632; baseline</span> "
        f"<span style='color:{WINDOW_COLOUR}'>&#9632; this window</span>{side}</div>"
    )
    return (
        f"<figure id='feature-{escape(_anchor(drift.name))}'><figcaption>{escape(drift.name)} "
        f"<span class='muted'>({escape(why(drift, ref.settings))})</span></figcaption>"
        f"<div class='plots'>{''.join(plots)}{legend}</div></figure>"
    )


def _numeric_side_by_side(feature: NumericReference, partial: NumericPartial) -> str:
    mean, std = moments(partial, feature)
    rows = [
        ("Mean", readable(feature.mean) if feature.mean is not None else "–", readable(mean)),
        ("Std dev", readable(feature.spread) if feature.spread else "–", readable(std)),
        ("Min", readable(feature.low), readable(partial.minimum)),
        ("Max", readable(feature.high), readable(partial.maximum)),
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
            f"Share of {escape(top)}" if top else "Top value",
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


def _anchor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _tag(kind: str, text: str) -> str:
    return f"<span class='tag {kind}'>{text}</span>"
