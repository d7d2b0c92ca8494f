"""A finished search, from either backend, as a leaderboard, a progress plot, the best trial's
metrics and a diagram of its best network.

Contract:

* :class:`SearchResults` is what a search produced: the Experiment manifest that ran, its
  trials as the local runner's :class:`~latticenas.runner.trials.TrialRecord` (the ``katib``
  backend converts Katib's Trials to the same type, :mod:`latticenas.katib.client`), the
  backend name and the experiment's final status. It round-trips through JSON
  (:meth:`SearchResults.to_dict` / :meth:`SearchResults.from_dict`, format
  :data:`TRIALS_FORMAT`): the pipeline's ``search`` step writes it, ``aggregate`` reads it; it
  pickles as that document too.
* :func:`write_report` writes, into one local directory, with the runner's report code
  (:mod:`latticenas.runner.report`: the same ranking, columns, CSV/JSON and plot as
  ``latticenas experiment status``)::

      leaderboard.csv, leaderboard.json   every trial, best first (runner.report)
      progress.png                         objective per trial and best so far (runner.report)
      report.html                          the search's report (latticenas.search_report), as
                                           the runner writes it: summary, final model and
                                           baseline, plot, sortable leaderboard, parameter and
                                           feature importance, networks, the best trial
      report.md                            summary, best trial, network, top of the leaderboard
      diagram.svg, diagram.html            the best network (latticenas.arch.diagram)
      best_metrics.json                    the best trial's observed metrics

  and returns a :class:`Report` with the paths and the best trial's metrics. The network
  files and its sections are left out when no spec is given (``networks``: the final model's
  ``(title, spec)`` to draw instead of the best spec). Given the search's final model
  (``final``: a :class:`latticenas.final.FinalModel`, e.g. the pipeline's choice), the
  leaderboard has it and the HistGradientBoosting baseline as unranked rows (as
  ``latticenas experiment status`` shows them), and the pages a "Final model" section: what
  it is (ensemble members and weights, or the best trial) and the validation and test value
  of the selection metric for the final model, the best trial and the baseline; the HTML page
  also its feature importance.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError
from latticenas.importance import FeatureImportance
from latticenas.search_report import final_table

TRIALS_FORMAT = "latticenas-trials/1"
TOP_ROWS = 20

__all__ = [
    "TRIALS_FORMAT",
    "Report",
    "SearchResults",
    "best_metrics",
    "trial_from_dict",
    "trial_to_dict",
    "write_report",
]


# ------------------------------------------------------------------------------ the results


def trial_to_dict(trial) -> dict[str, Any]:
    """A TrialRecord as plain JSON (every field; metric values as lists)."""
    out = {}
    for f in dataclasses.fields(trial):
        value = getattr(trial, f.name)
        if f.name == "state":
            value = value.value
        elif f.name == "metrics":
            value = {name: list(values) for name, values in value.items()}
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


def trial_from_dict(data: Mapping[str, Any]):
    """The TrialRecord :func:`trial_to_dict` wrote (unknown keys are ignored)."""
    from latticenas.runner.trials import TrialRecord, TrialState

    known = {f.name for f in dataclasses.fields(TrialRecord)}
    values = {k: v for k, v in data.items() if k in known}
    values["state"] = TrialState(values.get("state", TrialState.CREATED.value))
    return TrialRecord(**values)


@dataclass(frozen=True)
class SearchResults:
    """A search's Experiment manifest, trials, backend and final status."""

    manifest: Mapping[str, Any]
    trials: tuple = ()
    backend: str = "local"
    status: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def experiment(self):
        """The manifest parsed by the runner (objective, parameters, budget)."""
        from latticenas.runner.experiment import parse_experiment

        return parse_experiment(self.manifest)

    @property
    def name(self) -> str:
        return self.experiment.name

    def best(self):
        """The best trial by the objective (Katib's optimal trial), or None."""
        from latticenas.runner.trials import best_trial

        return best_trial(self.trials, self.experiment.objective)

    def observed(self, trial) -> dict[str, float]:
        """A trial's objective and additional metrics by their strategies."""
        from latticenas.runner.trials import observed

        return observed(trial.metrics, self.experiment.objective)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRIALS_FORMAT,
            "experiment": json.loads(json.dumps(self.manifest, default=str)),
            "backend": self.backend,
            "status": self.status,
            "trials": [trial_to_dict(t) for t in self.trials],
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    def __reduce__(self):
        """Pickled as its JSON document (a TrialRecord's mappings are read-only proxies, which
        do not pickle): how it crosses Kale notebook steps."""
        return (SearchResults.from_dict, (self.to_dict(),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchResults:
        if not isinstance(data, Mapping) or data.get("format") != TRIALS_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise LatticeNASError(
                f"not a latticenas trials document (format {found!r}, expected {TRIALS_FORMAT!r}); "
                "pass the trials output of the search step"
            )
        return cls(
            manifest=data["experiment"],
            trials=tuple(trial_from_dict(t) for t in data.get("trials") or ()),
            backend=str(data.get("backend") or "local"),
            status=str(data.get("status") or ""),
            extra=dict(data.get("extra") or {}),
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> SearchResults:
        return cls.from_dict(json.loads(Path(path).read_text()))


def best_metrics(results: SearchResults) -> dict[str, float]:
    """The best trial's objective and additional metrics (empty when no trial scored)."""
    best = results.best()
    return results.observed(best) if best is not None else {}


# ------------------------------------------------------------------------------ the report


@dataclass(frozen=True)
class Report:
    directory: Path
    leaderboard_csv: Path
    leaderboard_json: Path
    progress_png: Path
    html: Path
    markdown: Path
    best_metrics_json: Path
    diagram_svg: Path | None
    diagram_html: Path | None
    best_trial: str | None
    best_metrics: dict[str, float]


def write_report(results: SearchResults, directory: str | Path, best_spec=None, *, top: int = TOP_ROWS,
                 final=None, networks: Sequence[tuple[str, Any]] | None = None) -> Report:
    """Write the report files (see the module docstring) into ``directory``."""
    from latticenas.runner.report import leaderboard, leaderboard_cells, plot_progress, render_table, write_leaderboard
    from latticenas.runner.workspace import Workspace
    from latticenas.search_report import REPORT, write_search_report

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(directory)
    experiment, trials = results.experiment, list(results.trials)
    rows = leaderboard(experiment, trials, final)
    summary = summary_lines(results)
    write_leaderboard(workspace, experiment, rows)
    svg_plot = plot_progress(workspace, experiment, trials)
    best = results.best()
    metrics = results.observed(best) if best is not None else {}

    diagram_svg = diagram_html = None
    if best_spec is not None:
        from latticenas.arch.diagram import render_html, render_svg

        title = f"best network of {best.name}" if best is not None else "best network"
        diagram_svg = directory / "diagram.svg"
        diagram_svg.write_text(render_svg(best_spec, title=title))
        diagram_html = directory / "diagram.html"
        diagram_html.write_text(render_html(best_spec, title=title))

    if networks is None:
        networks = [(title, best_spec)] if best_spec is not None else []
    write_search_report(directory / REPORT, experiment, trials, leaderboard_cells(experiment, rows),
                        summary + (final.lines()[:-1] if final else []), svg_plot, final, networks)

    markdown = _markdown(results, summary, best, metrics, best_spec, render_table(experiment, rows, limit=top), top,
                         final)
    (directory / "report.md").write_text(markdown)
    (directory / "best_metrics.json").write_text(
        json.dumps({"trial": best.name if best else None, "metrics": metrics}, indent=2, sort_keys=True) + "\n"
    )
    return Report(
        directory=directory,
        leaderboard_csv=directory / "leaderboard.csv",
        leaderboard_json=directory / "leaderboard.json",
        progress_png=directory / "progress.png",
        html=directory / REPORT,
        markdown=directory / "report.md",
        best_metrics_json=directory / "best_metrics.json",
        diagram_svg=diagram_svg,
        diagram_html=diagram_html,
        best_trial=best.name if best else None,
        best_metrics=metrics,
    )


def summary_lines(results: SearchResults) -> list[str]:
    """Experiment, backend and status; trial counts by state; the best trial."""
    from latticenas.runner.report import search_summary

    experiment = results.experiment
    return search_summary(experiment, results.trials, results.status or "finished",
                          label=f"{experiment.name} ({results.backend} backend)")


def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _parameters(results: SearchResults, trial) -> list[tuple[str, str]]:
    out = []
    for parameter in results.experiment.parameters:
        if parameter.name in trial.params:
            out.append((parameter.name, parameter.format(trial.params[parameter.name])))
    return out


def _describe(spec) -> str:
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in spec.summary().items())


def _markdown(results, summary: Sequence[str], best, metrics, spec, table: str, top: int, final=None) -> str:
    lines = [f"# Search results: {results.name}", ""]
    lines += [f"- {line}" for line in summary]
    lines.append("")
    if final is not None:
        lines += [f"## Final model ({final.kind})", "", f"| model | validation {final.metric} | test {final.metric} |",
                  "| --- | --- | --- |"]
        lines += [f"| {name} | {_number(val)} | {_number(test)} |" for name, val, test in final_table(final)]
        lines.append("")
    if final is not None and final.importance:
        importance = FeatureImportance.from_dict(final.importance)
        lines += ["## Feature importance", "", f"Permutation importance on the {importance.split} rows: the "
                  f"{importance.change} when one column is shuffled.", "", f"| feature | {importance.change} |",
                  "| --- | --- |"]
        lines += [f"| {f.name} | {f.mean:.4g} |" for f in importance.features[:top]]
        lines.append("")
    if best is not None:
        lines += [f"## Best trial: {best.name}", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.6g} |" for k, v in metrics.items()]
        lines += ["", "| parameter | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in _parameters(results, best)]
        lines.append("")
    if spec is not None:
        lines += ["## Best network", "", f"spec `{spec.content_hash[:12]}`: {_describe(spec)}", ""]
    lines += [f"## Leaderboard ({min(len(results.trials), top)} of {len(results.trials)} trials)", "",
              "```text", table, "```", ""]
    return "\n".join(lines)
