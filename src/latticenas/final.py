"""The final model of a search: an ensemble of the best trials' models, or the best one alone.

:func:`build_final` takes the finished trials (best first), reads the validation predictions
each trial saved (:data:`latticenas.artifacts.VAL_PREDICTIONS`, keyed by table row), runs bagged
greedy ensemble selection with replacement over them (:func:`latticenas.ensemble.bagged_selection`)
on the objective's metric, and writes ``<directory>`` (the experiment's ``final/``)::

    model.keras          one Keras model, raw table columns in, target units / probabilities out
                         (the fused ensemble, or the best trial's model when that validates better)
    preprocessing.json   the input contract (as in a trial's best/)
    spec.json, diagram.svg   the best trial's best network
    final.json           kind, members and weights, validation (and test) metrics of the final
                         model, of the best single trial, and of the HistGradientBoosting baseline,
                         and the final model's feature importance
    importance.json, importance.svg, importance.png
                         permutation importance of the final model on the validation rows, in the
                         units of the selection metric (:mod:`latticenas.importance`)

So ``latticenas predict --model <dir>/final``, :class:`~latticenas.predict.Predictor`, the
registry and the pipeline treat it like any trial's ``best/``. The data are loaded as the
trials loaded them (from the best trial's ``params.json``), so the validation and test rows
are the trials' own; the baseline is fitted on the trials' training rows.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latticenas import artifacts as layout
from latticenas.data import Dataset, Task
from latticenas.data.io import exists, is_gcs_uri, join_uri, read_bytes
from latticenas.ensemble import bagged_selection, combine, link_for, scorer
from latticenas.evaluation import DIRECTIONS, is_better, task_metrics, truth
from latticenas.importance import FeatureImportance, model_importance, write_importance

log = logging.getLogger(__name__)

FINAL = "final"
RECORD = "final.json"
MAX_CANDIDATES = 20  # the best trials considered for the ensemble
FORMAT = "latticenas-final/1"


@dataclass(frozen=True)
class Candidate:
    """A finished trial: its name, its output location (local or gs://) and objective value."""

    name: str
    output: str
    objective: float


@dataclass(frozen=True)
class FinalModel:
    directory: str
    kind: str  # "ensemble" | "single"
    metric: str  # the bare selection metric, e.g. rmse
    members: list[dict]  # [{"trial": name, "weight": w}]
    val_metrics: dict[str, float]
    best_trial: str
    best_trial_val_metrics: dict[str, float]
    test_metrics: dict[str, float] | None = None
    best_trial_test_metrics: dict[str, float] | None = None
    baseline: dict | None = None  # BaselineResult.to_dict()
    importance: dict | None = None  # FeatureImportance.to_dict() on the validation rows
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": FORMAT, **{k: getattr(self, k) for k in self.__dataclass_fields__}}

    @classmethod
    def from_dict(cls, data: dict) -> FinalModel:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def feature_importance(self) -> FeatureImportance | None:
        """The final model's permutation importance on the validation rows, typed."""
        return FeatureImportance.from_dict(self.importance) if self.importance else None

    def lines(self) -> list[str]:
        """The terminal summary: the final model, its test score, the baseline beside it."""
        m = self.metric
        what = (f"ensemble of {len(self.members)} trials ({_weights_text(self.members)})"
                if self.kind == "ensemble" else f"the best trial, {self.best_trial}")
        out = [f"final model: {what}"]
        out.append(f"  validation {m}: final {_fmt(self.val_metrics.get(m))}, best trial {_fmt(self.best_trial_val_metrics.get(m))}"
                   + (f", {self.baseline['name']} {_fmt(self.baseline['val_metrics'].get(m))}" if self.baseline else ""))
        if self.test_metrics:
            base = self.baseline and self.baseline.get("test_metrics")
            ratio = ""
            if base and base.get(m):
                ratio = f"  (final / baseline = {self.test_metrics[m] / base[m]:.3f})"
            out.append(f"  test {m}:       final {_fmt(self.test_metrics.get(m))}, best trial {_fmt((self.best_trial_test_metrics or {}).get(m))}"
                       + (f", {self.baseline['name']} {_fmt(base.get(m))}" if base else "") + ratio)
        if self.importance:
            out.append("  " + self.feature_importance.line())
        out.append(f"  model: {self.directory}/{layout.MODEL}  (latticenas predict --model {self.directory} --data FILE)")
        return out


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.5g}"


def _weights_text(members: list[dict]) -> str:
    return ", ".join(f"{m['trial']} {m['weight']:.2f}" for m in sorted(members, key=lambda m: -m["weight"]))


def objective_metric(objective: str, task: Task) -> str:
    """The bare metric the selection optimizes: the objective's if it is a validation metric."""
    bare = objective.removeprefix("val-")
    if bare in DIRECTIONS and objective.startswith("val-"):
        if (task is Task.REGRESSION) == (bare in ("rmse", "rmsle", "mae", "r2")):
            return bare
    return "rmse" if task is Task.REGRESSION else "logloss"


def build_final(
    candidates: Sequence[Candidate], objective: str, directory: str | Path, *, baseline: bool = True,
    dataset: Dataset | None = None,
) -> FinalModel | None:
    """Select, fuse, test and write the final model (see the module doc); None without candidates."""
    started = time.perf_counter()
    loaded = [(c, preds) for c in candidates[:MAX_CANDIDATES] if (preds := _val_predictions(c)) is not None]
    if not loaded:
        log.warning("no finished trial saved validation predictions; no final model")
        return None
    best = loaded[0][0]
    config = _trial_config(best)
    dataset = dataset or _load(config)
    schema = dataset.schema
    contract = json.loads(read_bytes(join_uri(best.output, layout.BEST, layout.PREPROCESSING)))
    log_target = bool((contract.get("target_transform") or {}).get("log"))
    link = link_for(schema.task, log_target)
    metric = objective_metric(objective, schema.task)
    y_val = truth(dataset.val, schema)
    rows = dataset.val.index.to_numpy()
    usable = [(c, p) for c, (r, p) in loaded if len(r) == len(rows) and np.array_equal(r, rows)]
    if not usable:
        log.warning("the trials' validation rows differ from the data's; no final model")
        return None
    score = scorer(schema.task, metric, y_val, len(schema.classes or ()))
    counts = [round(w, 6) for w in bagged_selection([p for _, p in usable], score, metric, link)]
    chosen = [(c, n) for (c, _), n in zip(usable, counts) if n > 0]
    ensemble_pred = combine([p for (_, p), n in zip(usable, counts) if n > 0], [n for n in counts if n > 0], link)
    single_metrics = _all_metrics(schema, y_val, usable[0][1])
    ensemble_metrics = _all_metrics(schema, y_val, ensemble_pred)
    use_ensemble = len(chosen) > 1 and is_better(metric, ensemble_metrics[metric], single_metrics[metric])
    if not use_ensemble:
        chosen = [(usable[0][0], 1)]
    directory = Path(directory)
    _write_model(directory, [c for c, _ in chosen], [n for _, n in chosen], link, best)
    final = FinalModel(
        directory=str(directory), kind="ensemble" if use_ensemble else "single", metric=metric,
        members=[{"trial": c.name, "weight": n} for c, n in chosen],
        val_metrics=ensemble_metrics if use_ensemble else single_metrics,
        best_trial=best.name, best_trial_val_metrics=single_metrics,
    )
    from latticenas.predict import Predictor

    written = Predictor.load(final.directory)  # the written model, loaded once as a user loads it
    final = _with_test(final, dataset, best, written)
    final = _with_importance(final, dataset, written)
    if baseline:
        final = _with_baseline(final, dataset, config)
    final = FinalModel(**{**final.__dict__, "seconds": round(time.perf_counter() - started, 3)})
    (directory / RECORD).write_text(json.dumps(final.to_dict(), indent=2, default=float) + "\n")
    return final


def load_final(directory: str | Path) -> FinalModel | None:
    path = Path(directory) / RECORD
    if not path.is_file():
        return None
    return FinalModel.from_dict(json.loads(path.read_text()))


# ----------------------------------------------------------------------------- the pieces


def _val_predictions(candidate: Candidate):
    uri = join_uri(candidate.output, layout.VAL_PREDICTIONS)
    if not exists(uri) or not exists(join_uri(candidate.output, layout.BEST, layout.MODEL)):
        return None
    return layout.read_val_predictions(read_bytes(uri).decode("utf-8"))


def _trial_config(candidate: Candidate):
    from latticenas.params import ParameterSet
    from latticenas.trial import TrialConfig

    record = json.loads(read_bytes(join_uri(candidate.output, layout.PARAMS)))
    fields = {k: record[k] for k in ("data", "target", "task", "objective", "output_dir", "val_fraction",
                                      "test_fraction", "log_target")}
    return TrialConfig(**fields, drop_columns=tuple(record["drop_columns"]),
                       allow_leakage=tuple(record["allow_leakage"]),
                       params=ParameterSet.from_mapping(record["parameters"]))


def _load(config) -> Dataset:
    from latticenas.trial import load_trial_data

    return load_trial_data(config)


def _all_metrics(schema, y_true, predictions) -> dict[str, float]:
    return task_metrics(schema.task, y_true, predictions, len(schema.classes or ()))


def _write_model(directory: Path, members: Sequence[Candidate], weights: Sequence[int], link: str, best: Candidate) -> None:
    """final/model.keras (fused when several members) + the best trial's contract and picture."""
    import keras

    import latticenas.arch.keras_layers  # noqa: F401  (registers the custom layers)
    import latticenas.optimizer  # noqa: F401  (the optimizer saved with a trained model)
    from latticenas.ensemble import fuse

    staging = Path(tempfile.mkdtemp(prefix=".final.", dir=directory.parent if directory.parent.exists() else None))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            models = [keras.models.load_model(_local_copy(join_uri(m.output, layout.BEST, layout.MODEL), tmp, i))
                      for i, m in enumerate(members)]
            model = fuse(models, list(weights), link, name="final_ensemble")
            model.save(staging / layout.MODEL)
        for name in (layout.PREPROCESSING, layout.SPEC, layout.DIAGRAM):
            uri = join_uri(best.output, layout.BEST, name)
            if exists(uri):
                (staging / name).write_bytes(read_bytes(uri))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _local_copy(uri: str, tmp: str, i: int) -> str:
    if not is_gcs_uri(uri):
        return uri
    path = Path(tmp) / f"member_{i}.keras"
    path.write_bytes(read_bytes(uri))
    return str(path)


def _with_test(final: FinalModel, dataset: Dataset, best: Candidate, written) -> FinalModel:
    if dataset.test.empty:
        return final
    from latticenas.predict import Predictor

    y_test = truth(dataset.test, dataset.schema)
    test = _all_metrics(dataset.schema, y_test, written.predict(dataset.test))
    best_test = test
    if final.kind == "ensemble":
        with tempfile.TemporaryDirectory() as tmp:
            for name in (layout.MODEL, layout.PREPROCESSING):
                Path(tmp, name).write_bytes(read_bytes(join_uri(best.output, layout.BEST, name)))
            best_test = _all_metrics(dataset.schema, y_test, Predictor.load(tmp).predict(dataset.test))
    return FinalModel(**{**final.__dict__, "test_metrics": test, "best_trial_test_metrics": best_test})


def _with_importance(final: FinalModel, dataset: Dataset, written) -> FinalModel:
    """Permutation importance of the written final model (``written``, its Predictor) on the
    validation rows, stored in the record and as ``importance.*`` files beside the model."""
    importance = model_importance(written, dataset.val, final.metric)
    write_importance(importance, final.directory)
    return FinalModel(**{**final.__dict__, "importance": importance.to_dict()})


def _with_baseline(final: FinalModel, dataset: Dataset, config) -> FinalModel:
    from latticenas.baseline import run_baseline
    from latticenas.errors import LatticeNASError

    try:
        result = run_baseline(dataset, log_target=config.log_target, seed=config.params.seed)
    except LatticeNASError as exc:
        log.warning("no baseline: %s", exc)
        return final
    return FinalModel(**{**final.__dict__, "baseline": result.to_dict()})
