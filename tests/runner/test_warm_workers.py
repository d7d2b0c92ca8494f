"""Warm trial workers (``--workers=warm``): which commands they host, that they are reused, and
that a worker's death or a program's crash costs only that trial. The runner's process-trial
tests run over both worker kinds as well (the ``worker_kind`` fixture)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from runner_helpers import FAKE_TRIAL, experiment_manifest, trial_rows, write_manifest

from latticenas.runner.experiment import parse_experiment
from latticenas.runner.process import MetricCollector, TrialCommand, classify
from latticenas.runner.trials import TrialState
from latticenas.runner.warm import HOSTS_ENV, TRIAL_HOST, WarmPool, host_for

OWN_TRIAL = str(Path(sys.executable).parent / "latticenas-trial")


def test_only_this_installations_trial_program_is_hosted(tmp_path, monkeypatch):
    monkeypatch.delenv(HOSTS_ENV, raising=False)
    assert host_for([OWN_TRIAL, "--data=x"]) == (TRIAL_HOST, ["latticenas-trial", "--data=x"])
    assert host_for(["latticenas-trial", "--data=x"]) == (TRIAL_HOST, ["latticenas-trial", "--data=x"])
    assert host_for([sys.executable, "-m", "latticenas.trial", "--data=x"]) == (TRIAL_HOST, ["latticenas-trial", "--data=x"])
    other = tmp_path / "bin" / "latticenas-trial"  # another installation's trial: a process
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert host_for([str(other), "--data=x"]) is None
    assert host_for([sys.executable, str(FAKE_TRIAL)]) is None  # not declared
    assert host_for(["sh", "-c", "latticenas-trial --data=x"]) is None
    assert host_for([]) is None and host_for(["no-such-program"]) is None
    monkeypatch.setenv(HOSTS_ENV, os.pathsep.join(["/elsewhere.py", str(FAKE_TRIAL)]))
    assert host_for([sys.executable, str(FAKE_TRIAL), "--x=1"]) == (f"script:{FAKE_TRIAL}", [str(FAKE_TRIAL), "--x=1"])


@pytest.mark.parametrize("hosted", [True, False])
def test_warm_workers_are_reused_and_processes_are_not(tmp_path, cli, monkeypatch, hosted):
    if hosted:
        monkeypatch.setenv(HOSTS_ENV, str(FAKE_TRIAL))
    else:
        monkeypatch.delenv(HOSTS_ENV, raising=False)
    manifest = experiment_manifest(max_trials=4, parallel=2, trial_args=("--sleep=0.3",))
    code, _, err = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0, err
    rows = trial_rows(tmp_path / "exp")
    assert [r["state"] for r in rows] == ["Succeeded"] * 4
    pids = {r["pid"] for r in rows}
    assert len(pids) == (2 if hosted else 4)  # two warm workers served four trials
    assert os.getpid() not in pids  # never the runner itself


def quad(*args: str) -> TrialCommand:
    return TrialCommand((sys.executable, str(FAKE_TRIAL), *args), {"LATTICENAS_TRIAL_NAME": "t-1"})


def launch(pool: WarmPool, tmp_path: Path, name: str, *args: str):
    experiment = parse_experiment(experiment_manifest())
    collector = MetricCollector(experiment.metric_filters, experiment.objective.metric_names)
    starts = []
    result = pool.run_trial(quad(*args), tmp_path / f"{name}.txt", collector, "loss", on_start=starts.append)
    return result, classify(result, experiment.objective)[0], starts[0].pid


def test_a_worker_that_dies_fails_only_its_trial_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv(HOSTS_ENV, str(FAKE_TRIAL))
    with WarmPool() as pool:
        _, state, first = launch(pool, tmp_path, "a", "--x=0.1", "--steps=2")
        result, died, same = launch(pool, tmp_path, "b", "--x=0.9", "--steps=3", "--die-above=0.5")
        _, after, replaced = launch(pool, tmp_path, "c", "--x=0.1", "--steps=2")
    assert state is TrialState.SUCCEEDED and same == first  # the dying trial ran in the warm worker
    assert died is TrialState.FAILED and result.metrics["loss"]  # what it printed before is kept
    assert "warm worker" in result.message and "SIGKILL" in result.message
    assert "SIGKILL" in (tmp_path / "b.txt").read_text()
    assert after is TrialState.SUCCEEDED and replaced != first  # a fresh worker took over


def test_a_crashing_program_keeps_its_traceback_and_gets_a_fresh_worker(tmp_path, monkeypatch):
    script = tmp_path / "crash.py"
    script.write_text("import os, sys\nprint('pid=' + str(os.getpid()), flush=True)\n"
                      "if '--crash' in sys.argv: raise RuntimeError('a bug in the trial')\n")
    monkeypatch.setenv(HOSTS_ENV, str(script))
    collector = lambda: MetricCollector([r"(\w+)=(\d+)"], ["pid"])  # noqa: E731
    with WarmPool() as pool:
        runs = [pool.run_trial(TrialCommand((sys.executable, str(script), *flag)), tmp_path / f"{i}.txt",
                               collector(), "pid") for i, flag in enumerate([(), ("--crash",), ()])]
    pids = [r.metrics["pid"][0] for r in runs]
    assert [r.exit_code for r in runs] == [0, 1, 0]
    assert "RuntimeError: a bug in the trial" in (tmp_path / "1.txt").read_text()
    assert "Traceback" in (tmp_path / "1.txt").read_text()
    assert pids[0] == pids[1] != pids[2]  # the worker that ran the crash was not reused


def test_a_trials_garbage_is_collected_before_the_next_trial(tmp_path, monkeypatch):
    """The worker freezes what it preloaded (gc.freeze) so that collections are cheap; what a
    trial leaves behind, cycles included, is still collected between trials."""
    script = tmp_path / "cycle.py"
    script.write_text(
        "import gc, sys, weakref\n"
        "class Node: pass\n"
        "probe = sys.modules.setdefault('latticenas_test_probe', type(sys)('latticenas_test_probe'))\n"
        "ref = getattr(probe, 'ref', None)\n"
        "print(f'alive={int(ref is not None and ref() is not None)} frozen={int(gc.get_freeze_count() > 0)}', flush=True)\n"
        "a, b = Node(), Node()\n"
        "a.other, b.other = b, a  # a cycle: only the collector frees it\n"
        "probe.ref = weakref.ref(a)\n")
    monkeypatch.setenv(HOSTS_ENV, str(script))
    collector = lambda: MetricCollector([r"(\w+)=(\d+)"], ["alive", "frozen"])  # noqa: E731
    with WarmPool() as pool:
        runs = [pool.run_trial(TrialCommand((sys.executable, str(script))), tmp_path / f"{i}.txt", collector(), "alive")
                for i in range(2)]
    assert [r.exit_code for r in runs] == [0, 0]
    assert runs[1].metrics["frozen"] == (1.0,)  # the preloaded objects are out of the collector's sight
    assert runs[1].metrics["alive"] == (0.0,)  # the first trial's cycle did not outlive it


@pytest.mark.slow
def test_the_trial_program_gives_the_same_trials_warm_as_in_processes(tmp_path):
    """Two real trials (TensorFlow) in one warm worker, after one another, against two trial
    processes: the same metrics (Keras state is cleared between trials) and the same artifacts."""
    import yaml
    from factories import TINY_SPACE, regression_frame

    from latticenas.api import make_setup
    from latticenas.runner.session import run_experiment
    from latticenas.search_plan import plan_search

    regression_frame(300).to_csv(tmp_path / "houses.csv", index=False)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY_SPACE, sort_keys=False))
    setup = make_setup(tmp_path / "houses.csv", "price", space=tmp_path / "tiny.yaml", algorithm="random",
                       max_trials=2, parallel=1)
    runs = {}
    for kind in ("warm", "process"):
        assert run_experiment(plan_search(setup).experiment, tmp_path / kind, workers=kind, final_model=False) == 0
        runs[kind] = trial_rows(tmp_path / kind)
    warm, process = runs["warm"], runs["process"]
    assert [r["state"] for r in warm] == [r["state"] for r in process] == ["Succeeded"] * 2
    assert len({r["pid"] for r in warm}) == 1 and len({r["pid"] for r in process}) == 2
    for w, p in zip(warm, process):
        assert w["params"] == p["params"]
        assert w["objective"] == pytest.approx(p["objective"], rel=1e-4)
        files = [sorted(x.relative_to(d) for x in d.rglob("*") if x.is_file())
                 for d in (tmp_path / "warm" / "trials" / w["name"] / "output",
                           tmp_path / "process" / "trials" / p["name"] / "output")]
        assert files[0] == files[1] and files[0]
    # the warm worker read the table once: its second trial reused it (same content, same options)
    logs = [(tmp_path / "warm" / "trials" / r["name"] / "logs.txt").read_text() for r in warm]
    assert "reused" not in logs[0] and "the same table as this worker's last trial, reused" in logs[1]
    assert not any("reused" in (tmp_path / "process" / "trials" / r["name"] / "logs.txt").read_text() for r in process)
