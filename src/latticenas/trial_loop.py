"""What one trial does, apart from how it is invoked: sample -> train each -> report.

:func:`run_trial` loads and checks the data, samples the trial's architectures, trains every
(moity, try) pair, writes each network's record as soon as it exists, keeps the best network
by the objective, and returns a :class:`TrialOutcome`. Metric lines go through ``emit`` (the
trial program prints them on stdout for Katib).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from latticenas import artifacts as layout
from latticenas.arch import ArchitectureSpec, sample_architectures
from latticenas.arch.diagram import render_svg
from latticenas.artifacts import ArtifactWriter
from latticenas.data import Dataset, Task
from latticenas.distribute import configure_graph_optimizer, pick_strategy
from latticenas.errors import ParameterError, TrialFailedError
from latticenas.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS, is_better, task_metrics
from latticenas.fused import Member, param_estimate, should_fuse, train_fused
from latticenas.metrics import format_metric_lines
from latticenas.train import NetworkResult, NetworkStatus, Prepared, prepare_cached, train_network, val_predictions

log = logging.getLogger("latticenas.trial")

DEFAULT_OBJECTIVE = {Task.REGRESSION: "val-rmse", Task.BINARY: "val-logloss", Task.MULTICLASS: "val-logloss"}
FINAL_ACTIVATION = {Task.REGRESSION: "linear", Task.BINARY: "sigmoid", Task.MULTICLASS: "softmax"}


@dataclass(frozen=True)
class TrialOutcome:
    objective: str
    best_network_id: str
    best_value: float
    reported: dict[str, float]
    results: tuple[NetworkResult, ...]


def run_trial(config, dataset: Dataset, emit: Callable[[str], None] = print) -> TrialOutcome:
    """Train the trial's networks on ``dataset`` (loaded and checked by the caller)."""
    writer = ArtifactWriter(config.output_dir)
    writer.write_json(config.to_dict(), layout.PARAMS)
    objective = resolve_objective(config.objective, dataset.schema.task)
    log.info("data: %d train / %d validation / %d test rows, %d features, task %s, objective %s",
             len(dataset.train), len(dataset.val), len(dataset.test), len(dataset.schema.features),
             dataset.schema.task.value, objective)
    _quiet_tensorflow()
    choice = pick_strategy()
    configure_graph_optimizer(choice)
    log.info("distribution strategy: %s", choice.description)
    data = prepare_cached(dataset, config.log_target, config.params.numeric_encoding)
    specs = sample_architectures(
        config.params, output_size=dataset.schema.output_size,
        final_activation=config.params.final_activation or FINAL_ACTIVATION[dataset.schema.task],
    )
    loop = _Loop(config, writer, data, objective, choice.strategy, emit)
    members = [Member(f"m{moity}-t{attempt}", spec, loop.seed(moity, attempt))
               for moity, spec in enumerate(specs)
               for attempt in range(config.params.number_of_tries_per_architecture_moity)]
    width = sum(v.shape[-1] for v in data.x_train.values())
    try:
        if should_fuse(config.fused, len(members), sum(param_estimate(m.spec, width) for m in members),
                       choice.accelerator):
            loop.train_fused(members)
        else:
            for member in members:
                loop.train(member, total=len(members))
    except BaseException:  # a stop (SIGTERM, Ctrl-C) or a crash: keep the best network trained so far
        try:
            loop.save_best_model()
        except Exception as exc:  # the stop or the crash is what to report
            log.warning("could not write the best network's model: %s", exc)
        raise
    if loop.best is not None:
        loop.choose_model(dataset)
    return loop.finish(dataset)


def _quiet_tensorflow() -> None:
    """TensorFlow's retracing notices (one new model per network is expected) are noise here."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def resolve_objective(objective: str, task: Task) -> str:
    if objective == "auto":
        return DEFAULT_OBJECTIVE[task]
    names = REGRESSION_METRICS if task is Task.REGRESSION else CLASSIFICATION_METRICS
    allowed = [f"val-{n}" for n in names]
    if objective not in allowed:
        raise ParameterError(
            f"objective {objective!r} is not reported for a {task.value} task; use one of {', '.join(allowed)}"
        )
    return objective


class _Loop:
    """Trains networks one by one, keeping the best and writing each record at once."""

    def __init__(self, config, writer: ArtifactWriter, data: Prepared, objective: str, strategy, emit):
        self.config, self.writer, self.data = config, writer, data
        self.objective, self.metric = objective, objective.removeprefix("val-")
        self.strategy, self.emit = strategy, emit
        self.results: list[NetworkResult] = []
        self.best: tuple[NetworkResult, ArchitectureSpec] | None = None
        self.trained: list[tuple[NetworkResult, object]] = []  # succeeded networks, for the ensemble
        self.model_metrics: dict[str, float] = {}  # the trial model's (ensemble or best network)
        self.ensemble_size = 1
        self._best_network = None  # the best network's, until its model is written (save_best_model)
        self.started = time.perf_counter()

    def seed(self, moity: int, attempt: int) -> int:
        return (self.config.params.seed * 1_000_003 + moity * 101 + attempt) % (2**31 - 1)

    def train(self, member: Member, total: int) -> None:
        spec, network_id = member.spec, member.network_id
        self.writer.write_text(spec.to_json(indent=2), layout.NETWORKS, network_id, layout.SPEC)
        log.info("network %s (%d of %d): %s", network_id, len(self.results) + 1, total, _describe(spec))
        result, network = train_network(spec, self.data, self.config.params, network_id=network_id,
                                        seed=member.seed, strategy=self.strategy, on_epoch=self._report_epoch)
        self.record(spec, result, network)

    def train_fused(self, members: list[Member]) -> None:
        """All members in one fused model (:mod:`latticenas.fused`); records as sequential training."""
        for m in members:
            self.writer.write_text(m.spec.to_json(indent=2), layout.NETWORKS, m.network_id, layout.SPEC)
            log.info("network %s: %s", m.network_id, _describe(m.spec))
        log.info("training %d networks fused in one model", len(members))

        def report(epoch: int, by_member: dict[int, dict[str, float]]) -> None:
            best = None
            for metrics in by_member.values():
                value = metrics.get(self.metric, float("nan"))
                if is_better(self.metric, value, best):
                    best = value
            if best is not None:
                self._report_epoch(epoch, {self.metric: best})

        results = train_fused(members, self.data, self.config.params, strategy=self.strategy, on_epoch=report)
        for m, (result, network) in zip(members, results):
            self.record(m.spec, result, network)

    def record(self, spec: ArchitectureSpec, result: NetworkResult, network) -> None:
        network_id = result.network_id
        self.results.append(result)
        self.writer.write_json(result.to_dict(), layout.NETWORKS, network_id, layout.METRICS)
        if result.status is not NetworkStatus.SUCCEEDED:
            log.warning("network %s %s: %s", network_id, result.status.value, result.error)
            return
        value = result.metrics[self.metric]
        self.trained.append((result, network))
        log.info("network %s: %s %.6g after %d epochs (best epoch %d), %d parameters, %.1f s",
                 network_id, self.objective, value, result.epochs_run, result.best_epoch,
                 result.param_count, result.train_seconds)
        if self.best is None or is_better(self.metric, value, self.best[0].metrics[self.metric]):
            self.best = (result, spec)
            self._best_network = network
            self._record_best(result, spec)
        self.emit(format_metric_lines({self.objective: self.best[0].metrics[self.metric]}))

    def choose_model(self, dataset: Dataset) -> None:
        """The trial's model: the mean of its networks or the best one (``trial_ensemble``),
        saved as ``best/model.keras``; its validation predictions go to ``val_predictions.csv``.
        The predictions come from each network's encoded validation rows (the serving models'
        values to float32 rounding), combined as the fused model combines them."""
        from latticenas.ensemble import combine, fuse, link_for

        best, _ = self.best
        self.model_metrics = dict(best.metrics)
        each = [val_predictions(n, self.data) for _, n in self.trained]
        predictions = each[next(i for i, (r, _) in enumerate(self.trained) if r is best)]
        mode = self.config.params.trial_ensemble
        if mode != "never" and len(self.trained) > 1:
            link = link_for(self.data.schema.task, bool(self.data.transform and self.data.transform.log))
            fused_predictions = combine(each, [1.0] * len(each), link)
            metrics = task_metrics(self.data.schema.task, self.data.y_val_raw, fused_predictions,
                                   len(self.data.schema.classes or ()))
            log.info("mean of %d networks: %s %.6g (best network %.6g)", len(self.trained), self.objective,
                     metrics[self.metric], best.metrics[self.metric])
            if mode == "always" or is_better(self.metric, metrics[self.metric], best.metrics[self.metric]):
                predictions, self.model_metrics, self.ensemble_size = fused_predictions, metrics, len(self.trained)
                fused = fuse([n.serving for _, n in self.trained], [1.0] * len(self.trained), link,
                             name="trial_ensemble")
                self._best_network = None  # the ensemble is the trial's model
                self.writer.save_model(fused, layout.BEST, layout.MODEL)
                self.writer.write_json({"members": [r.network_id for r, _ in self.trained], "link": link,
                                        "metrics": metrics, "best_network": best.to_dict()},
                                       layout.BEST, layout.METRICS)
        self.save_best_model()
        self.writer.write_text(layout.val_predictions_csv(dataset.val.index, predictions), layout.VAL_PREDICTIONS)

    def _report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Intermediate objective for Katib (and medianstop): the trial's best value so far."""
        value = metrics.get(self.metric, float("nan"))
        incumbent = self.best[0].metrics[self.metric] if self.best else None
        running = value if is_better(self.metric, value, incumbent) else incumbent
        if running is not None:
            self.emit(format_metric_lines({self.objective: running}))

    def save_best_model(self) -> None:
        """Write the best network's serving model as ``best/model.keras`` unless it is written.

        Written once, when the trial's model is chosen (the ensemble, when it wins, replaces it
        and it is not written at all), or when the trial is stopped or crashes: a Keras save
        costs ~0.3 s, a tenth of a small network's training, so a new best network does not
        write one at once."""
        network, self._best_network = self._best_network, None
        if network is not None:
            self.writer.save_model(network.serving, layout.BEST, layout.MODEL)

    def _record_best(self, result: NetworkResult, spec: ArchitectureSpec) -> None:
        """The best network so far: its spec, metrics, diagram and preprocessing (small files,
        written at once; its model waits for :meth:`save_best_model`)."""
        self.writer.write_text(spec.to_json(indent=2), layout.BEST, layout.SPEC)
        self.writer.write_json(result.to_dict(), layout.BEST, layout.METRICS)
        self.writer.write_text(render_svg(spec, title=f"best network {result.network_id}"), layout.BEST, layout.DIAGRAM)
        self.writer.write_json(layout.preprocessing_record(self.data), layout.BEST, layout.PREPROCESSING)

    def finish(self, dataset: Dataset) -> TrialOutcome:
        failed = [r for r in self.results if r.status is not NetworkStatus.SUCCEEDED]
        summary = {"objective": self.objective, "networks_trained": len(self.results),
                   "networks_failed": len(failed), "train_seconds": time.perf_counter() - self.started,
                   "data_rows": {"train": len(dataset.train), "val": len(dataset.val), "test": len(dataset.test)}}
        if self.best is None:
            self.writer.write_json({**summary, "status": "failed"}, layout.SUMMARY)
            reasons = "; ".join(f"{r.network_id}: {r.error}" for r in failed[:3])
            raise TrialFailedError(
                f"all {len(self.results)} networks failed ({reasons}); try a lower --learning_rate or smaller networks"
            )
        best, spec = self.best
        reported = {f"val-{k}": v for k, v in (self.model_metrics or best.metrics).items()}
        reported.update({f"network-val-{k}": v for k, v in best.metrics.items()})
        reported.update({"ensemble-size": self.ensemble_size, "param-count": best.param_count, "train-seconds": round(summary["train_seconds"], 3),
                         "networks-trained": len(self.results), "networks-failed": len(failed)})
        self.writer.write_json({**summary, "status": "succeeded", "best_network": best.network_id,
                                "best_spec_hash": spec.content_hash, "metrics": reported}, layout.SUMMARY)
        ordered = {self.objective: reported[self.objective], **reported}
        self.emit(format_metric_lines(ordered))
        return TrialOutcome(self.objective, best.network_id, reported[self.objective], reported, tuple(self.results))


def _describe(spec: ArchitectureSpec) -> str:
    s = spec.summary()
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in s.items())


__all__ = ["TrialOutcome", "run_trial", "resolve_objective"]
