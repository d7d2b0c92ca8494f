"""latticenas.katib.rules against Katib's code, stated independently here, over many settings;
and every user of a rule (validator, search space, generator, runner) agrees with it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latticenas.katib.generate import build_experiment
from latticenas.katib.rules import filters, grid, shell
from latticenas.katib.rules import hyperband as hb
from latticenas.katib.validate import check_experiment, grid_combinations
from latticenas.runner.algorithms import create_engine
from latticenas.runner.experiment import parse_experiment
from latticenas.space import Parameter, ParameterType, _grid_size, load_space

REPO = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- grid


def katib_double_grid(low: float, high: float, step: float) -> list[float]:
    """search_space.py convert_to_combinations, as Katib writes it."""
    values = np.arange(low, high + step, step)
    return list(values[:-1] if values[-1] > high else values)


two_decimals = st.integers(0, 300).map(lambda k: k / 100)


@settings(max_examples=300, deadline=None)
@given(low=two_decimals, width=st.integers(1, 200), step=st.integers(1, 50))
def test_every_grid_count_is_katibs(low: float, width: int, step: int) -> None:
    high, step_value = round(low + width / 100, 2), step / 100
    expected = len(katib_double_grid(low, high, step_value))
    space = {"min": str(low), "max": str(high), "step": str(step_value)}
    assert len(grid.double_points(low, high, step_value)) == expected
    assert grid_combinations([{"parameterType": "double", "feasibleSpace": space}]) == expected
    assert _grid_size(Parameter("x", ParameterType.DOUBLE, min=low, max=high, step=step_value)) == expected
    assert runner_grid(space) == [float(f"{v:.12g}") for v in katib_double_grid(low, high, step_value)]


def runner_grid(space: dict) -> list:
    """The points the local runner's grid engine assigns for one double parameter."""
    from katib_corpus import experiment

    manifest = experiment("grid", algorithm="grid", maxTrialCount=1,
                          parameters=[{"name": "x", "parameterType": "double", "feasibleSpace": space}])
    return create_engine(parse_experiment(manifest)).values["x"]


def test_runner_grid_has_katibs_points() -> None:
    from katib_corpus import experiment

    space = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.5", "step": "0.2"}},
             {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "7", "step": "3"}}]
    engine = create_engine(parse_experiment(experiment("grid", algorithm="grid", parameters=space, maxTrialCount=6)))
    assert engine.size == len(katib_double_grid(0.1, 0.5, 0.2)) * len(range(1, 8, 3)) == 2 * 3


# ----------------------------------------------------------------------------- hyperband


def katib_bracket(r_l: float, eta: int, s: int, s_max: int) -> list[tuple[int, int]]:
    """service.py for one bracket when every request asks for the bracket's n: rung sizes
    ceil(ceil(n * eta**-i) / eta), resources int(int(r_l * eta**-s) * eta**i)."""
    n = math.ceil((s_max + 1) * (eta**s / (s + 1)))
    first = r_l * eta ** (-s)
    rungs, size = [(n, int(first))], n
    for i in range(s):
        size = math.ceil(math.ceil(n * eta ** (-i)) / eta)
        rungs.append((size, int(int(first) * float(eta) ** (i + 1))))
    return rungs


@pytest.mark.parametrize("eta", [2, 3, 4, 5])
def test_service_schedule_is_katibs(eta: int) -> None:
    for r_l in range(2, 400):
        s_max = int(math.log(r_l) / math.log(eta))
        brackets = hb.service_schedule(r_l, eta)
        assert [b[0].bracket for b in brackets] == list(range(s_max, -1, -1))
        for rungs in brackets:
            got = [(r.size, r.resource) for r in rungs]
            assert got == katib_bracket(r_l, eta, rungs[0].bracket, s_max), (r_l, eta)
        assert hb.min_parallel(r_l, eta) == math.ceil(eta**s_max)


def test_the_projects_hyperband_example_from_the_issue() -> None:
    assert [(r.size, r.resource) for r in hb.service_schedule(25, 3)[0]] == [(9, 2), (3, 6), (1, 18)]
    assert hb.s_max(243, 3) == 4
    stalled = hb.exchange({"r_l": "25", "eta": "3", "resource_name": "epochs"}, 9, 13)
    assert not stalled.completes and stalled.trials == 9 and "request of 4" in stalled.reason


def test_generated_hyperband_experiment_completes_on_katib() -> None:
    space = load_space(REPO / "search_spaces" / "ames.yaml")
    spec = build_experiment(space, "hyperband")["spec"]
    settings_ = {s["name"]: s["value"] for s in spec["algorithm"]["algorithmSettings"]}
    played = hb.exchange(settings_, spec["parallelTrialCount"], spec["maxTrialCount"])
    assert played.completes and played.trials == spec["maxTrialCount"]
    assert [(r.size, r.resource) for r in played.rungs] == [(9, 2), (1, 6)]
    warnings = [i for i in check_experiment(build_experiment(space, "hyperband")) if "stall" in i.message]
    assert warnings == []


# ----------------------------------------------------------------------------- filters

RE2_VALID = [r"(\pL+)=(\d+)", r"metric (?i)(loss)=(\d+)", r"(a)(b)\z", r"([[:alpha:]]+)=(\d+)",
             r"(?P<name>\w+)=(?P<value>\d+)", r"\Qa.b\E(x)(y)", r"(\p{Greek}+)=(\d)", r"([^\pL]+)=(\d)"]
RE2_INVALID = [r"(?=a)(b)(c)", r"(a)(b)\1", r"(a++)(b)", r"(?>a)(b)", r"(a)(b)\Z", r"(?(1)a|b)(c)",
               r"([)(b)", r"(a)(b"]


@pytest.mark.parametrize("pattern", RE2_VALID)
def test_re2_syntax_compiles(pattern: str) -> None:
    assert filters.compile_filter(pattern).groups >= 2


@pytest.mark.parametrize("pattern", RE2_INVALID)
def test_what_re2_refuses_is_refused(pattern: str) -> None:
    with pytest.raises(filters.FilterError):
        filters.compile_filter(pattern)


def test_rewritten_filters_read_what_re2_reads() -> None:
    compiled = filters.compile_filter(r"metric (?i)(loss)\s*=\s*([\d.]+)")
    assert filters.reads(compiled, "metric LOSS = 0.5", "LOSS", 0.5)
    assert filters.reads(filters.compile_filter(r"(\pL+)=([\d.]+)"), "épsilon=0.5", "épsilon", 0.5)


# ----------------------------------------------------------------------------- shell


@pytest.mark.parametrize(("words", "script", "expected"), [
    (["python", "--x=${trialParameters.x}"], False, []),
    (["python", '--x="${trialParameters.x}"'], False, []),
    (["python", "--x=a b"], False, ["not shell-safe"]),
    (["python", '--x="a b'], False, ["double quotes open"]),
    (["python", "--x=$HOME"], False, ["expands"]),
    (["python", "#comment"], False, ["not shell-safe"]),
    (["cd /x && python y.py --x='${trialParameters.x}'"], True, []),
    (["python 'open"], True, ["single quotes open"]),
])
def test_shell_scan(words: list[str], script: bool, expected: list[str]) -> None:
    findings, _ = shell.scan(words, script=script)
    assert [f for f in findings if not any(e in f.message for e in expected)] == []
    assert len(findings) == len(expected)


def test_placeholders_know_their_quoting() -> None:
    _, found = shell.scan(["a=${trialParameters.x}", "'${trialParameters.y}'", '"${trialParameters.z}"'], script=False)
    assert [(p.name, p.context) for p in found] == [("x", shell.UNQUOTED), ("y", shell.SINGLE), ("z", shell.DOUBLE)]
    assert shell.value_problem("a b", shell.DOUBLE) is None and shell.value_problem('a"b', shell.DOUBLE)
