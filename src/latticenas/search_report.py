"""One self-contained HTML report of a search: ``report.html``.

The local runner writes it into the experiment directory at the end of a run and on
``latticenas experiment status`` (so ``latticenas search`` and :func:`latticenas.search` point
at it), and the pipeline's aggregate step shows the same page in the KFP UI (its
``leaderboard`` HTML output, :mod:`latticenas.aggregate`). It needs nothing beside it: the
charts are ``data:`` URIs, the network diagrams inline SVG, and a few lines of inline script
sort the leaderboard when a column header is clicked (numbers as numbers, blanks last).

Its sections, in order: the summary; the final model beside the best trial and the
HistGradientBoosting baseline (every validation and test metric); the search-progress plot;
the leaderboard; parameter importance (:func:`parameter_importance`: optuna's fANOVA over the
finished trials, or a sentence saying why there is none); the final model's feature importance
(:mod:`latticenas.importance`); the final model's networks; the best trial's metrics and
parameters. :func:`importance_page` is the feature-importance section alone as a page (the
retrain step's KFP output).
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from pathlib import Path

from latticenas.extras import require
from latticenas.fileio import atomic_write
from latticenas.final import FinalModel
from latticenas.importance import FeatureImportance, importance_chart
from latticenas.runner.experiment import Experiment
from latticenas.runner.trials import TrialRecord, best_trial, observed

REPORT = "report.html"
MIN_TRIALS = 5  # finished trials fANOVA needs at the least
MAX_NETWORKS = 4  # diagrams shown

#: The leaderboard as :func:`latticenas.runner.report.leaderboard_cells` gives it: the column
#: names, each row's cells as shown (rounded) and as sort keys (full precision, blanks).
Table = tuple[Sequence[str], Sequence[Sequence[str]], Sequence[Sequence[str]]]

__all__ = ["MIN_TRIALS", "REPORT", "final_table", "importance_page", "parameter_importance", "render_report",
           "write_search_report"]


def parameter_importance(experiment: Experiment, trials: Sequence[TrialRecord]) -> tuple[dict[str, float], str]:
    """fANOVA importance of each parameter (they sum to 1, largest first), over the trials the
    algorithm learned from, with an in-memory optuna study; or ``({}, why there is none)``."""
    require("optuna")
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    from latticenas.runner.algorithms.base import told_value  # the trials the algorithms learn from
    from latticenas.runner.algorithms.optuna_samplers import optuna_space

    scored = [t for t in trials if told_value(t) is not None]
    if len(scored) < MIN_TRIALS:
        return {}, (f"Parameter importance needs at least {MIN_TRIALS} finished trials with an objective value; "
                    f"this search has {len(scored)}.")
    space = optuna_space(experiment)
    study = optuna.create_study(direction="minimize" if experiment.objective.minimize else "maximize")
    try:
        for t in scored:
            params = {name: t.params[name] for name in space if name in t.params}
            study.add_trial(optuna.trial.create_trial(params=params, distributions={n: space[n] for n in params},
                                                      value=told_value(t)))
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:  # values outside the space, nothing that varies
        return {}, f"No parameter importance: {exc}"
    return dict(found), ""


def final_table(final: FinalModel) -> list[tuple[str, float | None, float | None]]:
    """``(model, validation value, test value)`` of the selection metric for the final model,
    the best trial and the baseline (None where not measured)."""
    m = final.metric
    if final.kind == "ensemble":
        label = "final: ensemble of " + ", ".join(f"{x['trial']} x{x['weight']:g}" for x in final.members)
    else:
        label = f"final: the best trial, {final.best_trial}"
    rows = [(label, final.val_metrics.get(m), (final.test_metrics or {}).get(m)),
            (f"best trial {final.best_trial}", final.best_trial_val_metrics.get(m), (final.best_trial_test_metrics or {}).get(m))]
    if final.baseline:
        rows.append((f"{final.baseline['name']} baseline", final.baseline["val_metrics"].get(m),
                     (final.baseline.get("test_metrics") or {}).get(m)))
    return rows


def write_search_report(path: str | Path, experiment: Experiment, trials: Sequence[TrialRecord], table: Table,
                        summary: Sequence[str], progress_svg: str, final: FinalModel | None = None,
                        networks: Sequence[tuple[str, object]] = ()) -> Path:
    """Render the page (:func:`render_report`) and write it atomically to ``path``."""
    path = Path(path)
    atomic_write(path, render_report(experiment, trials, table, summary, progress_svg, final, networks))
    return path


def importance_page(importance: FeatureImportance, title: str) -> str:
    """A self-contained page of ``importance``: the chart and every feature's value."""
    rows = "".join(f"<tr><td>{html.escape(f.name)}</td><td>{f.mean:.6g}</td><td>{f.std:.3g}</td></tr>"
                   for f in importance.features)
    return _page(title, f"<h1>{html.escape(title)}</h1>\n{_importance_html(importance)}\n"
                        f"<table><tr><th>feature</th><th>{html.escape(importance.change)}</th><th>std</th></tr>{rows}</table>")


def render_report(experiment: Experiment, trials: Sequence[TrialRecord], table: Table, summary: Sequence[str],
                  progress_svg: str, final: FinalModel | None = None, networks: Sequence[tuple[str, object]] = ()) -> str:
    """The report page (module doc); ``networks``: ``(title, ArchitectureSpec)`` of the final model."""
    title = f"latticenas search: {experiment.name}"
    sections = [
        f"<h1>{html.escape(title)}</h1>\n<pre>{html.escape(chr(10).join(summary))}</pre>",
        _final_section(final),
        f"<h2>Search progress</h2>\n{_img(progress_svg, f'objective of every trial of {experiment.name}')}",
        _leaderboard_section(table),
        _parameter_section(*parameter_importance(experiment, trials)),
        _feature_section(final),
        _network_section(networks, "Networks of the final model" if final is not None else "Best network"),
        _best_section(experiment, trials),
        f"<p class=\"note\">Generated {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>",
    ]
    return _page(title, "\n".join(s for s in sections if s), script=_SORT_SCRIPT)


def _page(title: str, body: str, script: str = "") -> str:
    script = f"\n<script>{script}</script>" if script else ""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n"
            f"<style>{_STYLE}</style></head>\n<body>\n{body}{script}\n</body></html>\n")


# ------------------------------------------------------------------------------ sections


def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _img(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}">'


def _final_section(final: FinalModel | None) -> str:
    if final is None:
        return "<h2>Final model</h2>\n<p>No final model was built (no trial finished with saved predictions).</p>"
    cells = "".join(f"<tr><td>{html.escape(name)}</td><td>{_number(val)}</td><td>{_number(test)}</td></tr>"
                    for name, val, test in final_table(final))
    out = [f"<h2>Final model ({html.escape(final.kind)})</h2>",
           f"<table><tr><th>model</th><th>validation {final.metric}</th><th>test {final.metric}</th></tr>{cells}</table>"]
    sources = [("final", final.val_metrics, final.test_metrics),
               (f"best trial {final.best_trial}", final.best_trial_val_metrics, final.best_trial_test_metrics)]
    if final.baseline:
        sources.append((f"{final.baseline['name']} baseline", final.baseline["val_metrics"],
                        final.baseline.get("test_metrics")))
    names = sorted({m for _, val, test in sources for m in (*(val or {}), *(test or {}))})
    header = "".join(f"<th>{split} {html.escape(m)}</th>" for split in ("validation", "test") for m in names)
    body = "".join(f"<tr><td>{html.escape(label)}</td>"
                   + "".join(f"<td>{_number((metrics or {}).get(m))}</td>" for metrics in (val, test) for m in names)
                   + "</tr>" for label, val, test in sources)
    out.append(f"<h3>All metrics</h3>\n<table class=\"metrics\"><tr><th>model</th>{header}</tr>{body}</table>")
    out.append("<p>Test rows were never seen by the search; validation rows chose the trials and the ensemble.</p>")
    return "\n".join(out)


def _leaderboard_section(table: Table) -> str:
    columns, shown, exact = table
    header = "".join(f'<th title="click to sort">{html.escape(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f'<td data-sort="{html.escape(e)}">{html.escape(c)}</td>' for c, e in zip(line, keys))
                   + "</tr>" for line, keys in zip(shown, exact))
    return (f"<h2>Leaderboard</h2>\n<p>{len(shown)} rows; click a column header to sort.</p>\n"
            f"<div class=\"scroll\"><table id=\"leaderboard\" class=\"sortable\"><thead><tr>{header}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _parameter_section(importances: dict[str, float], reason: str) -> str:
    if not importances:
        return f"<h2>Parameter importance</h2>\n<p>{html.escape(reason)}</p>"
    body = "".join(f"<tr><td>{html.escape(name)}</td><td>{value:.3f}</td><td><div class=\"bar\" "
                   f"style=\"width:{max(value, 0) * 300:.0f}px\"></div></td></tr>" for name, value in importances.items())
    return ("<h2>Parameter importance</h2>\n<p>How much of the objective's variation over the finished trials each "
            "search parameter explains (optuna's fANOVA; the values sum to 1).</p>\n"
            f"<table><tr><th>parameter</th><th>importance</th><th></th></tr>{body}</table>")


def _feature_section(final: FinalModel | None) -> str:
    if final is None or not final.importance:
        return ""
    return "<h2>Feature importance</h2>\n" + _importance_html(FeatureImportance.from_dict(final.importance))


def _importance_html(importance: FeatureImportance) -> str:
    return (f"<p>Permutation importance of the model on the {importance.split} rows ({importance.rows} rows, "
            f"{importance.repeats} shuffles per column): the {html.escape(importance.change)} when one column is "
            f"shuffled, in the units of {html.escape(importance.metric)}.</p>\n"
            + _img(importance_chart(importance), "feature importance of the model"))


def _network_section(networks: Sequence[tuple[str, object]], heading: str) -> str:
    if not networks:
        return ""
    from latticenas.arch.diagram import render_svg

    shown = list(networks)[:MAX_NETWORKS]
    parts = [f"<h2>{heading}</h2>"]
    for title, spec in shown:
        svg = render_svg(spec, title=title)
        parts.append(f"<p>{html.escape(title)}: spec {html.escape(spec.content_hash[:12])}</p>\n"
                     f"<div class=\"network\">{svg[svg.find('<svg'):]}</div>")
    if len(networks) > len(shown):
        parts.append(f"<p>... and {len(networks) - len(shown)} more network(s).</p>")
    return "\n".join(parts)


def _best_section(experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    best = best_trial(trials, experiment.objective)
    if best is None:
        return "<h2>Best trial</h2><p>No trial reported the objective.</p>"
    metrics = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>"
                      for k, v in observed(best.metrics, experiment.objective).items())
    params = "".join(f"<tr><td>{html.escape(p.name)}</td><td>{html.escape(p.format(best.params[p.name]))}</td></tr>"
                     for p in experiment.parameters if p.name in best.params)
    return (f"<h2>Best trial: {html.escape(best.name)}</h2>\n"
            f"<table><tr><th>metric / parameter</th><th>value</th></tr>{metrics}{params}</table>")


_STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#f4f4f4}
table.sortable th{cursor:pointer}table.sortable th.asc::after{content:" \\25B2"}
table.sortable th.desc::after{content:" \\25BC"}.bar{background:#4c78a8;height:.8em}
img{max-width:100%}.network,.scroll{overflow-x:auto}.note{color:#666}"""

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var up = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(up ? "asc" : "desc");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row) { var v = row.cells[column].getAttribute("data-sort"); return v === "" ? null : v; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var p = Number(x), q = Number(y);
        var c = (isFinite(p) && isFinite(q)) ? p - q : x.localeCompare(y);
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""
