"""The search step's ``mop`` backend: a real search by Model Hopper Parallelism on a LocalCluster
of two worker processes (real Dask, real TensorFlow), read back as the step's outputs and
aggregated by the unchanged aggregate step; and the requests it refuses with one line."""

from __future__ import annotations

import logging

import pytest
import yaml
from pipeline_helpers import TINY_SPACE

from latticenas.errors import LatticeNASError
from latticenas.mop.partitions import read_manifest
from latticenas.pipeline import steps
from latticenas.pipeline.outcome import SearchOutcome
from latticenas.pipeline.prepared import prepare
from latticenas.pipeline.search import run_search
from latticenas.runner.trials import TrialState

pytest.importorskip("distributed")


@pytest.fixture
def prepared(houses_csv):
    return prepare(str(houses_csv), "price")


def test_a_mop_search_gives_the_steps_outputs_and_aggregate_reads_its_trials(prepared, tmp_path, caplog):
    work = tmp_path / "search"
    with caplog.at_level(logging.WARNING, logger="latticenas.mop"):
        searched = steps.search(prepared, search_space=TINY_SPACE, work_dir=work, search_backend="mop", max_trials=2,
                                parallel_trials=2, epochs=2, mop_partitions=2)
    # the searched parameters, fixed: the trial default where the space allows it, else its first value
    assert "maximum_levels=1, maximum_neurons_per_unit=8, learning_rate=0.003" in caplog.text
    results = searched.results
    assert results.backend == "mop" and results.status == "Succeeded"
    assert [t.state for t in results.trials] == [TrialState.SUCCEEDED] * 2
    assert sorted(t.params["seed"] for t in results.trials) == [0, 1]
    planned = yaml.safe_load((work / "experiment.yaml").read_text())["metadata"]["name"]
    assert results.manifest["metadata"]["name"] == planned  # the run is named as the Experiment, not "run-grid"
    best = searched.best_parameters
    assert best.backend == "mop" and best.trial in {t.name for t in results.trials}
    assert best.assignments == {"seed": str(results.best().params["seed"])}
    assert {k: best.parameters[k] for k in ("maximum_levels", "maximum_neurons_per_unit", "learning_rate", "epochs",
                                            "number_of_architecture_moities_to_try")} == {
        "maximum_levels": 1, "maximum_neurons_per_unit": 8, "learning_rate": 0.003, "epochs": 2,
        "number_of_architecture_moities_to_try": 1}
    assert best.trial_config["val_fraction"] == pytest.approx(0.3) and best.trial_config["test_fraction"] == 0

    # the partitions hold the search table only: the prepared train rows, validation aside, no test rows
    manifest = read_manifest(str(work / "run" / "mop" / "partitions"))
    assert len(manifest.rows) == 2 and sum(manifest.rows) == len(prepared.dataset.train)
    assert manifest.validation_rows == len(prepared.dataset.val) and manifest.test_rows == 0

    # the step's files, read back as the aggregate component does, then the aggregate step unchanged
    files = {name: str(tmp_path / f"{name}.json") for name in ("trials", "best_parameters", "best_spec")}
    searched.write(**files)
    again = SearchOutcome.read(**files, work_dir=work)
    aggregated = steps.aggregate(prepared, again, tmp_path / "report")
    assert aggregated.choice.kind in ("single", "ensemble")
    assert {m.trial for m in aggregated.choice.members} <= {t.name for t in results.trials}
    assert aggregated.report.html.is_file() and len(aggregated.leaderboard()) >= 2
    assert aggregated.final_metrics  # validation and test values of the final model, trial and baseline


def test_a_mop_search_refuses_what_it_cannot_run(prepared, tmp_path):
    for options, message in (
        ({"time_budget": "5m"}, "the mop backend has no time budget"),
        ({"mop_scheduler": "tcp://127.0.0.1:1"}, "needs trial_output_root, where its workers read the partitions"),
        ({"mop_scheduler": "127.0.0.1:8786"}, "mop scheduler: '127.0.0.1:8786' is not a Dask scheduler address"),
        ({"mop_partitions": -1}, "mop partitions must be a whole number >= 0"),
    ):
        with pytest.raises(LatticeNASError, match=message) as caught:
            run_search(prepared, backend="mop", search_space=TINY_SPACE, work_dir=tmp_path / "w", **options)
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "w").exists()  # refused before anything was written
    plateau = TINY_SPACE.replace("  patience: 0\n", "  patience: 0\n  learning_rate_schedule: plateau\n")
    with pytest.raises(LatticeNASError, match="learning_rate_schedule=plateau is not supported by mop"):
        run_search(prepared, backend="mop", search_space=plateau, work_dir=tmp_path / "p")
    assert not (tmp_path / "p" / "run" / "experiment.db").exists()  # before a cluster or a trial
