"""``spec.trialTemplate``: the webhook's rules (``validator.go`` ``validateTrialTemplate``),
the pod webhook's (``pkg/webhook/v1beta1/pod/inject_webhook.go``: the primary container must
exist) and what ``sh -c`` does to the primary container's command when the metrics collector
wraps it (:mod:`latticenas.katib.rules.shell`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from latticenas.katib.issues import Collector, closest, join_path, mapping, sequence
from latticenas.katib.job_schema import check_job
from latticenas.katib.rules import names, shell

BASE = "spec.trialTemplate"
POD_SPEC_PATH = "spec.trialTemplate.trialSpec.spec.template.spec"


def pod_spec(trial_spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a ``batch/v1`` Job trial (None for other kinds)."""
    if trial_spec.get("apiVersion") == "batch/v1" and trial_spec.get("kind") == "Job":
        return mapping(mapping(mapping(trial_spec.get("spec")).get("template")).get("spec"))
    return None


def check_trial_template(spec: Mapping[str, Any], out: Collector) -> None:
    template = spec.get("trialTemplate")
    if not isinstance(template, Mapping):
        out.add(BASE, "is missing; add a trialTemplate with a trialSpec (a batch/v1 Job)")
        return
    primary = template.get("primaryContainerName")
    if not primary:
        out.add(join_path(BASE, "primaryContainerName"), "is missing; name the container that "
                                                         "runs the trial (its stdout carries the metrics)")
    trial_spec, config_map = template.get("trialSpec"), template.get("configMap")
    kind = mapping(trial_spec).get("kind")
    if (not template.get("successCondition") or not template.get("failureCondition")) and \
            kind not in names.DEFAULTED_CONDITION_KINDS:
        out.add(BASE, f"successCondition and failureCondition must be specified for a {kind!r} "
                      "trial (Katib sets them only for Job and Kubeflow training jobs); add both")
    parameters = template.get("trialParameters")
    if parameters is None:
        out.add(join_path(BASE, "trialParameters"), "is missing; declare a trialParameter for "
                                                    "each ${trialParameters.X} the trialSpec uses")
        return
    if not _one_source(template, trial_spec, config_map, out):
        return
    if not isinstance(parameters, list):
        out.add(join_path(BASE, "trialParameters"), "must be a list of {name, reference}; write a YAML list")
        return
    substituted = _check_substitution(spec, trial_spec, parameters, out)
    if substituted is None:
        return
    _check_substituted(substituted, out)
    pod = pod_spec(substituted)
    if pod is not None:
        check_job(substituted, out)
        _check_pod(spec, primary, pod, trial_spec, parameters, out)


def _one_source(template: Mapping[str, Any], trial_spec: Any, config_map: Any, out: Collector) -> bool:
    """True when the template has exactly one trialSpec to check here."""
    if trial_spec is None and config_map is None:
        out.add(BASE, "needs trialSpec or configMap; add trialSpec (a batch/v1 Job)")
        return False
    if trial_spec is not None and config_map is not None:
        out.add(BASE, "has both trialSpec and configMap; keep only one")
        return False
    if config_map is not None:
        cm = mapping(config_map)
        if not (cm.get("configMapName") and cm.get("configMapNamespace") and cm.get("templatePath")):
            out.add(join_path(BASE, "configMap"), "configMapName, configMapNamespace and "
                                                  "templatePath must be specified; add them")
        return False  # the template lives in the cluster: nothing more to check offline
    if not isinstance(trial_spec, Mapping):
        out.add(join_path(BASE, "trialSpec"), "must be a mapping; write a Kubernetes object (a batch/v1 Job)")
        return False
    return True


def _check_substitution(spec: Mapping[str, Any], trial_spec: Mapping[str, Any],
                        parameters: list[Any], out: Collector) -> dict[str, Any] | None:
    """Katib's substitution check: it marshals the trialSpec to JSON and replaces each
    ``${trialParameters.name}`` in that text. Returns the substituted trialSpec."""
    experiment_parameters = {p.get("name") for p in sequence(spec.get("parameters")) if isinstance(p, Mapping)}
    text = json.dumps(trial_spec, sort_keys=True)
    seen_names: dict[str, int] = {}
    seen_refs: dict[str, int] = {}
    for i, parameter in enumerate(parameters):
        path = join_path(BASE, "trialParameters", i)
        parameter = mapping(parameter)
        name, reference = parameter.get("name"), parameter.get("reference")
        if not name or not reference or "{" in str(name) or "}" in str(name):
            out.add(path, "name and reference must be specified and name must not contain "
                          "'{' or '}'; fix this entry")
            continue
        if name in seen_names:
            out.add(join_path(path, "name"), f"{name!r} is also trialParameters[{seen_names[name]}]; "
                                             "names must be unique")
            continue
        if reference in seen_refs:
            out.add(join_path(path, "reference"), f"{reference!r} is also referenced by "
                                                  f"trialParameters[{seen_refs[reference]}]; "
                                                  "references must be unique")
            continue
        seen_names[name], seen_refs[reference] = i, i
        if experiment_parameters and not names.is_meta_reference(reference) \
                and reference not in experiment_parameters:
            out.add(join_path(path, "reference"),
                    f"{reference!r} is not in spec.parameters{closest(reference, experiment_parameters)}; "
                    "reference a parameter name or a ${trialSpec.Name}-style meta key (Name, "
                    "Namespace, Kind, APIVersion, Labels[key], Annotations[key])")
        placeholder = f"${{trialParameters.{name}}}"
        if placeholder not in text:
            out.add(join_path(path, "name"), f"{placeholder} is not used in the trialSpec; use it "
                                             "in the container command or remove this trialParameter")
        text = text.replace(placeholder, "test-value")
    for leftover in sorted(set(names.PARAM_REFERENCE.findall(text))):
        out.add(join_path(BASE, "trialSpec"), f"{leftover} is used but not declared in "
                                              "spec.trialTemplate.trialParameters; declare it")
    try:
        return json.loads(text)
    except ValueError:
        out.add(join_path(BASE, "trialSpec"), "cannot be parsed after parameter substitution; "
                                              "check the ${trialParameters.X} placeholders")
        return None


def _check_substituted(substituted: Mapping[str, Any], out: Collector) -> None:
    metadata = mapping(substituted.get("metadata"))
    for key in ("name", "namespace"):
        if metadata.get(key):
            out.add(join_path(BASE, "trialSpec.metadata", key),
                    "must be omitted (Katib names each trial's Job and puts it in the "
                    "Experiment's namespace); remove it")
    if not substituted.get("apiVersion") or not substituted.get("kind"):
        out.add(join_path(BASE, "trialSpec"), "apiVersion and kind must be specified; use "
                                              "apiVersion: batch/v1, kind: Job")


def _check_pod(spec: Mapping[str, Any], primary: Any, pod: Mapping[str, Any],
               raw_spec: Mapping[str, Any], trial_parameters: list[Any], out: Collector) -> None:
    containers = [mapping(c) for c in sequence(pod.get("containers"))]
    container_names = [c.get("name") for c in containers]
    if primary and primary not in container_names:
        out.add(join_path(BASE, "primaryContainerName"),
                f"{primary!r} is not a container of the trial Job (containers: "
                f"{', '.join(map(str, container_names)) or 'none'}); name one of them")
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        out.add(join_path(POD_SPEC_PATH, "restartPolicy"),
                f"is {pod.get('restartPolicy')!r}; a Job's pods need restartPolicy Never or "
                "OnFailure (set Never, so a failed trial is not rerun in place)")
    collector = mapping(mapping(spec.get("metricsCollectorSpec")).get("collector")).get("kind") or "StdOut"
    if collector in names.WRAPPING_COLLECTORS and primary in container_names:
        index = container_names.index(primary)
        raw = mapping(sequence(mapping(pod_spec(raw_spec)).get("containers"))[index])
        check_wrapped_command(raw, index, spec, trial_parameters, collector, out)


def check_wrapped_command(container: Mapping[str, Any], index: int, spec: Mapping[str, Any],
                          trial_parameters: list[Any], collector: str, out: Collector) -> None:
    """The primary container's command as the collector's ``sh -c`` runs it."""
    fields = [(f, j) for f in ("command", "args") for j, _ in enumerate(sequence(container.get(f)))]
    words = [str(w) for f in ("command", "args") for w in sequence(container.get(f))]
    script, joined = shell.split_wrapper(words)
    offset = len(words) - len(joined)
    findings, placeholders = shell.scan(joined, script=script)
    for finding in findings:
        field, j = fields[finding.word + offset]
        out.report(join_path(POD_SPEC_PATH, "containers", index, field, j), finding.message,
                   finding.severity)
    if script and collector == "StdOut" and shell.script_has_several_commands(" ".join(joined).rstrip()):
        field, j = fields[-1]
        out.warn(join_path(POD_SPEC_PATH, "containers", index, field, j),
                 "Katib appends '1>/var/log/katib/metrics.log 2>&1' to this script, so only its "
                 "last command's output reaches the metrics collector; print the metrics from "
                 "the last command")
    _check_values(placeholders, spec, trial_parameters, out)


def _check_values(placeholders: list[shell.Placeholder], spec: Mapping[str, Any],
                  trial_parameters: list[Any], out: Collector) -> None:
    """Values substituted into the command come from the parameters' lists."""
    references = {mapping(t).get("name"): mapping(t).get("reference") for t in trial_parameters}
    by_name: dict[Any, tuple[int, Mapping[str, Any]]] = {}
    for position, param in enumerate(sequence(spec.get("parameters"))):
        if isinstance(param, Mapping):
            by_name.setdefault(param.get("name"), (position, param))
    reported: set[tuple[int, int]] = set()
    for placeholder in placeholders:
        found = by_name.get(references.get(placeholder.name))
        if not found:
            continue
        position, param = found
        for j, value in enumerate(sequence(mapping(param.get("feasibleSpace")).get("list"))):
            problem = shell.value_problem(str(value), placeholder.context)
            if problem and (position, j) not in reported:
                reported.add((position, j))
                out.add(join_path("spec.parameters", position, "feasibleSpace.list", j),
                        f"{value!r} is not shell-safe: it {problem} of the trial command, which "
                        "Katib runs through 'sh -c'; use a value without spaces or shell "
                        "characters, or quote the argument in the command")
