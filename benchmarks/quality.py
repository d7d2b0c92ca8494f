"""Benchmark: what a latticenas search reaches on held-out rows, against gradient boosting fitted
in the same run on the same rows.

Protocol, for each table (``benchmarks/tables.py``) and search seed:

1. **Fixed split.** ``sklearn.model_selection.train_test_split(df, test_size=0.2,
   random_state=42)``, stratified by the target for classification. The search sees only the
   train rows, written to ``<run dir>/train.csv``; the test rows (``test.csv``) are touched
   once, at the end.
2. **Search.** The shipped search space ``search_spaces/ames.yaml`` is read at run time and
   only its data, scoring and budget are changed: ``fixed.data/target/task/drop_columns`` for
   the table; the objective is the validation metric of the task's main metric (``val-rmsle``
   for a positive regression target, else ``val-rmse``; ``val-logloss`` for classification),
   with no goal; the budget; one algorithm (default tpe) with ``random_state`` = the seed; no
   early stopping. Every searched parameter and every other fixed value is the file's. Each
   trial gets ``--test-fraction=0``, so its hash split of train.csv is train/validation
   only. The Experiment (``<run dir>/experiment.yaml``) runs with the local runner in the run
   directory.
3. **Models.** The search's final model, ``<run dir>/final/`` (``<run dir>/best/``, the best
   trial's best network, when the runner wrote no final model) predicts the test rows.
   HistGradientBoosting (:mod:`latticenas.baseline`: scikit-learn defaults, native
   categorical support, the networks' log-target rule) is fitted on all of train.csv: the
   train and validation rows of the trials' hash split together.
4. **Report.** Test metrics of both with :mod:`latticenas.evaluation` (regression: rmse,
   rmsle for a positive target, mae, r2; classification: logloss, accuracy, auc), the ratio
   lattice / baseline on the main metric (RMSLE for a positive regression target, else RMSE;
   log loss), the search's wall seconds, and the time to predict 1,000 rows (final model, the
   single best network, the baseline). Printed, and written to ``<run dir>/quality.json``.
   Several tables and seeds end with one markdown table (also ``<dir>/summary.md``).

Run directories are ``<dir>/<table>-seed<seed>``; a directory that already holds a search is
refused (measurements are of whole, fresh runs).

    .venv/bin/python benchmarks/quality.py diamonds
    .venv/bin/python benchmarks/quality.py --tables ames,chile,computers,hi,diamonds --seeds 0,1,2
    .venv/bin/python benchmarks/quality.py ames --max-trials 2 --parallel 1 --epochs 3   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from latticenas.errors import LatticeNASError  # noqa: E402
from tables import TABLES, Table  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPACE = REPO / "search_spaces" / "ames.yaml"
TEST_SIZE = 0.2
SPLIT_SEED = 42
TRIAL_VAL_FRACTION = 0.15  # latticenas-trial's --val-fraction default (the space cannot set it)
PREDICT_ROWS = 1000
PREDICT_REPEATS = 3
#: Algorithms whose Katib settings include ``random_state``.
SEEDED_ALGORITHMS = ("random", "bayesianoptimization", "tpe", "multivariate-tpe", "cmaes", "grid")
#: Leaderboard rows that are not trials (the runner's baseline and final model).
NOT_TRIALS = ("Baseline", "Final")
OTHER_METRICS = ("param-count", "train-seconds", "networks-trained", "networks-failed")
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


class BenchmarkError(Exception):
    """Bad input: printed as one ``error:`` line, exit status 2."""


# --------------------------------------------------------------------------- split and space


def split_table(table: Table, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    stratify = df[table.target] if table.task != "regression" else None
    return train_test_split(df, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=stratify)


def positive_target(table: Table, y: pd.Series) -> bool:
    return table.task == "regression" and float(pd.to_numeric(y).min()) > 0


def main_metric(table: Table, positive: bool) -> str:
    if table.task != "regression":
        return "logloss"
    return "rmsle" if positive else "rmse"


def search_space_dict(raw: dict[str, Any], *, table: Table, train_csv: Path, metric: str,
                      algorithm: str, seed: int, max_trials: int, parallel: int,
                      epochs: int | None) -> dict[str, Any]:
    """The shipped space with this table's data, scoring, budget and seed (module doc, step 2)."""
    space = copy.deepcopy(raw)
    space["name"] = re.sub(r"[^a-z0-9-]+", "-", f"quality-{table.name}".lower())[:23].strip("-")
    family = ("rmse", "rmsle", "mae", "r2") if table.task == "regression" else ("logloss", "accuracy", "auc")
    space["objective"] = {"metric": f"val-{metric}", "type": "minimize"}  # no goal
    space["additional_metrics"] = [f"val-{m}" for m in family if m != metric] + list(OTHER_METRICS)
    budget = dict(space.get("budget") or {})
    shipped_failures = budget.get("max_failed_trials", max_trials)
    space["budget"] = {"max_trials": max_trials, "parallel_trials": min(parallel, max_trials),
                       "max_failed_trials": min(int(shipped_failures), max_trials)}
    fixed = dict(space.get("fixed") or {})
    fixed.update({"data": str(train_csv), "target": table.target, "task": table.task})
    fixed.pop("drop_columns", None)
    if table.drop_columns:
        fixed["drop_columns"] = list(table.drop_columns)
    if epochs is not None:
        fixed["epochs"] = epochs
    space["fixed"] = fixed
    algorithms = space.get("algorithms") or {}
    settings = dict(algorithms.get(algorithm) or {}) if isinstance(algorithms, dict) else {}
    if algorithm in SEEDED_ALGORITHMS:
        settings["random_state"] = seed
    space["algorithms"] = {algorithm: settings}
    space.pop("early_stopping", None)
    return space


def write_experiment(space_dict: dict[str, Any], algorithm: str, path: Path, source: str) -> dict:
    """parse_space -> build_experiment, ``--test-fraction=0`` for every trial, validated, to YAML."""
    from latticenas.katib.generate import CONTAINER_NAME, build_experiment, dump_yaml
    from latticenas.katib.validate import validate_experiment
    from latticenas.space import parse_space

    space = parse_space(space_dict, source=source)
    experiment = build_experiment(space, algorithm)
    pod = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    command = next(c for c in pod["containers"] if c.get("name") == CONTAINER_NAME)["command"]
    # the search space has no field for it (fixed takes trial options data/target/task/
    # drop_columns and Cerebros parameters only): put it before the searched parameters, as
    # latticenas.pipeline.search does with the prepared split's options
    at = next((i for i, part in enumerate(command)
               if "${trialParameters." in part and not part.startswith("--output-dir")), len(command))
    command[at:at] = ["--test-fraction=0"]
    issues = validate_experiment(experiment)
    if issues:
        raise BenchmarkError(f"the benchmark's Experiment would be rejected: {issues[0]}")
    path.write_text(dump_yaml(experiment, f"# written by benchmarks/quality.py from {source}"))
    return experiment


# --------------------------------------------------------------------------- models


def model_directory(run_dir: Path) -> tuple[Path | None, str]:
    """The search's final model (``final/``), else the best trial's best network (``best/``)."""
    for name in ("final", "best"):
        if (run_dir / name / "model.keras").is_file():
            return run_dir / name, name
    return None, "none"


def test_metrics(table: Table, schema, y: pd.Series, prediction: np.ndarray, positive: bool) -> dict[str, float]:
    from latticenas.evaluation import classification_metrics, regression_metrics

    if table.task == "regression":
        metrics = regression_metrics(pd.to_numeric(y).to_numpy(dtype="float64"), prediction)
        if not positive:
            metrics.pop("rmsle")
        return {k: metrics[k] for k in ("rmse", "rmsle", "mae", "r2") if k in metrics}
    metrics = classification_metrics(schema.encode_target(y), prediction, len(schema.classes))
    return {k: metrics[k] for k in ("logloss", "accuracy", "auc")}


def predict_seconds(predict, rows: pd.DataFrame) -> float:
    """Median wall seconds of ``predict(rows)`` over a few calls, after one warm-up call."""
    predict(rows)
    times = []
    for _ in range(PREDICT_REPEATS):
        started = time.perf_counter()
        predict(rows)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fit_hgb(train_csv: Path, table: Table, seed: int):
    """HistGradientBoosting on every row of train.csv (the trials' train + validation rows),
    with the schema the trials infer from that file. Returns (baseline, schema, row counts)."""
    from latticenas.baseline import fit_baseline
    from latticenas.data import Dataset, load_dataset

    split = load_dataset(str(train_csv), table.target, task=table.task, drop_columns=table.drop_columns,
                         val_fraction=TRIAL_VAL_FRACTION, test_fraction=0.0)
    rows = pd.concat([split.train, split.val])
    dataset = Dataset(schema=split.schema, train=rows, val=rows.iloc[:0], test=rows.iloc[:0],
                      source_uri=split.source_uri)
    counts = {"trial_train": len(split.train), "trial_validation": len(split.val), "baseline_fit": len(rows)}
    return fit_baseline(dataset, seed=seed), split.schema, counts


# --------------------------------------------------------------------------- one run


def run_one(table: Table, seed: int, args, raw_space: dict[str, Any]) -> dict[str, Any]:
    from latticenas.data import drop_missing_target, read_table
    from latticenas.predict import Predictor
    from latticenas.runner.session import run_experiment

    run_dir = (Path(args.dir) / f"{table.name}-seed{seed}").resolve()
    if (run_dir / "experiment.db").exists() or (run_dir / "quality.json").exists():
        raise BenchmarkError(f"{run_dir} already holds a run; remove it or choose another --dir")
    if not _SHELL_SAFE.fullmatch(str(run_dir)):
        raise BenchmarkError(f"{run_dir}: the trial command may hold only letters, digits and "
                             "_@%+=:,./- ; choose a --dir without spaces or other characters")
    run_dir.mkdir(parents=True, exist_ok=True)

    df = table.load()
    train, test = split_table(table, df)
    train_csv, test_csv = run_dir / "train.csv", run_dir / "test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    positive = positive_target(table, train[table.target])
    metric = main_metric(table, positive)

    space = search_space_dict(raw_space, table=table, train_csv=train_csv, metric=metric,
                              algorithm=args.algorithm, seed=seed, max_trials=args.max_trials,
                              parallel=args.parallel, epochs=args.epochs)
    manifest = run_dir / "experiment.yaml"
    write_experiment(space, args.algorithm, manifest, f"{_shown(args.space)} (table {table.name})")

    print(f"== {table.name} seed {seed}: search on {len(train)} rows "
          f"({args.max_trials} trials, {min(args.parallel, args.max_trials)} at a time, "
          f"{args.algorithm}), objective val-{metric}, in {run_dir}", flush=True)
    started = time.perf_counter()
    status = run_experiment(manifest, run_dir, max_trials=args.max_trials, parallel=args.parallel)
    search_seconds = time.perf_counter() - started

    # read the test rows as the trials read a table (same parser, same types)
    test_rows = drop_missing_target(read_table(str(test_csv)), table.target)
    y_test = test_rows[table.target]

    baseline, schema, counts = fit_hgb(train_csv, table, seed)
    hgb_test = test_metrics(table, schema, y_test, baseline.predict(test_rows), positive)
    timing_rows = test_rows.sample(n=PREDICT_ROWS, replace=len(test_rows) < PREDICT_ROWS, random_state=0)

    model_dir, model_kind = model_directory(run_dir)
    lattice_test, predict = None, {"baseline": predict_seconds(baseline.predict, timing_rows)}
    if model_dir is not None:
        final = Predictor.load(model_dir)
        lattice_test = test_metrics(table, final.schema, y_test, final.predict(test_rows), positive)
        predict["final_model"] = predict_seconds(final.predict, timing_rows)
        if model_kind == "best":
            predict["single_network"] = predict["final_model"]
        else:
            predict["single_network"] = predict_seconds(Predictor.load(run_dir / "best").predict, timing_rows)

    ratio = None
    if lattice_test is not None and hgb_test.get(metric):
        ratio = lattice_test[metric] / hgb_test[metric]
    result = {
        "table": table.name,
        "task": table.task,
        "origin": table.origin,
        "seed": seed,
        "rows": {"table": len(df), "search": len(train), "test": len(test_rows), **counts},
        "columns": int(df.shape[1]),
        "split": (f"train_test_split(test_size={TEST_SIZE}, random_state={SPLIT_SEED}"
                  + (", stratify=target)" if table.task != "regression" else ")")),
        "main_metric": metric,
        "objective": f"val-{metric}",
        "algorithm": args.algorithm,
        "budget": {"max_trials": args.max_trials, "parallel": min(args.parallel, args.max_trials)},
        "epochs_override": args.epochs,
        "search_space": _shown(args.space),
        "search_status": "succeeded" if status == 0 else "failed",
        "search_seconds": round(search_seconds, 2),
        "trials": _trial_counts(run_dir),
        "best_trial": _best_trial(run_dir),
        "model": model_kind,
        "final_model": _final_model(run_dir),
        "model_dir": None if model_dir is None else str(model_dir),
        "lattice": lattice_test,
        "baseline": {
            "name": "HistGradientBoosting (latticenas.baseline)",
            "fitted_on": "every train.csv row: the trials' hash-split train + validation rows",
            "log_target": bool(baseline.transform is not None and baseline.transform.log),
            "fit_seconds": round(baseline.fit_seconds, 3),
            "test": hgb_test,
        },
        "ratio": None if ratio is None else round(ratio, 4),
        "predict_seconds_1000_rows": {k: round(v, 4) for k, v in predict.items()},
        "environment": _environment(),
    }
    (run_dir / "quality.json").write_text(json.dumps(result, indent=2) + "\n")
    print(format_run(result), flush=True)
    print(f"wrote {run_dir / 'quality.json'}", flush=True)
    return result


# --------------------------------------------------------------------------- reporting


def _trial_counts(run_dir: Path) -> dict[str, int]:
    path = run_dir / "leaderboard.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    rows = data.get("trials", data) if isinstance(data, dict) else data
    counts: dict[str, int] = {}
    for row in rows if isinstance(rows, list) else []:
        state = str(row.get("state", "unknown"))
        if state not in NOT_TRIALS:
            counts[state] = counts.get(state, 0) + 1
    return counts


def _final_model(run_dir: Path) -> dict[str, Any] | None:
    """What the runner says about its final model (``final/final.json``), if it wrote one."""
    path = run_dir / "final" / "final.json"
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    return {k: info.get(k) for k in ("kind", "members", "metric", "val_metrics", "best_trial_val_metrics")}


def _best_trial(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "best" / "trial.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _environment() -> dict[str, Any]:
    import keras
    import sklearn
    import tensorflow as tf

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += "+changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"commit": commit, "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "scikit-learn": sklearn.__version__,
            "date": time.strftime("%Y-%m-%d")}


def _number(value: float | None, metric: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if metric in ("rmse", "mae") and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"


def format_run(r: dict[str, Any]) -> str:
    metrics = list(r["baseline"]["test"])
    lattice = r["lattice"] or {}
    model = {"final": "final model", "best": "best network (no final/)", "none": "no model"}[r["model"]]
    if r.get("final_model") and r["final_model"].get("kind"):
        model += f" ({r['final_model']['kind']}, {len(r['final_model'].get('members') or [])} member(s))"
    lines = [
        f"{r['table']} ({r['task']}, seed {r['seed']}): {r['rows']['search']} search rows "
        f"({r['rows']['trial_train']} train + {r['rows']['trial_validation']} validation in the "
        f"trials), {r['rows']['test']} test rows; search {r['search_status']} in "
        f"{r['search_seconds']:.1f} s, trials {r['trials'] or '-'}",
        f"  {'test metric':<12} {'lattice':>12} {'HGB':>12}   lattice = {model}; HGB fitted on all "
        f"{r['rows']['baseline_fit']} search rows in {r['baseline']['fit_seconds']:.2f} s",
    ]
    for m in metrics:
        mark = "  <- main" if m == r["main_metric"] else ""
        lines.append(f"  {m:<12} {_number(lattice.get(m), m):>12} {_number(r['baseline']['test'][m], m):>12}{mark}")
    ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
    lines.append(f"  ratio lattice / HGB on {r['main_metric']}: {ratio}")
    p = r["predict_seconds_1000_rows"]
    lines.append(
        "  predict 1,000 rows: final model "
        + (f"{p['final_model'] * 1000:.0f} ms" if "final_model" in p else "-")
        + ", single network " + (f"{p['single_network'] * 1000:.0f} ms" if "single_network" in p else "-")
        + f", HGB {p['baseline'] * 1000:.0f} ms"
    )
    return "\n".join(lines)


def summary_markdown(results: list[dict[str, Any]]) -> str:
    head = ("| table | task | search / test rows | seed | trials | metric | lattice | HGB | "
            "ratio | search s | predict 1k rows ms (final / single / HGB) |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        m = r["main_metric"]
        p = r["predict_seconds_1000_rows"]
        ms = " / ".join(f"{p[k] * 1000:.0f}" if k in p else "-" for k in ("final_model", "single_network", "baseline"))
        trials = sum(r["trials"].values()) if r["trials"] else 0
        lattice = (r["lattice"] or {}).get(m)
        ratio = "-" if r["ratio"] is None else f"**{r['ratio']:.3f}**"
        lines.append(
            f"| {r['table']} | {r['task']} | {r['rows']['search']:,} / {r['rows']['test']:,} | "
            f"{r['seed']} | {trials} | {m} | {_number(lattice, m)} | {_number(r['baseline']['test'][m], m)} | "
            f"{ratio} | {r['search_seconds']:.0f} | {ms} |"
        )
    by_table: dict[str, list[float]] = {}
    for r in results:
        if r["ratio"] is not None:
            by_table.setdefault(r["table"], []).append(r["ratio"])
    if any(len(v) > 1 for v in by_table.values()):
        lines.append("")
        lines.append("| table | seeds | mean ratio | min | max |")
        lines.append("|---|---|---|---|---|")
        for name, ratios in by_table.items():
            lines.append(f"| {name} | {len(ratios)} | **{statistics.mean(ratios):.3f}** | "
                         f"{min(ratios):.3f} | {max(ratios):.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def _shown(path: str | Path) -> str:
    path = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(path.relative_to(REPO))
    return str(path)


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BenchmarkError(f"{option} takes whole numbers separated by commas, not {text!r}") from None
    if not values:
        raise BenchmarkError(f"{option} is empty; give at least one seed")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"tables: {', '.join(TABLES)} (benchmarks/tables.py)",
    )
    parser.add_argument("table", nargs="?", help="one table (or use --tables)")
    parser.add_argument("--tables", help="comma-separated tables, e.g. ames,chile,diamonds")
    parser.add_argument("--seed", type=int, default=0, help="search seed (the algorithm's random_state; default 0)")
    parser.add_argument("--seeds", help="comma-separated search seeds, e.g. 0,1,2 (overrides --seed)")
    parser.add_argument("--max-trials", type=int, default=None,
                        help="trials per search (default: the search space's budget.max_trials)")
    parser.add_argument("--parallel", type=int, default=2, help="trials at a time (default 2)")
    parser.add_argument("--algorithm", default="tpe", help="suggestion algorithm (default tpe)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override fixed.epochs (for smoke runs; leave unset for real figures)")
    parser.add_argument("--space", default=str(DEFAULT_SPACE), help="search-space file (default search_spaces/ames.yaml)")
    parser.add_argument("--dir", default="experiments/quality", help="root of the run directories (default experiments/quality)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        names = [n.strip() for n in (args.tables or args.table or "").split(",") if n.strip()]
        if args.tables and args.table:
            raise BenchmarkError("give one table or --tables, not both")
        if not names:
            raise BenchmarkError(f"name a table (or --tables a,b); choose from {', '.join(TABLES)}")
        unknown = [n for n in names if n not in TABLES]
        if unknown:
            raise BenchmarkError(f"unknown table {unknown[0]!r}; choose from {', '.join(TABLES)}")
        seeds = _int_list(args.seeds, "--seeds") if args.seeds else [args.seed]
        raw_space = _read_space(args.space)
        if args.max_trials is None:
            args.max_trials = int((raw_space.get("budget") or {}).get("max_trials") or 8)
        for option in ("max_trials", "parallel", "epochs"):
            value = getattr(args, option)
            if value is not None and value < 1:
                raise BenchmarkError(f"--{option.replace('_', '-')} must be at least 1, not {value}")
        results = [run_one(TABLES[name], seed, args, raw_space) for name in names for seed in seeds]
    except (BenchmarkError, LatticeNASError) as exc:  # bad input: one line, as latticenas' commands
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = summary_markdown(results)
    print("\n" + summary)
    if len(results) > 1:
        root = Path(args.dir)
        (root / "summary.md").write_text(summary + "\n")
        (root / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {root / 'summary.md'} and {root / 'summary.json'}")
    return 0 if all(r["lattice"] is not None for r in results) else 1


def _read_space(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read the search space ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise BenchmarkError(f"{path}: not a search-space mapping (see docs/search-space.md)")
    return data


if __name__ == "__main__":
    sys.exit(main())
