"""Check a Katib ``kubeflow.org/v1beta1`` Experiment before a cluster sees it, as Katib
(kubeflow/katib at 33c8ff4) would judge it.

:func:`check_experiment` returns every :class:`Issue` (``path: problem; fix``): errors for what
Katib rejects or what breaks once it runs, warnings for what Katib admits but ignores or
silently changes. :func:`validate_experiment` returns the errors alone (what the generator, the
pipeline and the local runner refuse); :func:`validate_file` reads YAML (one or many documents,
``-`` for stdin, directories, kustomize directories) and judges every Experiment in it, with
``strict=True`` turning warnings into errors.

The rules live in :mod:`latticenas.katib.rules` (Katib's semantics, shared with the
search-space checks, the generator and the local runner) and are applied by one module per
concern: :mod:`.webhook` (metadata, counts, objective, algorithm and early stopping),
:mod:`.parameters` (the search space as each service reads it), :mod:`.services` (rules one
service applies to the whole Experiment: grid, cmaes, skopt, hyperband, pbt, NAS),
:mod:`.trial_template` (template, substitution, the ``sh -c`` wrap), :mod:`.collector`
(metrics collector and filters), :mod:`.sdk_models` (the Katib SDK's models),
:mod:`.job_schema` (the trial Job's Kubernetes schema) and :mod:`.loading` (YAML, kustomize).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from latticenas.katib.collector import check_metrics_collector
from latticenas.katib.issues import Collector, DocumentResult, Issue, mapping
from latticenas.katib.job_schema import KUBERNETES_SCHEMA_VERSION
from latticenas.katib.loading import (
    kubectl_executable,
    load_yaml_documents,
    read_sources,
    render_kustomization,
)
from latticenas.katib.parameters import check_parameters
from latticenas.katib.rules import Severity
from latticenas.katib.rules.grid import grid_size as grid_combinations
from latticenas.katib.rules.hyperband import min_parallel, s_max
from latticenas.katib.rules.names import (
    ALGORITHM_SERVICES,
    API_VERSION,
    KIND,
    KNOWN_ALGORITHMS,
    KNOWN_EARLY_STOPPING,
)
from latticenas.katib.rules.settings import algorithm_setting_problems, early_stopping_setting_problems
from latticenas.katib.rules.shell import is_shell_safe
from latticenas.katib.sdk_models import check_sdk_models, without_nulls
from latticenas.katib.services import check_service_rules
from latticenas.katib.trial_template import check_trial_template
from latticenas.katib.webhook import (
    check_algorithm,
    check_counts,
    check_early_stopping,
    check_metadata,
    check_objective,
    check_resume_policy,
)

__all__ = [
    "ALGORITHM_SERVICES",
    "KNOWN_ALGORITHMS",
    "KNOWN_EARLY_STOPPING",
    "KUBERNETES_SCHEMA_VERSION",
    "DocumentResult",
    "Issue",
    "Severity",
    "algorithm_setting_problems",
    "check_experiment",
    "early_stopping_setting_problems",
    "grid_combinations",
    "hyperband_plan",
    "is_shell_safe",
    "kubectl_executable",
    "load_yaml_documents",
    "render_kustomization",
    "validate_documents",
    "validate_experiment",
    "validate_file",
    "without_nulls",
]


def check_experiment(obj: Any) -> list[Issue]:
    """Every finding about this Experiment: errors and warnings, in the order found."""
    out = Collector()
    if not isinstance(obj, Mapping):
        out.add("<document>", f"expected a mapping (an Experiment), got {type(obj).__name__}; "
                              "write the Experiment as a YAML mapping")
        return out.issues
    if obj.get("apiVersion") != API_VERSION:
        out.add("apiVersion", f"is {obj.get('apiVersion')!r}; set apiVersion: {API_VERSION}")
    if obj.get("kind") != KIND:
        out.add("kind", f"is {obj.get('kind')!r}; set kind: {KIND}")
    check_sdk_models(obj, out)
    check_metadata(mapping(obj.get("metadata")), out)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        out.add("spec", "is missing; add the Experiment spec")
        return out.issues
    check_counts(spec, out)
    objective_ok = check_objective(spec.get("objective"), out)
    algorithm = check_algorithm(spec, out)
    check_early_stopping(spec.get("earlyStopping"), out)
    check_resume_policy(spec, out)
    check_parameters(spec, algorithm[0] if algorithm else None, out)
    if algorithm is not None:
        check_service_rules(*algorithm, spec, out)
    check_trial_template(spec, out)
    check_metrics_collector(spec, objective_ok, out)
    return out.issues


def validate_experiment(obj: Any) -> list[Issue]:
    """Every reason Katib (or Kubernetes) would reject this Experiment, or fail or stall its
    trials; warnings (:func:`check_experiment`) left out."""
    return [issue for issue in check_experiment(obj) if issue.is_error]


def validate_documents(documents: Iterable[Any], source: str, *, strict: bool = False) -> list[DocumentResult]:
    """Judge each Experiment in ``documents``; other kinds are skipped. A stream with no
    Experiment gives one failing result. ``strict``: warnings count as errors."""
    results = []
    for index, doc in enumerate(documents):
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        if isinstance(doc, Mapping) and kind != KIND and doc.get("apiVersion") != API_VERSION:
            continue  # a Namespace, a Kustomization, ...: not ours to check
        name = mapping(mapping(doc).get("metadata")).get("name") or f"<document {index + 1}>"
        found = check_experiment(doc)
        if strict:
            found = [replace(i, severity=Severity.ERROR) for i in found]
        results.append(DocumentResult(source, index, str(name),
                                      tuple(i for i in found if i.is_error),
                                      tuple(i for i in found if not i.is_error)))
    if not results:
        results.append(DocumentResult(source, 0, "<none>", (
            Issue("<file>", f"no {API_VERSION} Experiment found; pass an Experiment manifest"),)))
    return results


def validate_file(path: str | Path, *, strict: bool = False) -> list[DocumentResult]:
    """Judge every Experiment in a YAML file (``-`` reads stdin). A directory with a
    ``kustomization.yaml`` is rendered with ``kubectl kustomize`` first; another directory has
    each of its ``*.yaml`` files judged."""
    return [result for source, documents in read_sources(path)
            for result in validate_documents(documents, source, strict=strict)]


def hyperband_plan(r_l: float, eta: int, parallel_trial_count: int | None = None) -> dict[str, int]:
    """What the generator needs for a hyperband Experiment (:mod:`.rules.hyperband`):
    ``s_max``, ``min_parallel`` (Katib's lower bound on parallelTrialCount, ``eta**s_max``),
    ``first_bracket_trials`` (the trials of the first bracket a Katib controller runs with
    parallelTrialCount = ``min_parallel``: rung 0, then the one promotion it accepts; the
    generator's maxTrialCount) and ``first_rung_resource``."""
    from latticenas.katib.rules.hyperband import budget, service_eta, service_schedule

    parallel, max_trials = budget(r_l, eta, parallel_trial_count or min_parallel(r_l, eta))
    return {
        "s_max": s_max(r_l, service_eta(eta)),
        "min_parallel": parallel,
        "first_bracket_trials": max_trials,
        "first_rung_resource": service_schedule(r_l, eta)[0][0].resource,
    }
