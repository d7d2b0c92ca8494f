"""notebooks/latticenas_kale.ipynb: its Kale tags, a run top to bottom, its Kale conversion.

* The tags are Kale 2.x's language and well formed: one role per code cell, the five steps of
  the pipeline in its order, ``prev:`` naming earlier steps, a DAG whose ancestors are the
  pipeline's (``latticenas.pipeline.definition``, compiled here), literal parameters, a last
  ``pipeline-metrics`` cell of ``print(name)`` lines. Each step only uses names that Kale can
  hand it: its own, the imports/functions cells', the parameters, and its ancestors' (a name a
  step takes from a non-ancestor or a ``skip`` cell works in the notebook, not in a pipeline).
* Each step is one call of its namesake in ``latticenas.pipeline.steps`` (which the pipeline's
  component of that name calls too), a few lines, with library results read by attribute
  (typed records), never by ``[...]``.
* The notebook runs with nbclient in a kernel of this Python, on Ames with a tiny budget set in
  its parameters cell: the leaderboard and the network are shown, a model is registered, the
  metrics are printed.
* ``kale --nb`` (kubeflow-kale 2.3.0, in its own venv: conftest.py) converts it; the generated
  KFP v2 DSL compiles (``py_compile``; Kale's CLI also compiles it to pipeline YAML with its
  kfp), and the YAML has the five steps with the pipeline's dependencies, the step image and
  the parameters. Then the converted pipeline runs with ``kfp.local`` in a venv of latticenas
  plus Kale (what a Kale step image holds): every step in a fresh kernel, variables passed as
  Kale's marshalled artifacts.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import json
import math
import os
import re
import subprocess
import time
from importlib import import_module
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "latticenas_kale.ipynb"
STEPS = ("prepare_data", "search", "aggregate", "retrain_best", "register")
PIPELINE_NAME = "latticenas-kale"
ROLE_TAGS = ("imports", "functions", "pipeline-parameters", "pipeline-metrics", "skip")
STEP_NAME = re.compile(r"^[_a-z][_a-z0-9]*$")  # Kale's step:/prev: name rule
METRIC_LINE = re.compile(r"^print\(([a-z](?:[_a-z0-9]{0,62}[a-z0-9])?)\)$")  # Kale's metrics-cell rule
#: what the tests run: 2 trials of 1 network, 2 epochs, both trials at once
TINY = {"max_trials": 2, "parallel_trials": 2, "networks_per_trial": 1, "epochs": 2}
#: what a step cell may call beside its step function: showing results
OUTPUT_CALLS = ("display", "print")
#: most statements / lines of code a step cell has beside its imports and display/print calls
MOST_STATEMENTS, MOST_LINES = 4, 6


# ------------------------------------------------------------------------------ helpers


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def role(cell) -> str:
    """``imports`` ... ``skip``, or ``step:<name>``; fails on anything else."""
    tags = list(cell.metadata.get("tags", []))
    roles = [t for t in tags if t in ROLE_TAGS or t.startswith("step:")]
    assert len(roles) == 1, f"a code cell needs exactly one of {ROLE_TAGS} or step:<name>, has {tags}:\n{cell.source[:200]}"
    return roles[0]


def steps(nb) -> dict[str, dict]:
    """step name -> {"source", "prev"} in notebook order."""
    out: dict[str, dict] = {}
    for cell in code_cells(nb):
        kind = role(cell)
        if kind.startswith("step:"):
            prev = [t.split(":", 1)[1] for t in cell.metadata["tags"] if t.startswith("prev:")]
            out[kind.split(":", 1)[1]] = {"source": cell.source, "prev": prev}
    return out


def cells_of(nb, kind: str) -> list:
    return [c for c in code_cells(nb) if role(c) == kind]


def parameters(nb) -> dict[str, object]:
    (cell,) = cells_of(nb, "pipeline-parameters")
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), (
            f"Kale takes only `name = literal` lines in the parameters cell, not: {ast.unparse(node)}")
        assert isinstance(node.value, ast.Constant) and type(node.value.value) in (int, float, str, bool), (
            f"parameter {node.targets[0].id}: Kale takes int, float, str or bool literals only")
        values[node.targets[0].id] = node.value.value
    return values


def with_parameters(nb, **values):
    """The notebook with these parameter values written into its parameters cell."""
    (cell,) = cells_of(nb, "pipeline-parameters")
    lines = cell.source.splitlines()
    for node in ast.parse(cell.source).body:
        name = node.targets[0].id
        if name in values:
            assert node.end_lineno == node.lineno, f"parameter {name} spans lines"
            lines[node.lineno - 1] = f"{name} = {values.pop(name)!r}"
    assert not values, f"no such parameters: {sorted(values)}"
    cell.source = "\n".join(lines)
    return nb


def names(source: str) -> tuple[set[str], set[str]]:
    """(names the code binds, names it reads), over-approximated over the whole cell."""
    bound, read = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound, read


def closure(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """node -> every ancestor, from node -> direct predecessors."""
    def up(node: str, seen: set[str]) -> set[str]:
        for parent in edges.get(node, ()):
            if parent not in seen:
                seen.add(parent)
                up(parent, seen)
        return seen
    return {node: up(node, set()) for node in edges}


def pipeline_ancestors(tmp_path: Path) -> dict[str, set[str]]:
    """The latticenas pipeline's steps and their ancestors (cpu variant, compiled here)."""
    from kfp import compiler

    from latticenas.pipeline.build import pipeline_function

    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline_function("cpu"), str(path))
    tasks = next(yaml.safe_load_all(path.read_text()))["root"]["dag"]["tasks"]
    edges = {n.replace("-", "_"): {d.replace("-", "_") for d in t.get("dependentTasks", [])} for n, t in tasks.items()}
    return closure(edges)


def outputs_text(cell, mime: str) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and mime == "text/plain":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result") and mime in out.data:
            parts.append(out.data[mime])
    return "\n".join(parts)


# ------------------------------------------------------------------------------ the tags


def test_tags_are_kale_tags_and_steps_mirror_the_pipeline(tmp_path):
    nb = read_notebook()
    cells = code_cells(nb)
    for cell in cells:
        role(cell)
        for tag in cell.metadata.get("tags", []):
            name = tag.split(":", 1)[1] if tag.startswith(("step:", "prev:")) else None
            assert tag in ROLE_TAGS or (name is not None and STEP_NAME.match(name)), f"not a Kale tag: {tag!r}"
            if tag.startswith("prev:"):
                assert role(cell).startswith("step:"), f"prev: on a cell that is not a step: {cell.source[:80]}"

    found = steps(nb)
    assert tuple(found) == STEPS, "the steps, in notebook order, are the pipeline's"
    for position, (name, step) in enumerate(found.items()):
        for parent in step["prev"]:
            assert parent in STEPS[:position], f"step {name}: prev:{parent} is not an earlier step"
    assert all(found[name]["prev"] for name in STEPS[1:]), "every step after the first has a prev:"

    mine = closure({name: set(step["prev"]) for name, step in found.items()})
    assert mine == pipeline_ancestors(tmp_path), "each step's ancestors are those of the same step in the pipeline"

    assert [role(c) for c in cells[:2]] == ["imports", "functions"]
    assert role(cells[-1]) == "pipeline-metrics", "Kale wants the metrics cell last"
    params = parameters(nb)
    assert params["data_uri"] == "example:ames" and params["target"] == "price"
    assert params["max_trials"] <= 4 and params["epochs"] <= 10, "the default budget is small"


def test_every_step_uses_only_what_kale_can_hand_it():
    nb = read_notebook()
    shared = set()
    for kind in ("imports", "functions"):
        for cell in cells_of(nb, kind):
            shared |= names(cell.source)[0]
    params = set(parameters(nb))
    known = shared | params | set(dir(builtins))
    bound = {name: names(step["source"])[0] for name, step in steps(nb).items()}
    ancestors = closure({name: set(step["prev"]) for name, step in steps(nb).items()})
    for name, step in steps(nb).items():
        inherited = set().union(*(bound[a] for a in ancestors[name])) if ancestors[name] else set()
        missing = names(step["source"])[1] - bound[name] - known - inherited
        assert not missing, f"step {name} reads {sorted(missing)}, which neither it, the imports/functions cells, " \
                            "the parameters nor its ancestor steps define (in a pipeline it would be a NameError)"
        assert not (bound[name] & params), f"step {name} assigns a pipeline parameter: {sorted(bound[name] & params)}"

    (metrics,) = cells_of(nb, "pipeline-metrics")
    printed = [METRIC_LINE.match(line.strip()) for line in metrics.source.splitlines() if line.strip()]
    assert printed and all(printed), "the metrics cell holds print(<lowercase name>) lines only"
    for match in printed:
        assert any(match[1] in b for b in bound.values()), f"metric {match[1]} is assigned in no step"


def _is_output(node: ast.stmt) -> bool:
    call = node.value if isinstance(node, ast.Expr) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in OUTPUT_CALLS


def test_each_step_is_one_typed_call_of_a_few_lines():
    for name, step in steps(read_notebook()).items():
        tree = ast.parse(step["source"])
        imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert imports == ["from latticenas.pipeline import steps"], f"step {name} uses latticenas.pipeline.steps alone"
        called = [n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and isinstance(n.func.value, ast.Name) and n.func.value.id == "steps"]
        assert called == [name], f"step {name} calls steps.{name} once, and no other step function: {called}"
        subscripts = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Subscript)]
        assert not subscripts, f"step {name} reads typed records by attribute, not {subscripts}"
        work = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom)) and not _is_output(n)]
        lines = sum(n.end_lineno - n.lineno + 1 for n in work)
        assert len(work) <= MOST_STATEMENTS and lines <= MOST_LINES, \
            f"step {name}: {len(work)} statements in {lines} lines beside display/print; keep it a few"
        component = import_module(f"latticenas.pipeline.components.{name}")
        body = inspect.getsource(getattr(component, name).python_func)
        assert f"steps.{name}(" in body, f"the pipeline's {name} component calls steps.{name} too"


def test_kale_metadata_names_the_step_image(monkeypatch):
    from latticenas.images import image_ref

    monkeypatch.delenv("LATTICENAS_REGISTRY", raising=False)
    monkeypatch.delenv("LATTICENAS_TAG", raising=False)
    meta = read_notebook().metadata["kubeflow_notebook"]
    assert meta["pipeline_name"] == PIPELINE_NAME
    assert meta["base_image"] == image_ref("component")
    user = re.search(r"^USER (\d+):(\d+)$", (REPO / "docker" / "Dockerfile.component").read_text(), re.M)
    context = meta["security_context"]
    assert (str(context["run_as_user"]), str(context["run_as_group"])) == user.groups(), \
        "the steps run as the component image's user (it owns the venv Kale's pip install writes to)"


# ------------------------------------------------------------------------------ a run


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path, venv_kernel):
    from nbclient import NotebookClient

    work, registry = tmp_path / "work", tmp_path / "registry"
    nb = with_parameters(read_notebook(), work_dir=str(work), registry_target=str(registry),
                         search_space=str(REPO / "search_spaces" / "ames.yaml"), **TINY)
    started = time.monotonic()
    NotebookClient(nb, kernel_name=venv_kernel, timeout=900,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    print(f"notebook ran in {time.monotonic() - started:.0f}s")

    by_step = {role(c).split(":", 1)[1]: c for c in code_cells(nb) if role(c).startswith("step:")}
    command = (work / "search" / "experiment.yaml").read_text()  # the notebook's budget, not the space file's
    assert f"--epochs={TINY['epochs']}" in command and "--epochs=60" not in command
    assert f"--number_of_architecture_moities_to_try={TINY['networks_per_trial']}" in command
    leaderboard = (work / "report" / "leaderboard.csv").read_text().splitlines()
    assert len(leaderboard) == 1 + TINY["max_trials"] + 2  # the trials, the final model, the baseline
    shown = outputs_text(by_step["aggregate"], "text/html")
    assert "<table" in shown and "HistGradientBoosting baseline" in shown and "final (" in shown
    trials = [cell for row in leaderboard[1:] for cell in row.split(",") if re.match(r"^ames-random-\d{4}$", cell)]
    assert len(trials) == TINY["max_trials"]
    for trial in trials:
        assert trial in shown, f"leaderboard table lacks {trial}"
    assert "final model: " in outputs_text(by_step["aggregate"], "text/plain")
    assert "<svg" in outputs_text(by_step["aggregate"], "image/svg+xml")
    assert "<table" in outputs_text(by_step["retrain_best"], "text/html")

    version = registry / "models" / "latticenas-kale" / "v1"
    for name in ("model.keras", "spec.json", "metrics.json", "preprocessing.json", "lineage.json", "manifest.json"):
        assert (version / name).is_file(), f"registered model lacks {name}"
    assert (registry / "models" / "latticenas-kale" / "latest").read_text().strip() == "v1"
    assert f"registered latticenas-kale v1 at {version}" in outputs_text(by_step["register"], "text/plain")

    printed = outputs_text(code_cells(nb)[-1], "text/plain").split()
    test_objective, val_objective = (float(v) for v in printed)
    assert math.isfinite(test_objective) and test_objective > 0 and math.isfinite(val_objective)
    lineage = json.loads((version / "lineage.json").read_text())
    assert lineage["metrics"]["test-rmse"] == pytest.approx(test_objective)
    assert lineage["metrics"]["val-rmse"] == pytest.approx(val_objective)
    assert lineage["data_uri"] == "example:ames" and lineage["trial_name"].startswith("ames-random-")


# ------------------------------------------------------------------------------ Kale


@pytest.fixture(scope="session")
def converted(kale_venv, venv_seconds, tmp_path_factory) -> dict:
    """``kale --nb NOTEBOOK --output_path kale --pipeline_name latticenas-kale``, run once."""
    cwd = tmp_path_factory.mktemp("kale")
    started = time.monotonic()
    done = subprocess.run(
        [str(kale_venv / "bin" / "kale"), "--nb", str(NOTEBOOK), "--output_path", "kale", "--pipeline_name", PIPELINE_NAME],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"kale failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"kale-venv built in {venv_seconds.get('kale-venv', 0):.0f}s (0: cached); kale --nb took {seconds:.1f}s")
    return {"dsl": cwd / "kale" / f"{PIPELINE_NAME}.kale.py", "yaml": cwd / "kale" / f"{PIPELINE_NAME}.pipeline.yaml",
            "python": kale_venv / "bin" / "python"}


def test_kale_converts_the_notebook_to_a_kfp_v2_pipeline(converted, tmp_path):
    dsl = converted["dsl"]
    subprocess.run([str(converted["python"]), "-m", "py_compile", str(dsl)], check=True)
    source = dsl.read_text()
    assert "@kfp_dsl.pipeline(" in source and "def auto_generated_pipeline(" in source
    for step in STEPS:
        assert f"def {step}_step(" in source

    # Kale's CLI compiled the DSL with its kfp; the YAML is what one uploads to KFP
    pipeline, *platform = yaml.safe_load_all(converted["yaml"].read_text())
    assert pipeline["pipelineInfo"]["name"] == PIPELINE_NAME
    tasks = pipeline["root"]["dag"]["tasks"]
    assert set(tasks) == {f"{s.replace('_', '-')}-step" for s in STEPS}
    edges = {n.removesuffix("-step").replace("-", "_"): {d.removesuffix("-step").replace("-", "_") for d in t.get("dependentTasks", [])}
             for n, t in tasks.items()}
    assert closure(edges) == pipeline_ancestors(tmp_path)
    assert set(pipeline["root"]["inputDefinitions"]["parameters"]) == set(parameters(read_notebook()))

    image = read_notebook().metadata["kubeflow_notebook"]["base_image"]
    executors = pipeline["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {image}
    retrain = pipeline["components"]["comp-retrain-best-step"]["outputDefinitions"]["artifacts"]
    assert "kale_metrics_artifact" in retrain, "the pipeline-metrics reach KFP from retrain_best"
    register_inputs = pipeline["components"]["comp-register-step"]["inputDefinitions"]["artifacts"]
    assert {"model_archive_input_artifact", "prepared_input_artifact", "searched_input_artifact"} <= set(register_inputs)
    user = read_notebook().metadata["kubeflow_notebook"]["security_context"]["run_as_user"]
    contexts = platform[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {str(c["securityContext"]["runAsUser"]) for c in contexts.values()} == {str(user)}


@pytest.mark.slow
def test_converted_pipeline_runs_with_kfp_local(converted, kale_run_venv, venv_seconds, tmp_path):
    registry = tmp_path / "registry"
    arguments = dict(search_space=str(REPO / "search_spaces" / "ames.yaml"), work_dir=str(tmp_path / "work"),
                     registry_target=str(registry), **TINY)
    driver = tmp_path / "run_converted.py"
    driver.write_text(
        "import importlib.util, json, sys\n"
        "from kfp import local\n"
        "spec = importlib.util.spec_from_file_location('converted', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])\n"
        "module.auto_generated_pipeline(**json.loads(sys.argv[3]))\n"
    )
    started = time.monotonic()
    # cwd outside the checkout: kfp.local imports `docker` if it can, and the checkout's docker/
    # folder would pass for it
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(kale_run_venv / "bin" / "python"), str(driver), str(converted["dsl"]), str(tmp_path / "kfp"), json.dumps(arguments)],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200, env=env,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"the converted pipeline failed:\n{log[-6000:]}"
    print(f"kale-run-venv built in {venv_seconds.get('kale-run-venv', 0):.0f}s (0: cached); "
          f"converted pipeline ran in {time.monotonic() - started:.0f}s")
    for step in STEPS:
        assert re.search(rf"Task \S*'{step.replace('_', '-')}-step'\S* finished with status \S*SUCCESS", log), step

    assert (registry / "models" / "latticenas-kale" / "v1" / "manifest.json").is_file()
    (run,) = (tmp_path / "kfp").iterdir()
    executed = json.loads((run / "retrain-best-step" / "executor_output.json").read_text())
    (metrics,) = executed["artifacts"]["kale_metrics_artifact"]["artifacts"]
    assert set(metrics["metadata"]) == {"test-objective", "val-objective"}
    assert all(math.isfinite(v) and v > 0 for v in metrics["metadata"].values())
    lineage = json.loads((registry / "models" / "latticenas-kale" / "v1" / "lineage.json").read_text())
    assert lineage["metrics"]["test-rmse"] == pytest.approx(metrics["metadata"]["test-objective"])
    assert "<table" in (run / "aggregate-step" / "aggregate_html_report").read_text()
