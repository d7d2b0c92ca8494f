"""Experiments written in the shapes of Katib's own examples (``examples/v1beta1`` of
kubeflow/katib): every trial kind, every collector kind, the NAS and PBT algorithms, and the
shapes the validator once rejected although Katib admits them. Each builder returns a fresh
dict; :data:`ADMITTED` and :data:`REJECTED` list the cases."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

IMAGE = "ghcr.io/kubeflow/katib/pytorch-mnist-cpu:latest"
PARAMETERS = [
    {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}},
    {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "0.9"}},
]
TRIAL_PARAMETERS = [
    {"name": "learningRate", "description": "Learning rate", "reference": "lr"},
    {"name": "momentum", "description": "Momentum", "reference": "momentum"},
]
COMMAND = ["python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1",
           "--lr=${trialParameters.learningRate}", "--momentum=${trialParameters.momentum}"]


def pod(command: list[str], name: str = "training-container", args: list[str] | None = None) -> dict:
    container: dict[str, Any] = {"name": name, "image": IMAGE, "command": command}
    if args is not None:
        container["args"] = args
    return {"spec": {"containers": [container], "restartPolicy": "Never"}}


def job(command: list[str] = COMMAND, args: list[str] | None = None) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": pod(command, args=args)}}


def replicas(kind: str, key: str, roles: tuple[str, ...], container: str, api: str = "kubeflow.org/v1") -> dict:
    specs = {role: {"replicas": 1, "restartPolicy": "OnFailure", "template": pod(COMMAND, container)}
             for role in roles}
    return {"apiVersion": api, "kind": kind, "spec": {key: specs}}


def argo_workflow() -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "spec": {
        "entrypoint": "hp", "templates": [{"name": "hp", "container": {
            "name": "main", "image": IMAGE, "command": COMMAND}}]}}


def tekton_run() -> dict:
    return {"apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun", "spec": {
        "params": [{"name": "lr", "value": "${trialParameters.learningRate}"},
                   {"name": "momentum", "value": "${trialParameters.momentum}"}],
        "pipelineSpec": {"params": [{"name": "lr"}, {"name": "momentum"}], "tasks": [{
            "name": "model-training", "taskSpec": {"steps": [{
                "name": "model-training", "image": IMAGE,
                "command": ["python3", "/opt/pytorch-mnist/mnist.py", "--lr=$(params.lr)"]}]}}]}}}


CONDITIONS = {"successCondition": 'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
              "failureCondition": 'status.conditions.#(type=="Succeeded")#|#(status=="False")#'}


def experiment(name: str, trial_spec: dict | None = None, *, algorithm: str = "random",
               settings: dict[str, str] | None = None, parameters: list[dict] | None = None,
               collector: dict | None = None, primary: str = "training-container",
               template: dict | None = None, trial_parameters: list[dict] | None = None,
               **spec: Any) -> dict:
    body: dict[str, Any] = {
        "objective": {"type": "minimize", "goal": 0.001, "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": algorithm},
        "parallelTrialCount": 2, "maxTrialCount": 4, "maxFailedTrialCount": 2,
        "parameters": copy.deepcopy(PARAMETERS if parameters is None else parameters),
        "trialTemplate": {"primaryContainerName": primary,
                          "trialParameters": copy.deepcopy(trial_parameters or TRIAL_PARAMETERS),
                          "trialSpec": trial_spec or job(), **(template or {})},
    }
    if settings:
        body["algorithm"]["algorithmSettings"] = [{"name": k, "value": v} for k, v in settings.items()]
    if collector is not None:
        body["metricsCollectorSpec"] = collector
    body.update(spec)
    if not body["parameters"]:
        del body["parameters"]
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
            "metadata": {"name": name, "namespace": "kubeflow"}, "spec": body}


def nas(algorithm: str, **settings: str) -> dict:
    operations = [{"operationType": "convolution", "parameters": [
        {"name": "filter_size", "parameterType": "categorical", "feasibleSpace": {"list": ["3", "5"]}}]},
        {"operationType": "reduction", "parameters": [
            {"name": "reduction_type", "parameterType": "categorical", "feasibleSpace": {"list": ["max_pooling"]}}]}]
    reference = "architecture" if algorithm == "enas" else "algorithm-settings"
    command = ["python3", "run_trial.py", f'--{reference}="${{trialParameters.{reference}}}"']
    manifest = experiment(f"{algorithm}-nas", job(command), algorithm=algorithm, settings=settings or None,
                          parameters=[], trial_parameters=[{"name": reference, "reference": reference}],
                          nasConfig={"graphConfig": {"numLayers": 8, "inputSizes": [32, 32, 3],
                                                     "outputSizes": [10]}, "operations": operations},
                          collector={"collector": {"kind": "StdOut"}, "source": {"filter": {
                              "metricsFormat": [r"([\w-]+)=([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"]}}})
    return manifest


def with_filter(*formats: str) -> dict:
    return {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": list(formats)}}}


def logged_int(algorithm: str, low: str = "0") -> dict:
    parameters = [*PARAMETERS, {"name": "units", "parameterType": "int",
                                "feasibleSpace": {"min": "1", "max": "8", "step": "1"}}]
    parameters[0] = {"name": "lr", "parameterType": "double", "feasibleSpace": {
        "min": low, "max": "0.05", "step": "0.01", "distribution": "logUniform"}}
    parameters[1] = {**parameters[1], "feasibleSpace": {**parameters[1]["feasibleSpace"], "step": "0.1"}}
    return experiment(f"log-{algorithm}", algorithm=algorithm, parameters=parameters)


def pbt(**settings: str) -> dict:
    parameters = [{"name": "lr", "parameterType": "double",
                   "feasibleSpace": {"min": "0.0001", "max": "0.02", "step": "0.0001"}}]
    base = {"suggestion_trial_dir": "/var/log/katib/checkpoints/", "n_population": "40",
            "truncation_threshold": "0.2"}
    merged = {k: v for k, v in {**base, **settings}.items() if v}
    return experiment("simple-pbt", job(["python3", "pbt.py", "--lr=${trialParameters.learningRate}"]),
                      algorithm="pbt", settings=merged, parameters=parameters,
                      trial_parameters=TRIAL_PARAMETERS[:1], resumePolicy="FromVolume")


def int_written_as_float(algorithm: str) -> dict:
    parameters = [*PARAMETERS, {"name": "layers", "parameterType": "int",
                                "feasibleSpace": {"min": "1.0", "max": "4"}}]
    command = [*COMMAND, "--layers=${trialParameters.layers}"]
    return experiment(f"int-{algorithm}", job(command), algorithm=algorithm, parameters=parameters,
                      trial_parameters=[*TRIAL_PARAMETERS, {"name": "layers", "reference": "layers"}])


#: (id, manifest builder): Katib admits each (warnings allowed).
ADMITTED: list[tuple[str, Callable[[], dict]]] = [
    ("job-stdout", lambda: experiment("random")),
    ("tfjob-tensorflow-event", lambda: experiment(
        "tfjob", replicas("TFJob", "tfReplicaSpecs", ("Worker",), "tensorflow"), primary="tensorflow",
        collector={"collector": {"kind": "TensorFlowEvent"}, "source": {"fileSystemPath": {
            "path": "/mnist-with-summaries-logs/test", "kind": "Directory"}}})),
    ("pytorchjob", lambda: experiment(
        "pytorchjob", replicas("PyTorchJob", "pytorchReplicaSpecs", ("Master", "Worker"), "pytorch"),
        primary="pytorch")),
    ("mpijob", lambda: experiment(
        "mpijob", replicas("MPIJob", "mpiReplicaSpecs", ("Launcher", "Worker"), "mpi-launcher"),
        primary="mpi-launcher", template={"primaryPodLabels": {"training.kubeflow.org/job-role": "master"}})),
    ("argo-workflow", lambda: experiment(
        "argo", argo_workflow(), primary="main",
        template={"primaryPodLabels": {"katib.kubeflow.org/model-training": "true"},
                  "successCondition": 'status.[@this].#(phase=="Succeeded")#',
                  "failureCondition": 'status.[@this].#(phase=="Failed")#'})),
    ("tekton-pipeline-run", lambda: experiment(
        "tekton", tekton_run(), primary="step-model-training",
        template={"primaryPodLabels": {"tekton.dev/pipelineTask": "model-training"}, **CONDITIONS})),
    ("file-text-json-lines", lambda: experiment("file-metrics", collector={
        "collector": {"kind": "File"}, "source": {
            "filter": {"metricsFormat": [r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"]},
            "fileSystemPath": {"path": "/katib/mnist.log", "kind": "File"}}})),
    ("file-json", lambda: experiment("file-json", collector={
        "collector": {"kind": "File"}, "source": {"fileSystemPath": {
            "path": "/katib/mnist.json", "kind": "File", "format": "JSON"}}})),
    ("prometheus", lambda: experiment("prometheus", collector={
        "collector": {"kind": "PrometheusMetric"}, "source": {"httpGet": {"port": 8080, "path": "/metrics"}}})),
    ("custom", lambda: experiment("custom", collector={
        "collector": {"kind": "Custom", "customCollector": {
            "name": "custom-metrics-logger-and-collector", "image": "ghcr.io/kubeflow/katib/custom-metrics-collector:latest",
            "args": ["-m", "loss", "-s", "katib-db-manager.kubeflow:6789", "-t", "$(PodName)", "-path", "/katib/mnist.log"]}},
        "source": {"fileSystemPath": {"path": "/katib/mnist.log", "kind": "File"}}})),
    ("push", lambda: experiment("push", collector={"collector": {"kind": "Push"}})),
    ("filter-name-colon-value", lambda: experiment("xgboost", collector=with_filter(
        r"(\w+\s\w+)\s:\s((-?\d+)(\.\d+)?)"))),
    ("filter-unicode-class", lambda: experiment("unicode", collector=with_filter(r"(\pL[\pL\d-]*)=([\d.]+)"))),
    ("filter-flags-mid-pattern", lambda: experiment("flags", collector=with_filter(r"metric (?i)(loss)\s*=\s*([\d.]+)"))),
    ("quoted-arguments", lambda: experiment("quoted", job([
        "python3", "/opt/mnist.py", '--lr="${trialParameters.learningRate}"',
        "--momentum='${trialParameters.momentum}'"]))),
    ("sh-c-script-in-args", lambda: experiment("script", job(["sh", "-c"], args=[
        "cd /opt && python3 mnist.py --lr=${trialParameters.learningRate} "
        "--momentum=${trialParameters.momentum} --note=\"two words\""]))),
    ("log-uniform-min-zero-multivariate-tpe", lambda: logged_int("multivariate-tpe")),
    ("log-uniform-min-zero-grid", lambda: logged_int("grid")),
    ("log-uniform-min-zero-cmaes", lambda: logged_int("cmaes")),
    ("log-uniform-min-zero-sobol", lambda: logged_int("sobol")),
    ("goptuna-ignored-settings", lambda: experiment("cmaes", algorithm="cmaes",
                                                     settings={"random_state": "10", "n_startup_trials": "5"})),
    ("int-min-1.0-hyperopt", lambda: int_written_as_float("tpe")),
    ("hyperopt-normal", lambda: experiment("normal", parameters=[
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05", "distribution": "normal"}},
        {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "0.9", "distribution": "logNormal"}}])),
    ("hyperband-katib-example", lambda: experiment(
        "hyperband", job([*COMMAND, "--epochs=${trialParameters.numberEpochs}"]), algorithm="hyperband",
        settings={"resource_name": "num-epochs", "eta": "2", "r_l": "2"},
        parameters=[*PARAMETERS, {"name": "num-epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "1"}}],
        trial_parameters=[*TRIAL_PARAMETERS, {"name": "numberEpochs", "reference": "num-epochs"}],
        parallelTrialCount=2, maxTrialCount=2)),
    ("enas", lambda: nas("enas", controller_hidden_size="64", controller_temperature="None")),
    ("darts", lambda: nas("darts", num_epochs="2", batch_size="None", unknown_knob="1")),
    ("pbt", pbt),
]

#: (id, manifest builder, path, message substring): Katib rejects each, or it breaks there.
REJECTED: list[tuple[str, Callable[[], dict], str, str]] = [
    ("filter-semicolon", lambda: experiment("semicolon", collector=with_filter(r"([\w-]+);(\d+)")),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "contains ';'"),
    ("filter-one-group", lambda: experiment("one-group", collector=with_filter(r"loss=(\d+)")),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "two top subexpressions"),
    ("filter-back-reference", lambda: experiment("backref", collector=with_filter(r"(\w+)=(\d+)\1")),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "invalid filter"),
    ("custom-relative-path", lambda: experiment("custom-rel", collector={
        "collector": {"kind": "Custom", "customCollector": {"name": "c", "image": "c:1"}},
        "source": {"fileSystemPath": {"path": "katib/mnist.log", "kind": "File"}}}),
     "spec.metricsCollectorSpec.source.fileSystemPath", "absolute path"),
    ("file-relative-path", lambda: experiment("file-rel", collector={
        "collector": {"kind": "File"}, "source": {"fileSystemPath": {"path": "mnist.log", "kind": "File"}}}),
     "spec.metricsCollectorSpec.source.fileSystemPath.path", "absolute file path"),
    ("unquoted-blank", lambda: experiment("blank", job([*COMMAND, "--note=two words"])),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[5]", "not shell-safe"),
    ("pbt-resample-probability", lambda: pbt(resample_probability="0.5"),
     "spec.algorithm.algorithmSettings[3]", "compares its text"),
    ("pbt-small-population", lambda: pbt(n_population="4"),
     "spec.algorithm.algorithmSettings[1]", "must be >= 5"),
    ("pbt-missing-directory", lambda: pbt(suggestion_trial_dir=""),
     "spec.algorithm.algorithmSettings", "needs the suggestion_trial_dir setting"),
    ("darts-negative-learning-rate", lambda: nas("darts", w_lr="-0.1"),
     "spec.algorithm.algorithmSettings[0]", "w_lr='-0.1'"),
    ("enas-unknown-setting", lambda: nas("enas", controller_layers="3"),
     "spec.algorithm.algorithmSettings[0]", "unknown setting for enas"),
    ("enas-temperature-zero", lambda: nas("enas", controller_temperature="0"),
     "spec.algorithm.algorithmSettings[0]", "must be a number in (0, inf]"),
    ("enas-without-graph", lambda: _without_graph_layers(nas("enas")),
     "spec.nasConfig.graphConfig.numLayers", "enas service requires it"),
    ("int-min-1.0-optuna", lambda: int_written_as_float("multivariate-tpe"),
     "spec.parameters[2].feasibleSpace.min", "Optuna"),
    ("int-min-1.0-goptuna", lambda: int_written_as_float("cmaes"),
     "spec.parameters[2].feasibleSpace.min", "goptuna"),
    ("log-uniform-min-zero-hyperopt", lambda: logged_int("tpe"),
     "spec.parameters[0].feasibleSpace.min", "logUniform needs min > 0"),
    ("optuna-normal", lambda: experiment("optuna-normal", algorithm="multivariate-tpe", parameters=[
        {**PARAMETERS[0], "feasibleSpace": {**PARAMETERS[0]["feasibleSpace"], "distribution": "normal"}}, PARAMETERS[1]]),
     "spec.parameters[0].feasibleSpace.distribution", "Optuna"),
    ("grid-normal", lambda: experiment("grid-normal", algorithm="grid", maxTrialCount=4, parameters=[
        {**PARAMETERS[0], "feasibleSpace": {"min": "0.01", "max": "0.05", "step": "0.01", "distribution": "normal"}}, {
            **PARAMETERS[1], "feasibleSpace": {**PARAMETERS[1]["feasibleSpace"], "step": "0.1"}}]),
     "spec.parameters[0].feasibleSpace.distribution", "not supported by grid"),
    ("filter-look-ahead", lambda: experiment("lookahead", collector=with_filter(r"(?=l)([\w-]+)=([\d.]+)")),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "invalid perl operator: (?="),
]

#: admitted with a warning: Katib admits them but ignores or silently changes something
#: (id, builder, path, message substring)
WARNED: list[tuple[str, Callable[[], dict], str, str]] = [
    ("unknown-field", lambda: {**(m := experiment("unknown")), "spec": {**m["spec"], "parallelTrialCont": 2}},
     "spec.parallelTrialCont", "unknown field"),
    ("duplicate-value", lambda: experiment("duplicate", parameters=[*PARAMETERS, {
        "name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu", "relu"]}}]),
     "spec.parameters[2].feasibleSpace.list[1]", "listed twice"),
    ("goptuna-unknown-setting", lambda: experiment("cmaes", algorithm="cmaes", settings={"popsize": "8"}),
     "spec.algorithm.algorithmSettings[0]", "goptuna ignores"),
    ("log-uniform-min-zero-optuna", lambda: logged_int("multivariate-tpe"),
     "spec.parameters[0].feasibleSpace.min", "raises min to 1e-10"),
    ("filter-cannot-read-trial-lines", lambda: experiment("colon", collector=with_filter(r"([\w-]+):\s*([\d.]+)")),
     "spec.metricsCollectorSpec.source.filter.metricsFormat", "no filter reads the line 'loss=0.125'"),
    ("goptuna-log-uniform", lambda: experiment("sobol", algorithm="sobol", parameters=[
        {**PARAMETERS[0], "feasibleSpace": {**PARAMETERS[0]["feasibleSpace"], "distribution": "logUniform"}}, PARAMETERS[1]]),
     "spec.parameters[0].feasibleSpace.distribution", "ignores logUniform"),
    ("tpe-parallel-copies", lambda: experiment("tpe", algorithm="tpe", parallelTrialCount=3, maxTrialCount=6),
     "spec.parallelTrialCount", "kubeflow/katib#1329"),
    ("hyperopt-normal-unbounded", lambda: experiment("normal", parameters=[
        {**PARAMETERS[0], "feasibleSpace": {**PARAMETERS[0]["feasibleSpace"], "distribution": "normal"}}, PARAMETERS[1]]),
     "spec.parameters[0].feasibleSpace.distribution", "outside min..max"),
    ("hyperopt-step-not-dividing-min", lambda: experiment("quantized", parameters=[
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.05", "max": "0.5", "step": "0.1"}}, PARAMETERS[1]]),
     "spec.parameters[0].feasibleSpace.step", "multiples of the step"),
]


def _without_graph_layers(manifest: dict) -> dict:
    del manifest["spec"]["nasConfig"]["graphConfig"]["numLayers"]
    return manifest
