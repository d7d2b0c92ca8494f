"""Prepared data: a table loaded, checked and split once, stored as three CSV parts + a record.

The ``prepare_data`` step runs :func:`prepare` (``latticenas.data.load_dataset``: schema
inference, leakage check, content-hash split) and :func:`write_prepared`; later steps get the
same :class:`~latticenas.data.Dataset` back with :func:`read_prepared`.

Contract:

* the parts are CSV with a header and no index; missing values are empty fields;
* the record, :class:`PreparedRecord` (typed; as JSON, :data:`PREPARED_FORMAT`), holds the
  schema, the data source and its resolved location, target, task, dropped columns, allowed
  leakage, the split fractions, the row counts, the columns in table order with their storage
  kind (``numeric``: float64, ``text``: strings) and the data fingerprint
  (:func:`latticenas.profile.dataset_fingerprint`: all rows in table order);
* :func:`read_prepared` restores every value exactly (floats are written in shortest
  round-trip form and read back as float64; text columns stay strings, so ``"001"`` or
  ``"NA"`` are not reinterpreted), so every row's canonical text, and with it its content
  hash, is what it was when the table was split.

That is what lets the search use the prepared split: :func:`search_table` is the train and
validation rows (never test), and a trial that loads it with :func:`trial_split_options`
(``val_fraction = val + test``, ``test_fraction = 0``) puts exactly the prepared validation
rows in its validation part, because :func:`latticenas.data.hash_split` sends a row with hash
position ``u`` to test when ``u < test``, to validation when ``u < test + val``.
:func:`check_trial_split` verifies it on the written table.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from latticenas import __version__
from latticenas.data import Dataset, TableSchema, data_fingerprint, load_dataset, read_bytes, write_bytes
from latticenas.errors import DataError
from latticenas.pipeline.placement import ACCELERATORS
from latticenas.profile import dataset_fingerprint, profile_markdown
from latticenas.trial import resolve_data_uri

PREPARED_FORMAT = "latticenas-prepared/1"
PARTS = ("train", "val", "test")

__all__ = [
    "PREPARED_FORMAT",
    "PreparedData",
    "PreparedRecord",
    "check_accelerator",
    "check_trial_split",
    "parse_columns",
    "prepare",
    "read_record",
    "read_part",
    "read_prepared",
    "search_table",
    "trial_split_options",
    "trial_view",
    "write_part",
    "write_prepared",
    "write_search_table",
]


@dataclass(frozen=True)
class PreparedRecord:
    """What was split and how (see the module docstring); :meth:`to_dict` is its JSON."""

    data_uri: str  # as given: a path, gs:// URI or example:<name>
    resolved_uri: str  # where it was read
    target: str
    task: str  # regression | binary | multiclass, as inferred or given
    requested_task: str  # auto, or the task given
    drop_columns: tuple[str, ...]
    allow_leakage: tuple[str, ...]
    val_fraction: float
    test_fraction: float
    rows: dict[str, int]  # train, val, test
    columns: dict[str, str]  # column -> "numeric" | "text", in table order
    data_fingerprint: str
    schema: TableSchema
    latticenas_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(format=PREPARED_FORMAT, drop_columns=list(self.drop_columns), allow_leakage=list(self.allow_leakage),
                    columns=[{"name": name, "storage": kind} for name, kind in self.columns.items()],
                    schema=self.schema.to_dict(), rows=dict(self.rows))
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "the record") -> PreparedRecord:
        if not isinstance(data, Mapping) or data.get("format") != PREPARED_FORMAT:
            raise DataError(f"{source} is not a prepared-data record ({PREPARED_FORMAT}): pass the prepare step's schema output")
        try:
            values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
            values.update(drop_columns=tuple(data["drop_columns"]), allow_leakage=tuple(data["allow_leakage"]),
                          val_fraction=float(data["val_fraction"]), test_fraction=float(data["test_fraction"]),
                          rows={str(k): int(v) for k, v in data["rows"].items()},
                          columns={str(c["name"]): str(c["storage"]) for c in data["columns"]},
                          schema=TableSchema.from_dict(data["schema"]))
            return cls(**values)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"{source}: a malformed prepared-data record ({type(exc).__name__}: {exc}); "
                            "pass the prepare step's schema output") from None


@dataclass(frozen=True)
class PreparedData:
    """The split dataset and its record (see the module docstring)."""

    dataset: Dataset
    record: PreparedRecord

    @property
    def schema(self) -> TableSchema:
        return self.dataset.schema

    def part(self, name: str) -> pd.DataFrame:
        return {"train": self.dataset.train, "val": self.dataset.val, "test": self.dataset.test}[name]

    def profile(self) -> str:
        """The Markdown data profile (:func:`latticenas.profile.profile_markdown`)."""
        return profile_markdown(self.dataset)


def parse_columns(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a, b"`` or ``["a", "b"]`` -> ``("a", "b")`` (blanks dropped)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(item).strip() for item in items if str(item).strip())


def check_accelerator(accelerator: str) -> str:
    """``accelerator`` if it is cpu, gpu or tpu; DataError otherwise."""
    if accelerator not in ACCELERATORS:
        raise DataError(f"accelerator {accelerator!r} is not one of {', '.join(ACCELERATORS)}: fix the pipeline parameter")
    return accelerator


def prepare(
    data_uri: str,
    target: str,
    *,
    task: str = "auto",
    drop_columns: str | Iterable[str] = (),
    allow_leakage: str | Iterable[str] = (),
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> PreparedData:
    """Load, check and split ``data_uri`` (a path, ``gs://`` URI or ``example:<name>``)."""
    if not val_fraction or val_fraction <= 0:
        raise DataError(
            f"val_fraction must be above 0 for a search (got {val_fraction!r}): trials are "
            "scored on the validation part; use e.g. 0.15"
        )
    drop, allow = parse_columns(drop_columns), parse_columns(allow_leakage)
    resolved = resolve_data_uri(data_uri)
    dataset = load_dataset(
        resolved, target, task=task, drop_columns=drop, val_fraction=val_fraction,
        test_fraction=test_fraction, allow_leakage=allow,
    )
    record = PreparedRecord(
        data_uri=str(data_uri), resolved_uri=str(resolved), target=target, task=dataset.schema.task.value,
        requested_task=str(task), drop_columns=drop, allow_leakage=allow, val_fraction=float(val_fraction),
        test_fraction=float(test_fraction),
        rows={name: len(part) for name, part in zip(PARTS, (dataset.train, dataset.val, dataset.test))},
        columns={c: _storage_kind(dataset.train[c]) for c in dataset.train.columns},
        data_fingerprint=dataset_fingerprint(dataset), schema=dataset.schema,
    )
    return PreparedData(dataset, record)


def _storage_kind(column: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    return "numeric" if numeric else "text"


def write_part(df: pd.DataFrame, uri: str) -> None:
    """One part as CSV (header, no index, missing values as empty fields)."""
    write_bytes(str(uri), df.to_csv(index=False).encode("utf-8"))


def read_part(uri: str, columns: Mapping[str, str]) -> pd.DataFrame:
    """A part written by :func:`write_part` with ``columns`` (:attr:`PreparedRecord.columns`),
    every value as it was (see the module docstring)."""
    data = read_bytes(str(uri))
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{uri} lacks columns {missing[:5]} of the prepared data: pass the prepare step's outputs")
    frame = frame[list(columns)]
    for name, kind in columns.items():
        if kind == "numeric":
            frame[name] = frame[name].astype("float64")
    return frame


def write_prepared(
    prepared: PreparedData,
    *,
    train: str,
    val: str,
    test: str,
    record: str,
    profile: str | None = None,
) -> None:
    """Write the three parts, the record and (optionally) the Markdown data profile."""
    for name, uri in zip(PARTS, (train, val, test)):
        write_part(prepared.part(name), uri)
    write_bytes(str(record), (json.dumps(prepared.record.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8"))
    if profile is not None:
        write_bytes(str(profile), prepared.profile().encode("utf-8"))


def read_record(uri: str) -> PreparedRecord:
    try:
        data = json.loads(read_bytes(str(uri)))
    except ValueError:
        data = None
    return PreparedRecord.from_dict(data, source=str(uri))


def read_prepared(*, record: str, train: str, val: str, test: str | None = None) -> PreparedData:
    """The :class:`PreparedData` :func:`write_prepared` wrote (``test`` may be left out)."""
    info = read_record(record)
    columns = info.columns
    parts = {
        "train": read_part(train, columns),
        "val": read_part(val, columns),
        "test": read_part(test, columns) if test is not None else pd.DataFrame(columns=list(columns)),
    }
    dataset = Dataset(schema=info.schema, train=parts["train"], val=parts["val"], test=parts["test"],
                      source_uri=info.data_uri)
    return PreparedData(dataset, info)


# ------------------------------------------------------------------------------ for the search


def search_table(prepared: PreparedData) -> pd.DataFrame:
    """The rows a search may see: train then validation (never test), columns as prepared."""
    return pd.concat([prepared.dataset.train, prepared.dataset.val], ignore_index=True)


def trial_view(prepared: PreparedData) -> Dataset:
    """The prepared dataset indexed as the trials see it: train and validation rows carry their
    row numbers in :func:`search_table` (train first, then validation), the numbers a trial's
    ``val_predictions.csv`` uses; test rows are numbered after them. So trials' validation
    predictions line up with these validation rows (:func:`latticenas.final.build_final`)."""
    data = prepared.dataset
    n_train, n_val = len(data.train), len(data.val)
    parts = [part.set_axis(pd.RangeIndex(start, start + len(part))) for part, start in
             ((data.train, 0), (data.val, n_train), (data.test, n_train + n_val))]
    return Dataset(schema=data.schema, train=parts[0], val=parts[1], test=parts[2], source_uri=data.source_uri)


def trial_split_options(record: PreparedRecord) -> dict[str, str]:
    """Trial-program options that reproduce the prepared train/validation split on
    :func:`search_table` (see the module docstring)."""
    options = {"val-fraction": repr(record.test_fraction + record.val_fraction), "test-fraction": "0"}
    if record.allow_leakage:
        options["allow-leakage"] = ",".join(record.allow_leakage)
    return options


def check_trial_split(prepared: PreparedData, table_uri: str) -> list[str]:
    """Problems (empty: none) when a trial loading ``table_uri`` with
    :func:`trial_split_options` would not see exactly the prepared train and validation rows."""
    record = prepared.record
    options = trial_split_options(record)
    seen = load_dataset(table_uri, record.target, task=record.task, val_fraction=float(options["val-fraction"]),
                        test_fraction=0.0, allow_leakage=record.allow_leakage)
    problems = []
    for name, mine, theirs in (("train", prepared.dataset.train, seen.train), ("validation", prepared.dataset.val, seen.val)):
        if len(mine) != len(theirs) or data_fingerprint(mine.reset_index(drop=True)) != data_fingerprint(theirs.reset_index(drop=True)):
            problems.append(f"the trials' {name} part has {len(theirs)} rows, the prepared one {len(mine)} (or other rows)")
    if not seen.test.empty:
        problems.append(f"the trials would test on {len(seen.test)} rows")
    return problems


def write_search_table(prepared: PreparedData, uri: str) -> str:
    """:func:`search_table` as Parquet at ``uri`` (local or ``gs://``; types kept exactly)."""
    buffer = io.BytesIO()
    search_table(prepared).to_parquet(buffer, index=False)
    write_bytes(str(uri), buffer.getvalue())
    return str(uri)
