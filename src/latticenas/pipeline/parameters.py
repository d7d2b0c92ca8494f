"""The pipeline's parameters, defined once: :class:`PipelineParameters`.

Everything that names them reads this definition: both pipeline variants get their KFP
signature from :func:`pipeline_signature` (``latticenas.pipeline.definition``), ``latticenas
pipeline run|submit`` their option defaults and help (:mod:`latticenas.pipeline.cli`),
:func:`latticenas.pipeline.run_local` and :func:`~latticenas.pipeline.submit` their arguments,
``docs/pipeline.md`` its table (:func:`markdown_table`, checked by a test), and the notebook's
``pipeline-parameters`` cell its values (checked by a test; Kale needs literals there).

Values are checked at construction (:meth:`PipelineParameters.__post_init__`): a
:class:`~latticenas.errors.ParameterError` names the parameter, the value and what it takes
(for ``search_backend`` ``mop``, also what its search step refuses:
:func:`latticenas.pipeline.mop_backend.check_mop_backend`).
``registry_target`` has no default in the pipeline (KFP asks for it); here it may stay empty
until a run needs it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from latticenas.errors import ParameterError
from latticenas.mop_search import check_scheduler
from latticenas.pipeline.mop_backend import check_mop_backend
from latticenas.pipeline.placement import ACCELERATORS
from latticenas.runner.timebudget import parse_time_budget

BACKENDS = ("katib", "local", "mop")
TASKS = ("auto", "regression", "binary", "multiclass")
REQUIRED = ("registry_target",)  # no default in the compiled pipeline


def _p(default, help: str, shown: str | None = None):
    """A parameter: its default, what it means, and how the docs show the default."""
    return field(default=default, metadata={"help": help, "shown": shown})


@dataclass(frozen=True)
class PipelineParameters:
    """The parameters of one pipeline run (see the module doc)."""

    registry_target: str = _p("", "model registry: a directory or `gs://bucket/prefix`", "(required)")
    data_uri: str = _p("example:ames", "the table: a CSV/Parquet path, `gs://` URI or `example:ames`")
    target: str = _p("price", "the target column")
    task: str = _p("auto", "`auto`, `regression`, `binary` or `multiclass`")
    drop_columns: str = _p("Order,PID", "comma-separated columns that are not features")
    allow_leakage: str = _p("", "comma-separated columns allowed to mirror the target")
    val_fraction: float = _p(0.15, "validation share of the content-hash split")
    test_fraction: float = _p(0.15, "test share of the content-hash split")
    search_space: str = _p("", "a search-space file's YAML (or JSON) text, or its `gs://` URI "
                               "(format: `docs/search-space.md`)", "`search_spaces/ames.yaml` inlined")
    algorithm: str = _p("random", "the Katib algorithm")
    max_trials: int = _p(0, "the trial budget; 0 keeps the search space's")
    parallel_trials: int = _p(0, "trials at a time; 0 keeps the search space's")
    search_backend: str = _p("katib", "`katib` (a Katib Experiment), `local` (the local runner inside the search pod) "
                                      "or `mop` (Model Hopper Parallelism on a Dask cluster, `docs/mop.md`)")
    katib_namespace: str = _p("", "where the Experiment is created", "the run's namespace")
    trial_output_root: str = _p("", "`gs://` prefix the trials write to (required for `katib`); for `mop`, where "
                                    "the partitions go (required with `mop_scheduler`)")
    trial_service_account: str = _p("", "service account of the trial pods", "the namespace default")
    mop_scheduler: str = _p("", "`mop`: the Dask scheduler, `tcp://HOST:PORT` (empty: a LocalCluster of "
                                "`parallel_trials` worker processes in the search pod)")
    mop_partitions: int = _p(0, "`mop`: training partitions of the search table (0: one per Dask worker)")
    search_timeout_s: int = _p(86400, "how long the search step waits for the Experiment, in seconds")
    time_budget: str = _p("", "wall-clock budget of the search, e.g. `90m`, `2h`; at the deadline the search step "
                              "stops the Experiment and keeps the trials that finished (empty: none; `mop` takes none)")
    accelerator: str = _p("cpu", "`cpu`, `gpu` or `tpu`")
    seed: int = _p(0, "seed of the retrain")
    model_name: str = _p("latticenas", "the registered model's name")
    model_registry_address: str = _p("", "the Kubeflow Model Registry address, if any")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), _TYPES[f.type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif isinstance(value, bool) or not isinstance(value, kind):
                raise ParameterError(f"pipeline parameter {f.name}: expected {f.type}, got {value!r}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ParameterError(f"pipeline parameter {name}: must be in [0, 1), got {getattr(self, name)!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ParameterError(f"pipeline parameters val_fraction + test_fraction must stay below 1, got "
                                 f"{self.val_fraction} + {self.test_fraction}")
        for name in ("max_trials", "parallel_trials", "mop_partitions", "search_timeout_s", "seed"):
            if getattr(self, name) < 0:
                raise ParameterError(f"pipeline parameter {name}: must be >= 0, got {getattr(self, name)!r}")
        if self.time_budget:
            parse_time_budget(self.time_budget)  # one message for a duration that is not one
        if self.mop_scheduler:
            check_scheduler(self.mop_scheduler, "pipeline parameter mop_scheduler")
        for name, allowed in (("task", TASKS), ("search_backend", BACKENDS), ("accelerator", ACCELERATORS)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"pipeline parameter {name}: one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.search_backend == "mop":  # what the search step would refuse, refused before the run
            check_mop_backend(scheduler=self.mop_scheduler, partitions=self.mop_partitions,
                              trial_output_root=self.trial_output_root, time_budget=self.time_budget)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PipelineParameters:
        """From names and values (e.g. ``--param`` pairs); an unknown name is refused."""
        unknown = sorted(set(values) - set(names()))
        if unknown:
            raise ParameterError(f"the pipeline has no parameter {unknown[0]!r}; its parameters: {', '.join(names())}")
        return cls(**values)

    def arguments(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Name -> value for a pipeline run (an empty ``search_space``: the pipeline's default)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in exclude}
        if not out.get("search_space", True):
            del out["search_space"]
        return out


_TYPES = {"str": str, "int": int, "float": float}  # the annotations, as text (postponed evaluation)


def names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(PipelineParameters))


def default(name: str) -> Any:
    return next(f.default for f in dataclasses.fields(PipelineParameters) if f.name == name)


def help_text(name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(PipelineParameters) if f.name == name)


def pipeline_signature(exclude: tuple[str, ...] = (), defaults: Mapping[str, Any] | None = None) -> inspect.Signature:
    """The KFP pipeline function's signature: every parameter (but ``exclude``) with its type
    and default (``defaults`` replaces some), the :data:`REQUIRED` ones first, without one."""
    defaults = dict(defaults or {})
    fields = [f for f in dataclasses.fields(PipelineParameters) if f.name not in exclude]
    fields.sort(key=lambda f: f.name not in REQUIRED)
    return inspect.Signature([
        inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_TYPES[f.type],
                          default=inspect.Parameter.empty if f.name in REQUIRED else defaults.get(f.name, f.default))
        for f in fields
    ])


def pipeline_docstring(summary: str, exclude: tuple[str, ...] = ()) -> str:
    """``summary`` and an ``Args:`` section (KFP shows it as each parameter's description)."""
    lines = [summary, "", "Args:"]
    lines += [f"    {f.name}: {f.metadata['help'].replace('`', '')}" for f in dataclasses.fields(PipelineParameters)
              if f.name not in exclude]
    return "\n".join(lines)


def markdown_table() -> str:
    """The docs' parameter table (``docs/pipeline.md``)."""
    rows = ["| parameter | type | default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(PipelineParameters):
        shown = f.metadata["shown"] or (f"`{f.default}`" if f.default != "" else "empty")
        rows.append(f"| `{f.name}` | {f.type} | {shown} | {f.metadata['help']} |")
    return "\n".join(rows)
