"""A data profile of a loaded :class:`~latticenas.data.Dataset`, for people and the KFP UI.

:func:`profile_dict` returns plain JSON-ready numbers; :func:`profile_markdown` renders them as
a Markdown document (KFP shows it with ``Markdown`` output / ``metadata.outputs``):

* rows per split (train, validation, test, total) and the data fingerprint
  (:func:`dataset_fingerprint`: sha256 of the rows used, in table order);
* one line per feature column: kind, missing count and percent, distinct values, and for
  numeric columns min / mean / max, for categorical ones the most frequent values;
* the target: regression quantiles (min, 5%, 25%, 50%, 75%, 95%, max, mean, std); for
  classification the count of each class, overall and per split.

Statistics are over all rows of the dataset (train, validation and test together), so the
profile describes the data, not what a model saw; missing values are left out of them.
Framework-free (pandas only).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from latticenas.data import ColumnKind, Dataset, Task, data_fingerprint
from latticenas.data.canonical import canonical_strings

TOP_CATEGORIES = 5
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)

__all__ = ["dataset_fingerprint", "profile_dict", "profile_markdown"]


def all_rows(dataset: Dataset) -> pd.DataFrame:
    """Train, validation and test rows together, back in table order when the index allows."""
    frame = pd.concat([dataset.train, dataset.val, dataset.test])
    if frame.index.is_unique:
        frame = frame.sort_index(kind="mergesort")
    return frame


def dataset_fingerprint(dataset: Dataset) -> str:
    """:func:`latticenas.data.data_fingerprint` of all the dataset's rows in table order."""
    return data_fingerprint(all_rows(dataset))


def profile_dict(dataset: Dataset) -> dict[str, Any]:
    """The profile as a JSON-ready dict (see the module docstring)."""
    schema = dataset.schema
    frame = all_rows(dataset)
    n = len(frame)
    columns = []
    for info in schema.features:
        column = frame[info.name]
        missing = int(column.isna().sum())
        entry: dict[str, Any] = {
            "name": info.name,
            "kind": info.kind.value,
            "missing": missing,
            "missing_pct": _pct(missing, n),
            "unique": int(column.nunique(dropna=True)),
        }
        if info.kind is ColumnKind.NUMERIC:
            values = pd.to_numeric(column, errors="coerce").dropna()
            entry.update(
                min=_num(values.min()) if len(values) else None,
                mean=_num(values.mean()) if len(values) else None,
                max=_num(values.max()) if len(values) else None,
            )
        else:
            counts = column.dropna().astype(str).value_counts()
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            entry["top"] = [{"value": v, "count": int(c)} for v, c in ordered[:TOP_CATEGORIES]]
        columns.append(entry)
    return {
        "source_uri": dataset.source_uri,
        "fingerprint": data_fingerprint(frame),
        "task": schema.task.value,
        "target": schema.target,
        "rows": {
            "train": len(dataset.train),
            "validation": len(dataset.val),
            "test": len(dataset.test),
            "total": n,
        },
        "columns": columns,
        "target_summary": _target_summary(dataset, frame),
    }


def _target_summary(dataset: Dataset, frame: pd.DataFrame) -> dict[str, Any]:
    schema = dataset.schema
    if schema.task is Task.REGRESSION:
        y = pd.to_numeric(frame[schema.target], errors="coerce").dropna()
        return {
            "quantiles": {_q_name(q): _num(y.quantile(q)) for q in QUANTILES},
            "mean": _num(y.mean()),
            "std": _num(y.std(ddof=0)),
        }
    parts = {"train": dataset.train, "validation": dataset.val, "test": dataset.test}
    classes = list(schema.classes or ())

    def counts(part: pd.DataFrame) -> dict[str, int]:
        labels = canonical_strings(part[schema.target]).value_counts()
        return {c: int(labels.get(c, 0)) for c in classes}

    return {
        "classes": classes,
        "counts": counts(frame),
        "counts_by_split": {name: counts(part) for name, part in parts.items()},
    }


def profile_markdown(dataset: Dataset) -> str:
    """The profile as Markdown: a header, rows per split, a column table, the target."""
    p = profile_dict(dataset)
    rows = p["rows"]
    lines = [
        "# Data profile",
        "",
        f"- source: `{p['source_uri']}`",
        f"- fingerprint (sha256): `{p['fingerprint']}`",
        f"- task: **{p['task']}**, target: `{p['target']}`",
        "",
        "## Rows",
        "",
        "| split | rows | share |",
        "| --- | ---: | ---: |",
    ]
    for name in ("train", "validation", "test"):
        lines.append(f"| {name} | {rows[name]} | {_pct(rows[name], rows['total']):.1f}% |")
    lines += [f"| total | {rows['total']} | 100.0% |", "", "## Columns", ""]
    lines += [
        "| column | kind | missing | missing % | unique | min | mean | max | top values |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in p["columns"]:
        if c["kind"] == ColumnKind.NUMERIC.value:
            stats = [_fmt(c["min"]), _fmt(c["mean"]), _fmt(c["max"])]
            top = ""
        else:
            stats = ["", "", ""]
            top = ", ".join(f"{_cell(t['value'])} ({t['count']})" for t in c["top"])
        lines.append(
            f"| {_cell(c['name'])} | {c['kind']} | {c['missing']} | {c['missing_pct']:.1f}% | "
            f"{c['unique']} | {' | '.join(stats)} | {top} |"
        )
    lines += ["", f"## Target `{p['target']}`", ""]
    summary = p["target_summary"]
    if p["task"] == Task.REGRESSION.value:
        names = list(summary["quantiles"])
        lines += [
            "| " + " | ".join(names + ["mean", "std"]) + " |",
            "|" + " ---: |" * (len(names) + 2),
            "| " + " | ".join(_fmt(summary["quantiles"][k]) for k in names)
            + f" | {_fmt(summary['mean'])} | {_fmt(summary['std'])} |",
        ]
    else:
        total = sum(summary["counts"].values())
        by_split = summary["counts_by_split"]
        lines += [
            "| class | count | share | train | validation | test |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label in summary["classes"]:
            count = summary["counts"][label]
            lines.append(
                f"| {_cell(label)} | {count} | {_pct(count, total):.1f}% | "
                f"{by_split['train'][label]} | {by_split['validation'][label]} | "
                f"{by_split['test'][label]} |"
            )
    return "\n".join(lines) + "\n"


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _num(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _q_name(q: float) -> str:
    return {0.0: "min", 1.0: "max"}.get(q, f"p{round(q * 100):g}")


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
