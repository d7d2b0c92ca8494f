"""Compile, run locally, or submit the Kubeflow pipeline (:mod:`latticenas.pipeline.definition`).

* :func:`pipeline_function` is the pipeline with the checkout's ``search_spaces/ames.yaml``
  inlined as the default search space (one line of JSON, which is YAML: kfp copies defaults
  into a comment header of the compiled file, where a multi-line text would break the YAML).
* :func:`compile_pipeline` writes the pipeline YAML (default: the committed
  ``pipelines/latticenas_pipeline.yaml``, runtime ``accelerator`` parameter; or the
  compile-time variant for one accelerator). The output depends only on the sources, the kfp
  version and the image references (``LATTICENAS_REGISTRY``/``LATTICENAS_TAG``; the committed
  file uses the defaults), so a fresh compilation equals the committed file.
* :func:`run_local` runs the whole pipeline (:class:`~latticenas.pipeline.parameters.PipelineParameters`)
  on this machine with kfp.local's
  ``SubprocessRunner`` (each step a subprocess of this Python, no containers), the ``local``
  search backend and the ``cpu`` variant; every artifact lands under
  ``<work_dir>/kfp/<run>/<step>/``. It returns a :class:`LocalRun` with the leaderboard,
  diagram, model and registration paths.
* :func:`submit` uploads a compiled pipeline to a Kubeflow Pipelines endpoint and starts a run
  (``kfp.Client(host=...).create_run_from_pipeline_package``).

The pipeline and its components are part of the package (``latticenas.pipeline.definition``,
``latticenas.pipeline.components``); only the committed YAML and the default search space are
files of the checkout, which :func:`repo_root` finds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latticenas.extras import require
from latticenas.errors import LatticeNASError, remote_reason
from latticenas.pipeline.parameters import PipelineParameters

log = logging.getLogger(__name__)

COMPILED_FILE = Path("pipelines") / "latticenas_pipeline.yaml"
DEFAULT_SPACE = Path("search_spaces") / "ames.yaml"
DEFAULT_SERVICE_ACCOUNT = "latticenas-pipeline"

__all__ = ["LocalRun", "compile_pipeline", "pipeline_function", "repo_root", "run_local", "submit"]


def repo_root() -> Path:
    """The checkout holding ``pipelines/`` and ``search_spaces/`` (this source's, else the cwd's)."""
    for candidate in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (candidate / COMPILED_FILE.parent).is_dir() and (candidate / DEFAULT_SPACE).is_file():
            return candidate
    raise LatticeNASError(
        f"the pipeline's default search space ({DEFAULT_SPACE}) is not here: run this from a latticenas "
        "checkout, or pass the search space"
    )


def pipeline_function(accelerator: str | None = None, search_space: str | None = None):
    """The pipeline (runtime ``accelerator`` parameter), or its variant for one accelerator;
    ``search_space`` (YAML text) is its default search space (default: the checkout's Ames space)."""
    import yaml

    from latticenas.pipeline.definition import build_pipeline

    text = read_search_space(None) if search_space is None else search_space
    return build_pipeline(accelerator, json.dumps(yaml.safe_load(text)))


def compile_pipeline(path: str | Path | None = None, accelerator: str | None = None) -> Path:
    """Compile the pipeline to ``path`` (default: the committed YAML); returns the path."""
    require("kfp")
    from kfp import compiler

    target = Path(path) if path is not None else repo_root() / COMPILED_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_function(accelerator), str(target))
    return target


# ------------------------------------------------------------------------------ local runs


@dataclass(frozen=True)
class LocalRun:
    """Where a local run put its results."""

    run_dir: Path
    leaderboard: Path  # HTML: summary, progress plot, leaderboard, best trial, network
    summary: Path  # Markdown
    diagram: Path  # HTML: the best network
    progress_plot: Path  # PNG
    leaderboard_table: Path  # CSV
    model_dir: Path
    registration: dict[str, Any]
    final_model: Path | None = None  # JSON: the aggregate step's choice (ensemble or single)

    @property
    def registered_uri(self) -> str:
        return self.registration["uri"]

    @property
    def version(self) -> str:
        return self.registration["version"]


def read_search_space(search_space: str | Path | None) -> str:
    """A search space for the pipeline: the file's text (default: the Ames space), or a
    ``gs://`` URI / YAML text passed through."""
    if search_space is None:
        return (repo_root() / DEFAULT_SPACE).read_text(encoding="utf-8")
    text = str(search_space)
    if text.startswith("gs://") or "\n" in text:
        return text
    path = Path(text)
    if not path.is_file():
        raise LatticeNASError(f"search space {text}: no such file; pass a search-space YAML")
    return path.read_text(encoding="utf-8")


def run_local(parameters: PipelineParameters | None = None, *, work_dir: str | Path = "runs/pipeline",
              **values: Any) -> LocalRun:
    """Run the whole pipeline here (see the module docstring) with ``parameters`` (or a
    :class:`~latticenas.pipeline.parameters.PipelineParameters` of ``values``). The search runs
    on the ``local`` backend and the ``cpu`` variant; an empty ``registry_target`` is
    ``<work_dir>/registry``, an empty ``search_space`` the checkout's Ames space, and a
    ``search_space`` that names a file is read."""
    require("kfp")
    from kfp import local

    parameters = parameters if parameters is not None else PipelineParameters(**values)
    _import_kfp_local()
    work_dir = Path(work_dir).resolve()
    pipeline_root = work_dir / "kfp"
    pipeline_root.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in pipeline_root.iterdir()}
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    arguments = {**parameters.arguments(exclude=("accelerator",)), "search_backend": "local",
                 "registry_target": parameters.registry_target or str(work_dir / "registry"),
                 "search_space": read_search_space(parameters.search_space or None)}
    pipeline = pipeline_function("cpu")
    try:
        pipeline(**arguments)
    except RuntimeError as exc:
        raise LatticeNASError(f"the local pipeline run failed: {exc} (the step's log is above)") from None
    runs = sorted((p for p in pipeline_root.iterdir() if p.is_dir() and p.name not in before),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise LatticeNASError(f"the local pipeline run left nothing under {pipeline_root}")
    return collect_local_run(runs[-1])


def _import_kfp_local() -> None:
    """Import kfp.local's task dispatcher, which imports ``docker`` if it can. When Python runs
    from the repository root (``python -m``, ``python -c``), the checkout's ``docker/`` folder
    (Dockerfiles) passes for that package and breaks kfp.local: say so, with the way out."""
    try:
        require("kfp")
        import kfp.local.task_dispatcher  # noqa: F401
    except AttributeError as exc:
        if "docker" not in str(exc):
            raise
        raise LatticeNASError(
            "kfp.local took this checkout's docker/ folder for the `docker` package (Python runs from the "
            "repository root): run the `latticenas` command, or Python from another directory"
        ) from exc


def _step_dir(run_dir: Path, step: str) -> Path:
    found = sorted(p for p in run_dir.iterdir() if p.is_dir() and (p.name == step or p.name.startswith(step + "-")))
    if len(found) != 1:
        raise LatticeNASError(f"{run_dir}: expected one {step} step, found {[p.name for p in found]}")
    return found[0]


def collect_local_run(run_dir: str | Path) -> LocalRun:
    """The results of a local run directory (``<pipeline root>/<run>``)."""
    run_dir = Path(run_dir)
    aggregate, retrain, register = (_step_dir(run_dir, s) for s in ("aggregate", "retrain-best", "register"))
    return LocalRun(
        run_dir=run_dir,
        leaderboard=aggregate / "leaderboard",
        summary=aggregate / "summary",
        diagram=aggregate / "diagram",
        progress_plot=aggregate / "progress_plot",
        leaderboard_table=aggregate / "leaderboard_table",
        model_dir=retrain / "model",
        registration=json.loads((register / "registration").read_text()),
        final_model=aggregate / "final_model",
    )


# ------------------------------------------------------------------------------ submitting

_CASTS = {"STRING": str, "NUMBER_INTEGER": int, "NUMBER_DOUBLE": float}


def typed_arguments(package: str | Path, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` checked against the compiled pipeline's parameters and converted to their
    types (``"7"`` -> 7 for an integer parameter); LatticeNASError for an unknown name or a
    value that does not convert."""
    import yaml

    with open(package, encoding="utf-8") as handle:
        spec = next(yaml.safe_load_all(handle))
    declared = spec["root"]["inputDefinitions"]["parameters"]
    out = {}
    for name, value in arguments.items():
        if name not in declared:
            raise LatticeNASError(f"the pipeline has no parameter {name!r}; its parameters: {', '.join(sorted(declared))}")
        kind = declared[name]["parameterType"]
        cast = _CASTS.get(kind)
        if kind == "BOOLEAN":
            cast = lambda v: v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes")  # noqa: E731
        try:
            out[name] = cast(value) if cast else value
        except (TypeError, ValueError):
            wanted = {"NUMBER_INTEGER": "an integer", "NUMBER_DOUBLE": "a number"}.get(kind, kind.lower())
            raise LatticeNASError(f"parameter {name}: {value!r} is not {wanted}") from None
    return out



def submit(
    host: str,
    arguments: PipelineParameters | Mapping[str, Any] | None = None,
    *,
    package_path: str | Path | None = None,
    run_name: str | None = None,
    experiment_name: str | None = None,
    namespace: str | None = None,
    service_account: str | None = DEFAULT_SERVICE_ACCOUNT,
    client=None,
) -> str:
    """Start a run of the compiled pipeline on the KFP endpoint ``host``; returns the run id.

    ``arguments``: :class:`~latticenas.pipeline.parameters.PipelineParameters`, or some
    parameters by name (the others keep the pipeline's defaults). ``package_path`` defaults to
    the committed YAML; ``service_account`` is the one
    ``manifests/rbac/`` creates (None: the namespace's default).
    """
    package = Path(package_path) if package_path is not None else repo_root() / COMPILED_FILE
    if not package.is_file():
        raise LatticeNASError(f"{package}: no compiled pipeline; run `latticenas pipeline compile` first")
    if isinstance(arguments, PipelineParameters):
        arguments = arguments.arguments()
    arguments = typed_arguments(package, arguments or {})
    PipelineParameters.from_mapping(arguments)  # a bad value (task, fraction, time budget) fails here, not in the run
    if client is None:
        require("kfp")
        _check_endpoint(host)
    try:
        if client is None:
            import kfp

            with _quiet_kfp_client():
                client = kfp.Client(host=host, **({"namespace": namespace} if namespace else {}))
        result = client.create_run_from_pipeline_package(
            str(package), arguments=arguments, run_name=run_name, experiment_name=experiment_name,
            namespace=namespace, service_account=service_account,
        )
    except _endpoint_errors() as exc:
        raise _submit_error(host, exc) from None
    return str(result.run_id)


def _check_endpoint(host: str) -> None:
    """Fail fast, in one line, where ``host`` is not a Kubeflow Pipelines API: nothing answers,
    or its health endpoint does not exist (kfp's client would retry for 25 s, logging
    tracebacks). Other answers (401, 403: credentials the client may still supply) pass."""
    import urllib.error
    import urllib.request

    url = f"{host.rstrip('/')}/apis/v2beta1/healthz"
    if "://" not in host:
        url = f"http://{url}"
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            exc.body = exc.read()
            raise _submit_error(host, exc) from None
    except (urllib.error.URLError, OSError) as exc:
        raise _submit_error(host, exc) from None


def _submit_error(host: str, exc: BaseException) -> LatticeNASError:
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    return LatticeNASError(
        f"submitting the run to Kubeflow Pipelines at {host} failed "
        f"({f'HTTP {status}' if status else type(exc).__name__}: {remote_reason(exc)}); check --host (the "
        "ml-pipeline-ui address, e.g. after `kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`), "
        "--namespace and your credentials"
    )


@contextmanager
def _quiet_kfp_client():
    """kfp.Client warns that it needs KFP >= 2.0.0-beta.2 and logs each failed health check
    with its traceback; the outcome is reported once, as an ``error:`` line."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        logging.disable(logging.CRITICAL)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def _endpoint_errors() -> tuple[type[BaseException], ...]:
    """What the KFP client raises for the endpoint's answers and for the connection; anything
    else is a programming error and keeps its traceback."""
    from urllib3.exceptions import HTTPError

    try:
        from kfp_server_api.exceptions import ApiException
    except ImportError:  # kfp not installed: a client was given
        return (HTTPError, ConnectionError, TimeoutError)
    return (ApiException, HTTPError, ConnectionError, TimeoutError)
