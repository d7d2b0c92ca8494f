"""The Python API, re-exported from ``latticenas``: :func:`search`, :class:`SearchResult`,
:func:`load`.

>>> import latticenas                                                      # doctest: +SKIP
>>> result = latticenas.search("example:ames", target="price", drop_columns=["Order", "PID"],
...                            time_budget="5m")                           # doctest: +SKIP
>>> result.model.predict(houses)                                           # doctest: +SKIP

:func:`search` is what ``latticenas search`` runs: it plans the Katib Experiment
(:mod:`latticenas.search_plan`: the data are checked before any trial starts), runs it with the
local runner (:func:`latticenas.runner.session.run_experiment`: trials, then the final model
and the HistGradientBoosting baseline) and returns the typed result read back from the
experiment directory. A DataFrame is first written to ``<directory>/data.csv``; the same call
on the same directory resumes. Bad input raises :class:`~latticenas.errors.LatticeNASError`.

``backend="mop"`` trains the Experiment's ``max_trials`` models by Model Hopper Parallelism on
a Dask cluster instead (:func:`latticenas.mop_search.run_mop_search`: the searched parameters
fixed, one lattice a model; ``scheduler`` or a LocalCluster of ``local_workers`` processes,
default ``parallel``; ``partitions``, default one per worker; ``partition_root``), then builds
the same final model, baseline and report
(:func:`latticenas.runner.session.finish_recorded`). It takes no time budget and does not
resume: a directory holding a run is refused.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latticenas.errors import LatticeNASError
from latticenas.mop_search import check_request, run_mop_search
from latticenas.runner.session import finish_recorded
from latticenas.search_report import REPORT

if TYPE_CHECKING:
    import pandas as pd

    from latticenas.baseline import BaselineResult
    from latticenas.final import FinalModel
    from latticenas.predict import Predictor
    from latticenas.runner.orchestrator import ExperimentStatus

DATA_FILE = "data.csv"
BACKENDS = ("local", "mop")


@dataclass(frozen=True)
class SearchResult:
    """What a search left in ``experiment_dir``, read back as typed records."""

    experiment_dir: Path
    status: ExperimentStatus  # Succeeded, Failed, Interrupted, ...
    reason: str  # why it ended, e.g. ExperimentMaxTrialsReached, ExperimentTimeBudgetReached
    leaderboard: pd.DataFrame = field(compare=False, repr=False)
    final: FinalModel | None = None
    baseline: BaselineResult | None = None
    report_path: Path | None = None
    model_dir: Path | None = None  # final/, or best/ when no final model was built

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded" and self.model_dir is not None  # ExperimentStatus.SUCCEEDED

    @cached_property
    def model(self) -> Predictor:
        """The final model (loaded on first use): ``.predict(df)``, ``.save(path)``."""
        if self.model_dir is None:
            raise LatticeNASError(
                f"{self.experiment_dir}: no model yet (no trial finished); run the same search "
                "again, with a larger time budget, to continue"
            )
        from latticenas.predict import Predictor

        return Predictor.load(self.model_dir)

    @classmethod
    def from_directory(cls, directory: str | Path) -> SearchResult:
        import pandas as pd

        from latticenas.baseline import BaselineResult
        from latticenas.final import FINAL, load_final
        from latticenas.runner.orchestrator import ExperimentStatus
        from latticenas.runner.state import ExperimentStore

        directory = Path(directory)
        store = ExperimentStore.open_existing(directory)
        try:
            row = store.experiment() or {}
        finally:
            store.close()
        board = directory / "leaderboard.csv"
        final = load_final(directory / FINAL)
        baseline = BaselineResult.from_dict(final.baseline) if final and final.baseline else None
        report = directory / REPORT
        return cls(
            experiment_dir=directory, status=ExperimentStatus(row.get("status", "Created")),
            reason=str(row.get("reason", "")),
            leaderboard=pd.read_csv(board) if board.is_file() else pd.DataFrame(),
            final=final, baseline=baseline, report_path=report if report.is_file() else None,
            model_dir=_model_dir(directory),
        )


def _model_dir(directory: Path) -> Path | None:
    from latticenas import artifacts as layout
    from latticenas.final import FINAL

    for candidate in (directory / FINAL, directory / layout.BEST):
        if (candidate / layout.MODEL).is_file():
            return candidate
    return None


def search(
    data: str | Path | pd.DataFrame,
    target: str,
    *,
    task: str = "auto",
    drop_columns: Iterable[str] = (),
    time_budget: str | float | None = None,
    max_trials: int | None = None,
    parallel: int | None = None,
    algorithm: str = "tpe",
    space: str | Path | None = None,
    directory: str | Path | None = None,
    seed: int | None = None,
    workers: str = "warm",
    backend: str = "local",
    scheduler: str | None = None,
    local_workers: int | None = None,
    partitions: int | None = None,
    partition_root: str | None = None,
) -> SearchResult:
    """Search ``data`` for a model of ``target`` on this machine; see the module doc.

    ``data``: a CSV/Parquet path, ``gs://`` URI, ``example:NAME`` or a DataFrame.
    ``time_budget``: seconds or ``"90s"``, ``"10m"``, ``"1h"``. ``directory`` defaults to
    ``experiments/<experiment name>`` (``experiments/data-tpe`` for a DataFrame).
    ``workers``: ``"warm"`` (trials in warm workers that import TensorFlow once) or ``"process"``.
    ``backend``: ``"local"`` or ``"mop"`` (the module doc; ``scheduler``, ``local_workers``,
    ``partitions`` and ``partition_root`` are its options).
    """
    from latticenas.runner.session import run_experiment
    from latticenas.runner.timebudget import TimeBudget
    from latticenas.search_plan import planned_name, plan_search

    _check_backend(backend, time_budget, {"scheduler": scheduler, "local_workers": local_workers,
                                          "partitions": partitions, "partition_root": partition_root})
    budget = TimeBudget.start(time_budget) if time_budget is not None else None
    setup = make_setup(data, target, task=task, drop_columns=drop_columns, timed=budget is not None,
                       max_trials=max_trials, parallel=parallel, algorithm=algorithm, space=space, seed=seed)
    directory = Path(directory) if directory is not None else Path("experiments") / planned_name(setup, backend)
    if not isinstance(data, (str, Path)):
        setup = _with_frame(setup, data, directory)
    plan = plan_search(setup)
    print(f"search: {plan.describe()}", file=sys.stderr)
    spec = plan.experiment["spec"]  # its budget, as overrides: nothing stored earlier shadows it
    parallel = min(setup.parallel or spec["parallelTrialCount"], spec["parallelTrialCount"])
    if backend == "mop":  # a LocalCluster of the parallel count, unless told otherwise
        print(f"search: by Model Hopper Parallelism, {spec['maxTrialCount']} models of one lattice each, "
              f"in {directory}", file=sys.stderr)
        run_mop_search(plan.experiment, directory, models=spec["maxTrialCount"], scheduler=scheduler,
                       local_workers=local_workers or (None if scheduler else parallel), partitions=partitions or 0,
                       partition_root=partition_root)
        print(finish_recorded(directory))  # the final model, the baseline, the report
    else:
        run_experiment(plan.experiment, directory, max_trials=spec["maxTrialCount"], parallel=parallel,
                       time_budget=budget, workers=workers)
    return SearchResult.from_directory(directory)


def _check_backend(backend: str, time_budget, mop: dict[str, Any]) -> None:
    """Refuse a backend that is not one, mop options without it, what MOP cannot run."""
    if backend not in BACKENDS:
        raise LatticeNASError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    given = [name for name, value in mop.items() if value is not None]
    if backend == "local" and given:
        raise LatticeNASError(f"{given[0]} is an option of the mop backend: add --backend mop (backend='mop')")
    if backend == "mop":
        check_request(scheduler=mop["scheduler"], partitions=mop["partitions"] or 0, time_budget=time_budget)


def make_setup(data: Any, target: str, *, drop_columns: Iterable[str] = (), space=None, **options):
    """A :class:`~latticenas.search_plan.SearchSetup`; a DataFrame stands as ``data.csv`` until
    it is written."""
    from latticenas.search_plan import SearchSetup

    if isinstance(drop_columns, str):
        drop_columns = [c for c in drop_columns.split(",")]
    uri = str(data) if isinstance(data, (str, Path)) else DATA_FILE
    return SearchSetup(data=uri, target=str(target), drop_columns=tuple(c.strip() for c in drop_columns if c.strip()),
                       space=None if space is None else str(space), **options)


def _with_frame(setup, frame, directory: Path):
    """Write the DataFrame to ``<directory>/data.csv`` (refusing to replace another table
    under a search that already ran) and point the setup at it."""
    from dataclasses import replace

    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise LatticeNASError(f"data must be a path, URI or pandas DataFrame, not {type(frame).__name__}")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    text = buffer.getvalue()
    path = directory / DATA_FILE
    if path.is_file() and path.read_text(encoding="utf-8") != text and (directory / "trials").is_dir():
        raise LatticeNASError(f"{directory} holds a search of another table ({path} differs); use another directory")
    directory.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return replace(setup, data=str(path))


def load(path: str | Path) -> Predictor:
    """A saved model: a directory with ``model.keras`` + ``preprocessing.json`` (a trial's
    ``best/``, an experiment's ``final/``, what ``Predictor.save`` wrote) or an experiment
    directory (its final model)."""
    from latticenas.predict import Predictor

    path = Path(path)
    model_dir = path if (path / "model.keras").is_file() else _model_dir(path)
    return Predictor.load(model_dir or path)
