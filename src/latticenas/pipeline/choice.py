"""The pipeline's final model: the search's trials ensembled, or its best trial, and what the
retrain step needs to refit it.

Contract:

* :func:`trial_outputs` says where each trial wrote its artifacts: ``<output_root>/<trial>``
  for the ``katib`` backend (``SearchResults.extra``), the run directory's
  ``<experiment>/run/trials/<trial>/output`` for the ``local`` and ``mop`` backends
  (``experiment``: the search step's output of that name).
* :func:`choose_final` runs :func:`latticenas.final.build_final` over the trials with an
  objective value, best first, on the prepared rows *as the trials saw them*
  (:func:`~latticenas.pipeline.prepared.trial_view`: its validation rows are the trials' own
  validation rows with the trials' row numbers, so their ``val_predictions.csv`` line up; its
  train rows fit the HistGradientBoosting baseline; its test rows, never seen by the search,
  are only scored). The result is a :class:`FinalChoice`: ``kind`` ``ensemble`` (several
  trials, greedy-selection weights, because that validated better than the best trial) or
  ``single`` (the best trial), each member with its weight, parameters, configured
  ``log_target`` and the networks its model is made of (their specs: one, or all the trial
  averaged with its ``link``), the ``link`` the members combine with, the build_final record
  (``final``: validation and test metrics of the final model, the best trial and the
  baseline) and the ``baseline``. When no ensemble can be built (no trial saved validation
  predictions, the trials saw other rows), it is the best trial alone with its observed
  validation metrics, and the baseline fitted on its own. Everything the retrain needs is in the choice: it reads no trial output.
* The choice round-trips through JSON (:data:`CHOICE_FORMAT`); :meth:`FinalChoice.metrics`
  are the numbers the aggregate step shows in the KFP UI; :func:`retrain_choice` refits it
  (:mod:`latticenas.retrain`) into a model directory.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError

log = logging.getLogger(__name__)

CHOICE_FORMAT = "latticenas-final-choice/1"

__all__ = ["CHOICE_FORMAT", "ChoiceMember", "FinalChoice", "choose_final", "retrain_choice", "trial_outputs"]


@dataclass(frozen=True)
class ChoiceMember:
    """One trial of the final model: its weight and what its model is made of."""

    trial: str
    weight: float
    parameters: dict[str, Any]
    networks: tuple[dict, ...]  # {"id": network id, "spec": ArchitectureSpec JSON}
    log_target: bool | None = None
    link: str = "identity"  # how its networks combine, when several


@dataclass(frozen=True)
class FinalChoice:
    """The final model of a search (see the module docstring)."""

    kind: str  # "ensemble" | "single"
    objective: str  # the experiment's objective metric, e.g. val-rmse
    metric: str  # the bare metric the selection used, e.g. rmse
    link: str
    members: tuple[ChoiceMember, ...]
    best_trial: str
    best_objective: float | None = None  # the best trial's reported objective value
    final: dict | None = None  # latticenas.final.FinalModel.to_dict() (no directory)
    baseline: dict | None = None  # latticenas.baseline.BaselineResult.to_dict()
    extra: dict = field(default_factory=dict)

    @property
    def objective_metric(self) -> str:
        """The objective without its ``val-`` prefix (``rmse``): its name among test metrics."""
        return self.objective.removeprefix("val-")

    @property
    def val_objective(self) -> float | None:
        """The final model's validation value of the objective: the ensemble's, or the best
        trial's reported one (what the registered lineage says as ``val-*``)."""
        if self.kind == "ensemble" and self.final:
            value = self.final["val_metrics"].get(self.objective_metric)
            return None if value is None else float(value)
        return self.best_objective

    @property
    def network_count(self) -> int:
        return sum(len(m.networks) for m in self.members)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["members"] = [dict(m.__dict__, networks=list(m.networks)) for m in self.members]
        return {"format": CHOICE_FORMAT, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinalChoice:
        if not isinstance(data, Mapping) or data.get("format") != CHOICE_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise LatticeNASError(f"not a final-model choice (format {found!r}, expected {CHOICE_FORMAT!r}); "
                                  "pass the final_model output of the aggregate step")
        try:
            members = tuple(ChoiceMember(**{**m, "networks": tuple(m["networks"])}) for m in data["members"])
            values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**{**values, "members": members})
        except (KeyError, TypeError) as exc:
            raise LatticeNASError(f"a malformed final-model choice ({type(exc).__name__}: {exc}); "
                                  "pass the final_model output of the aggregate step") from exc

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=float) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> FinalChoice:
        from latticenas.data import read_bytes

        return cls.from_dict(json.loads(read_bytes(str(path))))

    def final_model(self):
        """The :class:`latticenas.final.FinalModel` record (for the report), or None."""
        from latticenas.final import FinalModel

        return FinalModel.from_dict(self.final) if self.final else None

    def summary(self) -> dict[str, Any]:
        """What the model directory and the registration record of the choice."""
        final = self.final or {}
        return {"kind": self.kind, "metric": self.metric, "link": self.link, "best_trial": self.best_trial,
                "members": [{"trial": m.trial, "weight": m.weight, "networks": [n["id"] for n in m.networks]}
                            for m in self.members],
                "val_metrics": final.get("val_metrics"), "best_trial_val_metrics": final.get("best_trial_val_metrics"),
                "baseline": self.baseline}

    def metrics(self) -> dict[str, float]:
        """``final-val-*``, ``best-trial-val-*``, ``baseline-val-*`` and the same on test (the
        search-time models, before the retrain), plus ``ensemble-size`` (trials in the model)."""
        final, baseline = self.final or {}, self.baseline or {}
        out: dict[str, float] = {}
        for prefix, metrics in (("final-val", final.get("val_metrics")), ("final-test", final.get("test_metrics")),
                                ("best-trial-val", final.get("best_trial_val_metrics")),
                                ("best-trial-test", final.get("best_trial_test_metrics")),
                                ("baseline-val", baseline.get("val_metrics")),
                                ("baseline-test", baseline.get("test_metrics"))):
            out.update({f"{prefix}-{k}": float(v) for k, v in (metrics or {}).items() if finite(v)})
        out["ensemble-size"] = float(len(self.members))
        return out


def finite(value: Any) -> bool:
    """A real number that is not NaN or infinite (the metrics the pipeline reports)."""
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------------------ choosing


def trial_outputs(results, experiment_dir: str | Path | None) -> dict[str, str]:
    """``{trial name: its output location}`` for the search's backend (module docstring)."""
    from latticenas.data import join_uri

    if results.backend == "katib":
        root = (results.extra or {}).get("output_root")
        if not root:
            raise LatticeNASError("the katib search results name no output_root: pass the trials output of the search step")
        return {t.name: join_uri(str(root), t.name) for t in results.trials}
    if experiment_dir is None:
        raise LatticeNASError("a local search's trial outputs are in its experiment output: pass it (experiment_dir)")
    from latticenas.runner.workspace import Workspace

    workspace = Workspace(Path(experiment_dir) / "run")
    return {t.name: str(workspace.output_dir(t.name)) for t in results.trials}


def choose_final(results, prepared, outputs: Mapping[str, str], directory: str | Path | None = None) -> FinalChoice:
    """The final model of ``results`` on ``prepared`` (see the module docstring); the fused
    search-time model goes to ``directory`` (default: a temporary one, removed)."""
    from latticenas.final import Candidate, build_final

    objective = results.experiment.objective
    sign = 1.0 if objective.minimize else -1.0
    scored = sorted((t for t in results.trials if t.objective is not None and t.name in outputs),
                    key=lambda t: (sign * t.objective, t.index))
    if not scored:
        raise LatticeNASError(f"search {results.name}: no trial reported {objective.metric}; nothing to build a model from")
    candidates = [Candidate(t.name, outputs[t.name], t.objective) for t in scored]
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            final = build_final(candidates, objective.metric, Path(directory or tmp) / "final",
                                dataset=_trial_view(prepared))
        except LatticeNASError as exc:
            log.warning("no ensemble of the trials (%s): the final model is the best trial", exc)
            final = None
    if final is None:
        final = _best_alone(results, scored[0], prepared, outputs[scored[0].name])
    record = {**final.to_dict(), "directory": ""}  # build_final's temporary place is gone
    members = tuple(_member(m["trial"], float(m["weight"]), outputs[m["trial"]]) for m in final.members)
    link = _link(prepared.schema.task, outputs[members[0].trial])
    log.info("final model: %s of %s", final.kind, ", ".join(f"{m.trial} x{m.weight:g}" for m in members))
    return FinalChoice(kind=final.kind, objective=objective.metric, metric=final.metric, link=link, members=members,
                       best_trial=scored[0].name, best_objective=float(scored[0].objective), final=record,
                       baseline=final.baseline)


def _best_alone(results, best, prepared, output: str):
    """The final model when no ensemble could be built: the best trial, its observed
    validation metrics, the baseline fitted on its own."""
    from latticenas.final import FinalModel, objective_metric

    observed = {k.removeprefix("val-"): v for k, v in results.observed(best).items() if k.startswith("val-")}
    return FinalModel(directory="", kind="single", metric=objective_metric(results.experiment.objective.metric,
                                                                            prepared.schema.task),
                      members=[{"trial": best.name, "weight": 1}], val_metrics=observed, best_trial=best.name,
                      best_trial_val_metrics=observed, baseline=_baseline(prepared, output))


def _trial_view(prepared):
    from latticenas.pipeline.prepared import trial_view

    return trial_view(prepared)


def _json(*parts: str) -> dict:
    from latticenas.data import join_uri, read_bytes

    return json.loads(read_bytes(join_uri(*parts)))


def _member(trial: str, weight: float, output: str) -> ChoiceMember:
    """A trial's parameters and the networks its model (``best/model.keras``) is made of."""
    from latticenas import artifacts as layout

    params = _json(output, layout.PARAMS)
    best = _json(output, layout.BEST, layout.METRICS)
    ids = list(best["members"]) if best.get("members") else [best["network_id"]]
    networks = tuple({"id": i, "spec": _json(output, layout.NETWORKS, i, layout.SPEC)} for i in ids)
    return ChoiceMember(trial=trial, weight=weight, parameters=dict(params["parameters"]), networks=networks,
                        log_target=params.get("log_target"), link=str(best.get("link") or "identity"))


def _link(task, output: str) -> str:
    """How members combine: in log space when the (best) trial trained on the log target."""
    from latticenas import artifacts as layout
    from latticenas.ensemble import link_for

    contract = _json(output, layout.BEST, layout.PREPROCESSING)
    return link_for(task, bool((contract.get("target_transform") or {}).get("log")))


def _baseline(prepared, output: str) -> dict | None:
    from latticenas import artifacts as layout
    from latticenas.baseline import run_baseline

    params = _json(output, layout.PARAMS)
    try:
        result = run_baseline(prepared.dataset, log_target=params.get("log_target"),
                              seed=int(params["parameters"].get("seed", 0)))
    except LatticeNASError as exc:
        log.warning("no baseline: %s", exc)
        return None
    return result.to_dict()


# ------------------------------------------------------------------------------ refitting


def retrain_choice(choice: FinalChoice, dataset, output_dir: str, *, seed: int = 0):
    """Refit ``choice`` on ``dataset``'s train + validation rows, test it, write ``output_dir``
    (:func:`latticenas.retrain.retrain_best` for one network, :func:`~latticenas.retrain.retrain_ensemble`
    otherwise); ``metrics.json`` gets the choice's :meth:`~FinalChoice.summary` as ``final``."""
    from latticenas.arch import ArchitectureSpec
    from latticenas.params import ParameterSet
    from latticenas.retrain import Member, retrain_best, retrain_ensemble

    members = [Member(name=m.trial, weight=m.weight, params=ParameterSet.from_mapping(m.parameters),
                      specs=tuple(ArchitectureSpec.from_json(json.dumps(n["spec"])) for n in m.networks),
                      log_target=m.log_target, link=m.link) for m in choice.members]
    extra = {"final": choice.summary()}
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if choice.network_count == 1:
        [member] = members
        return retrain_best(member.specs[0], member.params, dataset, str(output_dir), seed=seed,
                            log_target=member.log_target, extra=extra)
    return retrain_ensemble(members, dataset, str(output_dir), link=choice.link, seed=seed, extra=extra)
