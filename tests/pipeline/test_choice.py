"""latticenas.pipeline.choice: the pipeline's final model from a search's trials, on the
prepared rows, and its refit.

The trials are real trial-program runs writing to the Cloud Storage emulator, as Katib trials
write to ``trial_output_root`` (``duo_search`` in conftest.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from latticenas import artifacts as layout
from latticenas.aggregate import SearchResults
from latticenas.arch import ArchitectureSpec
from latticenas.data import join_uri, read_bytes
from latticenas.ensemble import combine
from latticenas.errors import LatticeNASError
from latticenas.evaluation import regression_metrics
from latticenas.pipeline.choice import FinalChoice, choose_final, retrain_choice, trial_outputs
from latticenas.pipeline.prepared import trial_view
from latticenas.predict import Predictor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def duo_choice(duo_search, tmp_path_factory):
    directory = tmp_path_factory.mktemp("choice")
    choice = choose_final(duo_search.results, duo_search.prepared, trial_outputs(duo_search.results, None), directory)
    return choice, directory


def _val_predictions(root: str, trial: str):
    return layout.read_val_predictions(read_bytes(join_uri(root, trial, layout.VAL_PREDICTIONS)).decode())


def _trial_predictor(root: str, trial: str, tmp: Path) -> Predictor:
    for name in (layout.MODEL, layout.PREPROCESSING):
        (tmp / name).write_bytes(read_bytes(join_uri(root, trial, layout.BEST, name)))
    return Predictor.load(tmp)


def test_the_trials_validation_rows_are_the_prepared_ones_by_their_numbers(duo_search, tmp_path):
    prepared, view = duo_search.prepared, trial_view(duo_search.prepared)
    n_train, n_val = len(prepared.dataset.train), len(prepared.dataset.val)
    assert list(view.train.index) == list(range(n_train)) and list(view.val.index) == list(range(n_train, n_train + n_val))
    assert view.val.reset_index(drop=True).equals(prepared.dataset.val.reset_index(drop=True))
    for trial in duo_search.results.trials:
        rows, predictions = _val_predictions(duo_search.root, trial.name)
        assert list(rows) == list(view.val.index)
        # the same rows, in the same order: the trial's model predicts the prepared validation part alike
        again = _trial_predictor(duo_search.root, trial.name, tmp_path).predict(prepared.dataset.val).ravel()
        np.testing.assert_allclose(again, predictions, rtol=1e-4)


def test_the_ensemble_of_the_trials_validates_better_and_stands_beside_the_baseline(duo_search, duo_choice):
    choice, directory = duo_choice
    names = [t.name for t in duo_search.results.trials]
    best = duo_search.results.best().name
    assert choice.kind == "ensemble" and choice.best_trial == best and choice.objective == "val-rmse"
    assert sorted(m.trial for m in choice.members) == sorted(names) and choice.members[0].trial == best
    metrics = choice.metrics()
    assert metrics["final-val-rmse"] < metrics["best-trial-val-rmse"] == pytest.approx(duo_search.results.best().objective)
    for name in ("baseline-val-rmse", "baseline-test-rmse", "final-test-rmse", "best-trial-test-rmse", "baseline-val-r2"):
        assert np.isfinite(metrics[name]), name
    assert metrics["ensemble-size"] == 2.0

    # the selection's numbers are the weighted mean of the trials' predictions on the prepared rows
    truth = duo_search.prepared.dataset.val["price"].to_numpy()
    mean = combine([_val_predictions(duo_search.root, m.trial)[1] for m in choice.members],
                   [m.weight for m in choice.members], choice.link)
    assert regression_metrics(truth, mean)["rmse"] == pytest.approx(metrics["final-val-rmse"])
    fused = Predictor.load(directory / "final").predict(duo_search.prepared.dataset.val).ravel()
    np.testing.assert_allclose(fused, mean, rtol=1e-4)

    # each member carries what the retrain needs: its parameters and its networks' specs
    for member in choice.members:
        params = json.loads(read_bytes(join_uri(duo_search.root, member.trial, layout.PARAMS)))
        assert member.parameters == params["parameters"] and member.log_target == params["log_target"]
        [network] = member.networks
        spec = ArchitectureSpec.from_json(json.dumps(network["spec"]))
        best_spec = ArchitectureSpec.from_json(read_bytes(join_uri(duo_search.root, member.trial, layout.BEST, layout.SPEC)))
        assert spec.content_hash == best_spec.content_hash and network["id"] == "m0-t0"
    contract = json.loads(read_bytes(join_uri(duo_search.root, best, layout.BEST, layout.PREPROCESSING)))
    assert choice.link == ("log1p" if contract["target_transform"]["log"] else "identity")


def test_the_choice_round_trips_and_bad_documents_are_refused(duo_choice, tmp_path):
    choice, _ = duo_choice
    assert FinalChoice.read(choice.write(tmp_path / "choice.json")) == choice
    assert choice.final_model().kind == "ensemble" and choice.final_model().baseline == choice.baseline
    with pytest.raises(LatticeNASError, match="not a final-model choice .* pass the final_model output"):
        FinalChoice.from_dict({"format": "latticenas-trials/1"})
    broken = {**choice.to_dict(), "members": [{"trial": "x"}]}
    with pytest.raises(LatticeNASError, match="malformed final-model choice"):
        FinalChoice.from_dict(broken)


def test_without_validation_predictions_the_best_trial_stands_alone(duo_search, tmp_path, caplog):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket, prefix = duo_search.root.removeprefix("gs://").split("/", 1)
    client = storage.Client(project="latticenas-test", credentials=AnonymousCredentials())
    for blob in client.list_blobs(bucket, prefix=prefix + "/"):
        relative = blob.name.removeprefix(prefix + "/")
        if relative.endswith(layout.VAL_PREDICTIONS) or relative.startswith("data/"):
            continue  # trials of a version that saved no validation predictions
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(blob.download_as_bytes())
    results = SearchResults(manifest=duo_search.results.manifest, trials=duo_search.results.trials, backend="katib",
                            extra={"output_root": str(tmp_path)})
    with caplog.at_level(logging.WARNING):
        choice = choose_final(results, duo_search.prepared, trial_outputs(results, None))
    best = duo_search.results.best()
    assert "no finished trial saved validation predictions" in caplog.text
    assert choice.kind == "single" and [m.trial for m in choice.members] == [best.name]
    metrics = choice.metrics()
    assert metrics["final-val-rmse"] == metrics["best-trial-val-rmse"] == pytest.approx(best.objective)
    assert np.isfinite(metrics["baseline-val-rmse"]) and np.isfinite(metrics["baseline-test-rmse"])
    assert "final-test-rmse" not in metrics and metrics["ensemble-size"] == 1.0


def test_trial_outputs_per_backend(duo_search, tmp_path):
    results = duo_search.results
    assert trial_outputs(results, None) == {t.name: f"{duo_search.root}/{t.name}" for t in results.trials}
    local = SearchResults(manifest=results.manifest, trials=results.trials, backend="local")
    assert trial_outputs(local, tmp_path) == {t.name: str(tmp_path / "run" / "trials" / t.name / "output")
                                              for t in results.trials}
    with pytest.raises(LatticeNASError, match="pass it"):
        trial_outputs(local, None)
    with pytest.raises(LatticeNASError, match="no output_root"):
        trial_outputs(SearchResults(manifest=results.manifest, trials=results.trials, backend="katib"), None)


def test_the_ensemble_is_refit_member_by_member_on_train_and_validation(duo_search, duo_choice, tmp_path):
    choice, _ = duo_choice
    dataset = duo_search.prepared.dataset
    result = retrain_choice(choice, dataset, str(tmp_path / "model"), seed=0)
    model = tmp_path / "model"
    ensemble = json.loads((model / "ensemble.json").read_text())
    assert [(m["trial"], m["weight"]) for m in ensemble["members"]] == [(m.trial, m.weight) for m in choice.members]
    assert ensemble["link"] == choice.link and result.ensemble_path == str(model / "ensemble.json")
    record = json.loads((model / "metrics.json").read_text())
    assert record["final"]["kind"] == "ensemble" and record["final"]["baseline"] == choice.baseline
    assert [len(m["networks"]) for m in record["training"]["members"]] == [1, 1]
    assert record["rows"]["fit"] + record["rows"]["early_stopping"] == len(dataset.train) + len(dataset.val)
    first = ArchitectureSpec.from_json((model / "spec.json").read_text())
    assert first.content_hash == ArchitectureSpec.from_json(json.dumps(choice.members[0].networks[0]["spec"])).content_hash
    assert (model / "saved_model" / "1" / "saved_model.pb").is_file()
    predictions = Predictor.load(model).predict(dataset.test).ravel()
    assert regression_metrics(dataset.test["price"].to_numpy(), predictions) == pytest.approx(result.test_metrics, rel=1e-5)
