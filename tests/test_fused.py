"""Fused training (latticenas.fused): every member trains as it would alone, a diverging member
does not stop the others, and a fused trial writes the same artifacts and metric lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from factories import regression_frame

from latticenas.arch import sample_architectures
from latticenas.data import load_dataset
from latticenas.fused import FusedTrial, Member, should_fuse
from latticenas.metrics import parse_metric_lines
from latticenas.params import ParameterSet
from latticenas.train import NetworkStatus, prepare, train_network
from latticenas.trial import load_trial_data, parse_config
from latticenas.trial_loop import run_trial

pytestmark = pytest.mark.slow

PARAMS = dict(epochs=6, batch_size=32, patience=2, learning_rate=0.01, maximum_levels=2, maximum_units_per_level=3,
              maximum_neurons_per_unit=16, number_of_architecture_moities_to_try=3)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    path = tmp_path_factory.mktemp("fused") / "table.csv"
    regression_frame(300).to_csv(path, index=False)
    params = ParameterSet.from_mapping(PARAMS)
    data = prepare(load_dataset(str(path), "price"), numeric_encoding=params.numeric_encoding)
    specs = sample_architectures(params, output_size=1, final_activation="linear")
    return path, params, data, specs


def test_each_fused_member_matches_training_it_alone(setup):
    _, params, data, specs = setup
    members = [Member(f"m{i}-t0", spec, seed=7) for i, spec in enumerate(specs)]  # one seed: one batch order
    fused = FusedTrial(members, data, params).fit()
    for member, (result, network) in zip(members, fused):
        alone, _ = train_network(member.spec, data, params, network_id=member.network_id, seed=7)
        assert result.status is alone.status is NetworkStatus.SUCCEEDED
        assert (result.epochs_run, result.best_epoch) == (alone.epochs_run, alone.best_epoch)
        for name in ("rmse", "mae", "r2"):
            assert result.metrics[name] == pytest.approx(alone.metrics[name], rel=2e-3)


def test_a_diverging_member_does_not_stop_the_others(setup):
    _, params, data, specs = setup
    members = [Member(f"m{i}-t0", spec, seed=i) for i, spec in enumerate(specs)]
    trial = FusedTrial(members, data, params)
    poisoned = trial.networks[1].core
    poisoned.set_weights([np.full_like(w, np.nan) for w in poisoned.get_weights()])
    results = trial.fit()
    assert results[1][0].status is NetworkStatus.DIVERGED and results[1][1] is None
    for i in (0, 2):
        result, network = results[i]
        assert result.status is NetworkStatus.SUCCEEDED and network is not None
        assert result.epochs_run >= 3 and np.isfinite(result.metrics["rmse"])


def test_fused_and_sequential_trials_write_the_same_artifacts_and_metric_lines(setup, tmp_path):
    path, *_ = setup
    outputs = {}
    for mode in ("on", "off"):
        out = tmp_path / mode
        argv = [f"--data={path}", "--target=price", f"--output-dir={out}", f"--fused={mode}",
                *(f"--{k}={v}" for k, v in PARAMS.items())]
        config = parse_config(argv)
        lines: list[str] = []
        run_trial(config, load_trial_data(config), emit=lines.append)
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        final = parse_metric_lines(lines[-1])
        outputs[mode] = (files, set(final), json.loads((out / "summary.json").read_text()))
    assert outputs["on"][0] == outputs["off"][0]
    assert outputs["on"][1] == outputs["off"][1]
    assert outputs["on"][2]["networks_trained"] == outputs["off"][2]["networks_trained"] == 3


def test_auto_fuses_several_members_on_an_accelerator_under_the_memory_bound():
    assert should_fuse("auto", 4, 100_000, accelerator=True) and not should_fuse("auto", 1, 100_000, accelerator=True)
    assert not should_fuse("auto", 4, 100_000, accelerator=False)  # on a CPU it does not pay (benchmarks)
    assert not should_fuse("auto", 4, 10**9, accelerator=True)
    assert should_fuse("on", 1, 10, accelerator=False) and not should_fuse("off", 8, 10, accelerator=True)
