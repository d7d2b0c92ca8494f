"""Katib's API names, enumerations and name limits, and which suggestion service runs each
algorithm.

Sources (paths in kubeflow/katib): ``pkg/webhook/v1beta1/experiment/validator/validator.go``
(name pattern and length), ``manifests/v1beta1/installs/katib-standalone/katib-config.yaml``
(algorithm -> service), ``pkg/apis/controller/experiments/v1beta1/constants.go`` (defaults,
job kinds), ``pkg/controller.v1beta1/consts/const.go`` (template references) and
``pkg/webhook/v1beta1/pod/const.go`` (the collectors that wrap the trial command).
"""

from __future__ import annotations

import re

API_VERSION = "kubeflow.org/v1beta1"
KIND = "Experiment"

#: Algorithm -> suggestion service that runs it (katib-standalone/katib-config.yaml).
ALGORITHM_SERVICES: dict[str, str] = {
    "random": "hyperopt",
    "tpe": "hyperopt",
    "grid": "optuna",
    "multivariate-tpe": "optuna",
    "hyperband": "hyperband",
    "bayesianoptimization": "skopt",
    "cmaes": "goptuna",
    "sobol": "goptuna",
    "enas": "enas",
    "darts": "darts",
    "pbt": "pbt",
}
KNOWN_ALGORITHMS: tuple[str, ...] = tuple(ALGORITHM_SERVICES)
#: services that ignore ``feasibleSpace.distribution`` and sample every range uniformly between
#: min and max (goptuna/converter.go, hyperband/parsing_util.py, pbt/service.py)
IGNORES_DISTRIBUTION: tuple[str, ...] = ("goptuna", "hyperband", "pbt")
#: algorithms that search ``spec.nasConfig`` instead of ``spec.parameters``
NAS_ALGORITHMS: tuple[str, ...] = ("enas", "darts")
KNOWN_EARLY_STOPPING: tuple[str, ...] = ("medianstop",)

# validator.go: namingConvention plus the 40-character limit (Katib derives Suggestion
# Deployment/Service names from it). Katib's regex is unanchored at the end; Kubernetes then
# rejects the rest, so the full match is checked.
NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
NAME_MAX_LENGTH = 40
NAMESPACE_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
NAMESPACE_MAX_LENGTH = 63

RESUME_POLICIES = ("Never", "LongRunning", "FromVolume")
OBJECTIVE_TYPES = ("minimize", "maximize")
METRIC_STRATEGIES = ("min", "max", "latest")
PARAMETER_TYPES = ("int", "double", "categorical", "discrete")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
#: collectors whose pod webhook rewrites the primary container into ``sh -c`` (const.go)
WRAPPING_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")
#: kinds whose success/failure conditions the defaulting webhook sets (constants.go)
DEFAULTED_CONDITION_KINDS = ("Job", "TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "TrainJob")
DEFAULT_PARALLEL_TRIAL_COUNT = 3
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_DIR = "/var/log/katib/tfevent/"

# const.go: TrialTemplateParamReplaceFormatRegex, TrialTemplateMetaReplaceFormatRegex, ...
PARAM_REFERENCE = re.compile(r"\$\{trialParameters\..+?\}")
META_REFERENCE = re.compile(r"\$\{trialSpec\.(.+?)\}")
META_INDEXED = re.compile(r"(.+)\[(.+)]")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Annotations", "Labels")


def is_meta_reference(reference: str) -> bool:
    """``${trialSpec.Name}``, ``${trialSpec.Labels[key]}``, ...: validator.go isMetaKey."""
    match = META_REFERENCE.search(reference)
    if not match:
        return False
    key = match.group(1)
    if key in META_KEYS:
        return True
    indexed = META_INDEXED.fullmatch(key)
    return bool(indexed and indexed.group(1) in META_KEYS)
