"""What an experiment produced: the leaderboard, the progress plot and the best model.

Contract (all written atomically, so ``experiment status`` may run while a run writes):

* the leaderboard ranks trials with an objective value best first (ties: earlier trial first),
  then the trials without one in creation order (no rank); each row has the rank, trial,
  state, objective, additional metrics (by their metric strategies) and the parameters as
  Katib substituted them;
* ``leaderboard.csv`` and ``leaderboard.json`` in the experiment directory hold every row;
* ``progress.png`` plots the objective of every trial by trial number and the best-so-far line;
* ``report.html`` is the search's one self-contained report (:mod:`latticenas.search_report`:
  summary, final model beside the baseline, that plot, the sortable leaderboard, parameter and
  feature importance, the final model's networks);
* the best trial's ``output/best/`` artifacts (spec.json, model.keras, metrics.json,
  diagram.svg, ...) are copied to ``<dir>/best/`` with ``trial.json`` naming their trial;
* when the run built a final model (:mod:`latticenas.final`, ``<dir>/final/``), the leaderboard
  shows it and the HistGradientBoosting baseline as rows without a rank (state ``Final`` /
  ``Baseline``, their validation metrics), in order of the objective, and the summary gives
  their test scores;
* :func:`write_report` does all of it and returns the terminal text: a summary and the top of
  the leaderboard as a table.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from latticenas.extras import require
from latticenas.arch.spec import ArchitectureSpec
from latticenas.errors import LatticeNASError
from latticenas.fileio import atomic_write
from latticenas.final import FINAL, FinalModel, load_final
from latticenas.runner.experiment import Experiment
from latticenas.runner.progress import format_value
from latticenas.runner.trials import TrialRecord, TrialState, best_trial, observed
from latticenas.runner.workspace import Workspace
from latticenas.search_report import REPORT, write_search_report

TERMINAL_ROWS = 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    rank: int | None
    trial: str
    state: str
    objective: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    duration_s: float | None = None


def leaderboard(experiment: Experiment, trials: Sequence[TrialRecord], final: FinalModel | None = None) -> tuple[Row, ...]:
    sign = 1.0 if experiment.objective.minimize else -1.0
    scored = sorted((t for t in trials if t.objective is not None), key=lambda t: (sign * t.objective, t.index))
    unscored = [t for t in trials if t.objective is None]
    rows = [_row(experiment, t, rank) for rank, t in enumerate(scored, start=1)]
    for extra in final_rows(experiment, final):  # placed by objective, after equal trials
        at = next((i for i, r in enumerate(rows) if sign * r.objective > sign * extra.objective), len(rows))
        rows.insert(at, extra)
    return tuple(rows + [_row(experiment, t, None) for t in unscored])


def final_rows(experiment: Experiment, final: FinalModel | None) -> list[Row]:
    """The final model and the baseline as leaderboard rows (validation metrics)."""
    if final is None:
        return []
    label = f"final (ensemble of {len(final.members)} trials)" if final.kind == "ensemble" else f"final ({final.best_trial})"
    sources = [(label, "Final", final.val_metrics)]
    if final.baseline:
        sources.append((final.baseline["name"] + " baseline", "Baseline", final.baseline["val_metrics"]))
    rows = []
    for name, state, metrics in sources:
        values = {m: metrics.get(m.removeprefix("val-")) for m in (experiment.objective.metric, *experiment.objective.additional_metrics)
                  if m.startswith("val-")}
        objective = values.pop(experiment.objective.metric, None)
        if objective is not None:
            rows.append(Row(None, name, state, objective, {k: v for k, v in values.items() if v is not None}))
    return rows


def _row(experiment: Experiment, trial: TrialRecord, rank: int | None) -> Row:
    metrics = observed(trial.metrics, experiment.objective)
    metrics.pop(experiment.objective.metric, None)
    params = {p.name: p.format(trial.params[p.name]) for p in experiment.parameters if p.name in trial.params}
    return Row(rank, trial.name, trial.state.value, trial.objective, metrics, params, trial.duration)


def _columns(experiment: Experiment) -> list[str]:
    objective = experiment.objective
    return ["rank", "trial", "state", objective.metric, *objective.additional_metrics, *(p.name for p in experiment.parameters)]


def _cells(experiment: Experiment, row: Row, exact: bool = False) -> list[str]:
    """One row as text: values rounded for reading, or ``exact`` (full precision, blanks)."""

    def number(value: float | None) -> str:
        if exact:
            return "" if value is None else repr(value)
        return format_value(value)

    extra = [number(row.metrics.get(m)) for m in experiment.objective.additional_metrics]
    params = [row.params.get(p.name, "") for p in experiment.parameters]
    rank = str(row.rank) if row.rank is not None else ("" if exact else "-")
    return [rank, row.trial, row.state, number(row.objective), *extra, *params]


def leaderboard_cells(experiment: Experiment, rows: Sequence[Row]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The leaderboard for a page: column names, each row rounded for reading, and exactly."""
    return (_columns(experiment), [_cells(experiment, row) for row in rows],
            [_cells(experiment, row, exact=True) for row in rows])


def render_table(experiment: Experiment, rows: Sequence[Row], limit: int = TERMINAL_ROWS) -> str:
    header = _columns(experiment)
    body = [_cells(experiment, row) for row in rows[:limit]]
    widths = [max(len(cell) for cell in column) for column in zip(header, *body)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more trial(s) in leaderboard.csv")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- files


def write_leaderboard(workspace: Workspace, experiment: Experiment, rows: Sequence[Row]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*_columns(experiment), "duration_s"])
    for row in rows:
        cells = _cells(experiment, row, exact=True)
        writer.writerow([*cells, "" if row.duration_s is None else f"{row.duration_s:.3f}"])
    atomic_write(workspace.directory / "leaderboard.csv", buffer.getvalue())
    document = {
        "experiment": experiment.name,
        "objective": {"metric": experiment.objective.metric, "type": experiment.objective.type.value},
        "trials": [asdict(row) for row in rows],
    }
    atomic_write(workspace.directory / "leaderboard.json", json.dumps(document, indent=2))


def plot_progress(workspace: Workspace, experiment: Experiment, trials: Sequence[TrialRecord]) -> str:
    """Write progress.png; return the same figure as SVG text."""
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    _draw(ax, experiment, trials)
    fig.tight_layout()
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png")
    fig.savefig(svg, format="svg")
    plt.close(fig)
    atomic_write(workspace.directory / "progress.png", png.getvalue())
    return svg.getvalue()


def _draw(ax, experiment: Experiment, trials: Sequence[TrialRecord]) -> None:
    objective = experiment.objective
    for state, color in ((TrialState.SUCCEEDED, "tab:blue"), (TrialState.EARLY_STOPPED, "tab:orange")):
        points = [(t.index, t.objective) for t in trials if t.state is state and t.objective is not None]
        if points:
            ax.scatter(*zip(*points), color=color, label=state.value, zorder=3)
    xs, best = [], []
    for trial in trials:
        if trial.objective is not None and (not best or objective.better(trial.objective, best[-1])):
            xs.append(trial.index)
            best.append(trial.objective)
    if xs:
        last = max(t.index for t in trials)
        ax.step([*xs, last], [*best, best[-1]], where="post", color="tab:green", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{objective.metric} ({objective.type.value})")
    ax.set_title(experiment.name)
    ax.grid(alpha=0.3)
    if xs:
        ax.legend()


def copy_best(workspace: Workspace, experiment: Experiment, trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """Copy the best trial's best/ artifacts to <dir>/best/ (once per best trial)."""
    best = best_trial(trials, experiment.objective)
    if best is None:
        return None
    marker = workspace.best_dir / "trial.json"
    if marker.is_file() and json.loads(marker.read_text()).get("trial") == best.name:
        return best
    staging = Path(tempfile.mkdtemp(dir=workspace.directory, prefix=".best."))
    source = workspace.output_dir(best.name) / "best"
    if source.is_dir():
        shutil.copytree(source, staging, dirs_exist_ok=True)
    info: dict[str, Any] = {"trial": best.name, "objective": best.objective, "params": dict(best.params)}
    info["source"] = str(source)
    (staging / "trial.json").write_text(json.dumps(info, indent=2))
    if workspace.best_dir.exists():
        shutil.rmtree(workspace.best_dir)
    os.replace(staging, workspace.best_dir)
    return best


def search_summary(experiment: Experiment, trials: Sequence[TrialRecord], status: str,
                   label: str | None = None) -> list[str]:
    """Experiment and status, trial counts by state, the best trial: the summary shared by the
    runner's report and the pipeline's aggregate step (``label`` replaces the experiment name)."""
    counts = {state: sum(1 for t in trials if t.state is state) for state in TrialState}
    states = ", ".join(f"{n} {state.value}" for state, n in counts.items() if n)
    budget = experiment.budget.max_trials
    lines = [
        f"experiment {label or experiment.name}: {status}",
        f"trials: {len(trials)}{f' of {budget}' if budget else ''} ({states or 'none yet'})",
    ]
    best = best_trial(trials, experiment.objective)
    if best is not None:
        lines.append(f"best: {best.name} {experiment.objective.metric}={format_value(best.objective)}")
    elif trials:
        lines.append("best: none (no trial reported the objective)")
    return lines


def summary_lines(experiment: Experiment, trials: Sequence[TrialRecord], status: str, workspace: Workspace) -> list[str]:
    lines = search_summary(experiment, trials, status)
    if best_trial(trials, experiment.objective) is not None:
        model = workspace.best_dir / "model.keras"
        lines.append(f"best model: {model}" if model.is_file() else f"best artifacts: {workspace.best_dir}")
    return lines


def write_report(workspace: Workspace, experiment: Experiment, trials: Sequence[TrialRecord], status: str) -> str:
    """Write every report file; return the terminal text (summary + leaderboard table)."""
    final = load_final(workspace.directory / FINAL)
    rows = leaderboard(experiment, trials, final)
    write_leaderboard(workspace, experiment, rows)
    try:
        copy_best(workspace, experiment, trials)
    except OSError:  # a concurrent `status` or run is copying the same files; next time then
        pass
    summary = summary_lines(experiment, trials, status, workspace) + (final.lines() if final else [])
    report = write_search_report(workspace.directory / REPORT, experiment, trials, leaderboard_cells(experiment, rows),
                                 summary, plot_progress(workspace, experiment, trials), final,
                                 _networks(workspace, experiment, trials, final))
    files = f"files: {workspace.directory}/leaderboard.csv, leaderboard.json, progress.png"
    return "\n".join([*summary, files, f"report: {report}", "", render_table(experiment, rows)])


def _networks(workspace: Workspace, experiment: Experiment, trials: Sequence[TrialRecord],
              final: FinalModel | None) -> list[tuple[str, ArchitectureSpec]]:
    """The final model's networks (each member trial's best one), else the best trial's."""
    if final is not None:
        places = [(f"{m['trial']} (weight {m['weight']:g})", workspace.output_dir(m["trial"]) / "best")
                  for m in final.members]
    else:
        best = best_trial(trials, experiment.objective)
        places = [(f"best network of {best.name}", workspace.best_dir)] if best is not None else []
    networks = []
    for title, place in places:
        try:
            networks.append((title, ArchitectureSpec.from_json((place / "spec.json").read_text())))
        except FileNotFoundError:
            continue
        except (LatticeNASError, ValueError) as exc:  # a trial program of another kind wrote it
            log.warning("no diagram of %s: %s is not an architecture spec (%s)", title, place / "spec.json", exc)
    return networks
