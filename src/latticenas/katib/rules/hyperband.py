"""Katib's hyperband: its suggestion service's schedule, and its exchange with the controller.

**The service** (``pkg/suggestion/v1beta1/hyperband/service.py``) keeps its state in the
Suggestion's algorithm settings, written back as ``str()`` after each request and read again
with ``int(float(...))`` (``eta`` and ``r_l`` with ``float``): :class:`HyperbandState`. Per
request for ``n`` assignments (it *overwrites* its ``n`` with the request's number):

* no rung running (``evaluating_trials == 0``): a new rung 0 of bracket ``current_s``: ``n``
  random configurations with resource ``int(r)``, where ``r = r_l * eta**-s`` (a float in the
  first call, truncated by the round trip afterwards);
* otherwise a promotion: the latest ``evaluating_trials`` trials by start time must all have
  Succeeded (else it raises), and the best ``ceil(ceil(n * eta**-i) / eta)`` of them run again
  with resource ``int(r * eta**i)`` for the next rung ``i``;
* ``s_max = int(log(r_l) / log(eta))``, no epsilon: ``r_l=243, eta=3`` gives 4.

**The controller** (``pkg/controller.v1beta1/experiment/experiment_controller.go``
``ReconcileTrials`` and ``suggestionclient.go`` ``SyncAssignments``) asks for
``min(parallelTrialCount, maxTrialCount - completed) - active`` assignments whenever a trial
slot is free, and rejects a reply whose length differs ("The response contains unexpected
trials"), keeping nothing of it, so the service's state does not move. The Experiment only ends
by its goal, its failures or ``maxTrialCount``: never because hyperband is done.

So a promotion, which returns ``ceil(request / eta)`` or fewer assignments, is accepted only when
exactly one is requested; with ``parallelTrialCount >= eta**s_max >= 2`` that happens only when
one trial of ``maxTrialCount`` is left. :func:`exchange` plays the controller against the
service (trials finish one at a time, in creation order, and all succeed); :func:`budget` is the
rule the generator follows: ``maxTrialCount = parallelTrialCount + 1`` (rung 0 of the first
bracket, then its best configuration at ``eta`` times the resource) when ``s_max >= 1``, else
``parallelTrialCount`` (one bracket of one rung).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from latticenas.katib.rules.names import DEFAULT_PARALLEL_TRIAL_COUNT


def s_max(r_l: float, eta: float) -> int:
    return int(math.log(r_l) / math.log(eta))


def service_eta(value: str | float) -> float:
    """The eta the service computes with (``float``; ``<= 0`` means 3)."""
    eta = float(value)
    return 3.0 if eta <= 0 else eta


def validation_eta(value: str | float) -> int:
    """The eta ValidateAlgorithmSettings checks parallelTrialCount with (``int(float())``)."""
    eta = int(float(value))
    return 3 if eta <= 0 else eta


def min_parallel(r_l: float, eta_value: str | float) -> int:
    """The smallest parallelTrialCount Katib's hyperband accepts: ``ceil(eta**s_max)``."""
    eta = validation_eta(eta_value)
    return int(math.ceil(eta ** s_max(r_l, eta)))


@dataclass(frozen=True)
class HyperbandState:
    """HyperBandParam, as it lives between two requests."""

    eta: float
    s_max: int
    r_l: float
    b_l: float
    r: float
    n: int
    current_s: int
    current_i: int
    resource_name: str
    evaluating_trials: int

    @classmethod
    def convert(cls, settings: Mapping[str, str]) -> HyperbandState:
        """HyperBandParam.convert: the state from the (written-back) algorithm settings."""
        get = settings.get
        num = lambda key, default: int(float(get(key))) if get(key) is not None else default  # noqa: E731
        eta = float(get("eta", 3))
        r_l = float(get("r_l", -1))
        state = cls(eta, num("s_max", -1), r_l, float(get("b_l", -1)), num("r", -1), num("n", -1),
                    num("current_s", -2), num("current_i", -1), get("resource_name", ""),
                    num("evaluating_trials", 0))
        if state.current_s == -1:
            return state  # the outer loop has finished
        eta = 3.0 if state.eta <= 0 else state.eta
        smax = state.s_max if state.s_max >= 0 else int(math.log(r_l) / math.log(eta))
        s = state.current_s if state.current_s >= 0 else smax
        return replace(
            state, eta=eta, s_max=smax,
            b_l=state.b_l if state.b_l >= 0 else (smax + 1) * r_l,
            current_s=s, current_i=max(state.current_i, 0),
            n=state.n if state.n >= 0 else _bracket_n(smax, eta, s),
            r=state.r if state.r >= 0 else r_l * eta ** (-s),
        )

    def generate(self) -> dict[str, str]:
        """HyperBandParam.generate: the settings written back into the Suggestion."""
        return {"eta": str(self.eta), "s_max": str(self.s_max), "r_l": str(self.r_l),
                "b_l": str(self.b_l), "r": str(self.r), "n": str(self.n),
                "current_s": str(self.current_s), "current_i": str(self.current_i),
                "resource_name": self.resource_name,
                "evaluating_trials": str(self.evaluating_trials)}


def _bracket_n(smax: int, eta: float, s: int) -> int:
    return int(math.ceil(float(smax + 1) * (float(eta**s) / float(s + 1))))


@dataclass(frozen=True)
class Reply:
    """What one GetSuggestions call does: ``promote`` (pick the best ``count`` of the latest
    ``ranked`` trials) or not (``count`` new random configurations), every assignment with
    ``resource``; ``state`` is written back. ``count == 0`` with ``done``: the loop is over."""

    count: int
    resource: int
    promote: bool
    ranked: int
    bracket: int
    rung: int
    state: HyperbandState
    done: bool = False


def reply(state: HyperbandState, request: int) -> Reply:
    """The service's answer to a request for ``request`` assignments (trials not checked)."""
    if state.current_s < 0:
        return Reply(0, 0, False, 0, state.current_s, 0, state, done=True)
    state = replace(state, n=request)
    bracket, ranked = state.current_s, state.evaluating_trials
    if state.evaluating_trials == 0:
        count, resource, promote = state.n, int(state.r), False
    else:
        n_i = math.ceil(state.n * state.eta ** (-state.current_i))
        count, promote = int(math.ceil(n_i / state.eta)), True
        state = _next_rung(state)
        resource = int(state.r * state.eta**state.current_i)
    rung = state.current_i if promote else 0
    evaluating = count if state.current_i < state.current_s else 0
    state = replace(state, evaluating_trials=evaluating)
    if evaluating == 0:
        state = _next_bracket(state)
    return Reply(count, resource, promote, ranked, bracket, rung, state)


def _next_rung(state: HyperbandState) -> HyperbandState:
    state = replace(state, current_i=state.current_i + 1)
    return _next_bracket(state) if state.current_i > state.current_s else state


def _next_bracket(state: HyperbandState) -> HyperbandState:
    s = state.current_s - 1
    state = replace(state, current_s=s, current_i=0)
    if s >= 0:
        state = replace(state, n=_bracket_n(state.s_max, state.eta, s), r=state.r_l * state.eta ** (-s))
    return state


def round_trip(state: HyperbandState) -> HyperbandState:
    """The state as the next request reads it back from the Suggestion status."""
    return HyperbandState.convert(state.generate())


@dataclass(frozen=True)
class Rung:
    bracket: int
    rung: int
    size: int
    resource: int


@dataclass(frozen=True)
class Exchange:
    """What a Katib controller does with a hyperband Experiment: the rungs it creates, and
    whether it ends (``maxTrialCount`` reached) or stalls (``reason``)."""

    rungs: tuple[Rung, ...]
    completes: bool
    reason: str = ""

    @property
    def trials(self) -> int:
        return sum(r.size for r in self.rungs)


def exchange(settings: Mapping[str, str], parallel: int | None, max_trials: int | None) -> Exchange:
    """Play Katib's controller against the service until the Experiment ends or stalls."""
    parallel = DEFAULT_PARALLEL_TRIAL_COUNT if parallel is None else parallel
    state = HyperbandState.convert(dict(settings))
    rungs: list[Rung] = []
    running: list[int] = []  # sizes of the rungs still running, oldest first (as trial counts)
    completed = active = 0
    for _ in range(100_000):
        if max_trials is not None and completed >= max_trials:
            return Exchange(tuple(rungs), True)
        room = (parallel if max_trials is None else min(parallel, max_trials - completed)) - active
        if room > 0 and not (state.evaluating_trials and active):  # a promotion needs its rung done
            answer = reply(state, room)
            if answer.count == room:
                state = round_trip(answer.state)
                rungs.append(Rung(answer.bracket, answer.rung, answer.count, answer.resource))
                active += answer.count
                continue
            if active == 0:
                last = f"rung {rungs[-1].rung} of bracket {rungs[-1].bracket}" if rungs else "nothing"
                what = ("the hyperband service has finished and returns nothing" if answer.done else
                        f"after {last} the service returns {answer.count} assignment(s)")
                return Exchange(tuple(rungs), False,
                                f"{what} for the controller's request of {room}, which rejects the "
                                f"reply ('The response contains unexpected trials'), so the "
                                f"Experiment stays Running after {completed} trials")
        if active == 0:  # pragma: no cover - every branch above continues or returns
            break
        active, completed = active - 1, completed + 1
    return Exchange(tuple(rungs), False, "the exchange did not settle")  # pragma: no cover


def budget(r_l: float, eta: str | float, parallel: int, resource_name: str = "resource") -> tuple[int, int]:
    """``(parallelTrialCount, maxTrialCount)`` for a hyperband Experiment that a Katib
    controller runs to its end: at least ``eta**s_max`` in parallel, and as many trials as the
    exchange accepts (the largest count with which :func:`exchange` completes)."""
    parallel = max(parallel, min_parallel(r_l, eta))
    settings = {"r_l": str(r_l), "eta": str(eta), "resource_name": resource_name}
    best = parallel
    for max_trials in range(parallel, parallel + 3):
        if exchange(settings, parallel, max_trials).completes:
            best = max_trials
    return parallel, best


def service_schedule(r_l: float, eta: str | float) -> tuple[tuple[Rung, ...], ...]:
    """Every bracket's rungs as the service computes them when each request asks exactly for
    the bracket's own ``n`` (what a controller would need to ask for the whole of hyperband)."""
    state = HyperbandState.convert({"r_l": str(r_l), "eta": str(eta)})
    brackets: list[tuple[Rung, ...]] = []
    while state.current_s >= 0:
        s, n, rungs = state.current_s, state.n, []
        while state.current_s == s:
            answer = reply(state, n)
            rungs.append(Rung(answer.bracket, answer.rung, answer.count, answer.resource))
            state = round_trip(answer.state)
        brackets.append(tuple(rungs))
    return tuple(brackets)


@dataclass(frozen=True)
class Dimension:
    """One parameter as the hyperband service samples it (``parsing_util.py``): ``int`` and
    ``double`` uniformly between ``low`` and ``high`` (step and distribution ignored; ints
    rounded), ``discrete`` the listed whole number nearest a uniform draw, ``categorical`` the
    value whose uniform one-hot draw is largest."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    values: tuple = ()


def random_configuration(dimensions: Sequence[Dimension], rng: np.random.RandomState) -> dict[str, Any]:
    """One configuration as ``ParameterConfig.random_sample`` + ``parse_x_next_vector`` draw it:
    a single uniform vector over every dimension (a categorical takes one slot per value)."""
    lower: list[float] = []
    upper: list[float] = []
    for dim in dimensions:
        if dim.kind == "categorical":
            lower += [0.0] * len(dim.values)
            upper += [1.0] * len(dim.values)
        elif dim.kind == "discrete":
            lower.append(min(dim.values))
            upper.append(max(dim.values))
        else:
            lower.append(dim.low)
            upper.append(dim.high)
    sample = rng.uniform(np.array(lower).reshape(1, -1), np.array(upper).reshape(1, -1),
                         size=(1, len(lower)))[0]
    out: dict[str, Any] = {}
    at = 0
    for dim in dimensions:
        if dim.kind == "categorical":
            out[dim.name] = dim.values[int(np.argmax(sample[at:at + len(dim.values)]))]
            at += len(dim.values)
            continue
        x = sample[at]
        at += 1
        if dim.kind == "int":
            out[dim.name] = int(round(x, 0))
        elif dim.kind == "double":
            out[dim.name] = float(x)
        else:
            out[dim.name] = dim.values[int(np.argmin(np.absolute(np.subtract(dim.values, x))))]
    return out
