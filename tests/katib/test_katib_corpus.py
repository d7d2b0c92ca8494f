"""The validator judges Experiments as Katib (kubeflow/katib at 33c8ff4) does.

* Katib's own examples (``examples/v1beta1``), read from a kubeflow/katib git repository when
  one is at hand (``LATTICENAS_KATIB_REPO``, a checkout or a bare repository; by default the
  mirror this project's sessions fetch): every Experiment Katib admits validates here, and the
  ones Katib itself rejects fail for the same reason. Nothing of Katib's is vendored.
* A corpus written here in the shapes of those examples (:mod:`katib_corpus`): every trial
  kind, every collector kind, NAS, PBT and the shapes once rejected by mistake.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from katib_corpus import ADMITTED, REJECTED, WARNED

from latticenas.katib.validate import check_experiment, validate_experiment

DEFAULT_MIRROR = Path("/work/.mirror/kubeflow+katib/repo")
KATIB_COMMIT = "33c8ff4e5d1814b59abd308e6819e839e9906bc2"

#: examples Katib rejects itself at that commit, and why (path, message substring)
KATIB_REJECTS = {
    # validator.go: maxFailedTrialCount 3 > maxTrialCount 2 (Katib's e2e test overrides both)
    "simple-pbt": ("spec.maxFailedTrialCount", "exceeds spec.maxTrialCount"),
    # validator.go: ${trialParameters.learningRate} is not in the template ($(trialParameters.lr) is)
    "tekton-pipeline-run": ("spec.trialTemplate.trialParameters[0].name", "is not used"),
    # nas/common/validation.py: the skip_connection operation has no parameters
    "darts-gpu": ("spec.nasConfig.operations[4].parameters", "is empty"),
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True,
                          check=True).stdout


def katib_examples() -> list[tuple[str, dict]]:
    root = Path(os.environ.get("LATTICENAS_KATIB_REPO", DEFAULT_MIRROR))
    repo = root / ".git" if (root / ".git").exists() else root
    try:
        revision = KATIB_COMMIT if _git(repo, "cat-file", "-t", KATIB_COMMIT).strip() == "commit" else "HEAD"
        files = _git(repo, "ls-tree", "-r", "--name-only", revision, "examples/v1beta1").split()
    except (OSError, subprocess.CalledProcessError):
        return []
    found = []
    for path in files:
        if path.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all(_git(repo, "show", f"{revision}:{path}")):
                if isinstance(doc, dict) and doc.get("kind") == "Experiment":
                    found.append((path, doc))
    return found


EXAMPLES = katib_examples()


@pytest.mark.skipif(not EXAMPLES, reason="no kubeflow/katib repository at hand (LATTICENAS_KATIB_REPO)")
@pytest.mark.parametrize(("path", "manifest"), EXAMPLES, ids=[p for p, _ in EXAMPLES] or None)
def test_katib_examples_are_judged_as_katib_judges_them(path: str, manifest: dict) -> None:
    name = manifest["metadata"]["name"]
    errors = validate_experiment(manifest)
    if name in KATIB_REJECTS:
        where, text = KATIB_REJECTS[name]
        assert any(e.path == where and text in e.message for e in errors), "\n".join(map(str, errors))
    else:
        assert errors == [], "\n".join(map(str, errors))


def test_the_examples_cover_what_the_issue_lists() -> None:
    if not EXAMPLES:
        pytest.skip("no kubeflow/katib repository at hand")
    names = {m["metadata"]["name"] for _, m in EXAMPLES}
    assert {"xgboostjob-lightgbm", "file-metrics-collector", "enas-cpu", "darts-cpu", "hyperband"} <= names
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize("build", [b for _, b in ADMITTED], ids=[i for i, _ in ADMITTED])
def test_corpus_katib_admits(build) -> None:
    manifest = build()
    assert validate_experiment(manifest) == [], "\n".join(map(str, check_experiment(manifest)))


@pytest.mark.parametrize(("build", "path", "text"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_corpus_katib_rejects_or_breaks(build, path: str, text: str) -> None:
    errors = validate_experiment(build())
    assert any(e.path == path and text in e.message for e in errors), "\n".join(map(str, errors))
    assert all("; " in e.message for e in errors)


@pytest.mark.parametrize(("build", "path", "text"), [c[1:] for c in WARNED], ids=[c[0] for c in WARNED])
def test_corpus_katib_admits_with_a_warning(build, path: str, text: str) -> None:
    found = check_experiment(build())
    assert [e for e in found if e.is_error] == [], "\n".join(map(str, found))
    assert any(w.path == path and text in w.message for w in found), "\n".join(map(str, found))
    assert all("; " in w.message for w in found)


def test_the_corpus_covers_every_trial_kind_collector_and_nas_algorithm() -> None:
    manifests = [b() for _, b in ADMITTED]
    kinds = {m["spec"]["trialTemplate"]["trialSpec"]["kind"] for m in manifests}
    assert kinds >= {"Job", "TFJob", "PyTorchJob", "MPIJob", "Workflow", "PipelineRun"}
    collectors = {m["spec"].get("metricsCollectorSpec", {}).get("collector", {}).get("kind", "StdOut")
                  for m in manifests}
    assert collectors == {"StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push"}
    assert {m["spec"]["algorithm"]["algorithmName"] for m in manifests} >= {"enas", "darts", "pbt", "hyperband"}
