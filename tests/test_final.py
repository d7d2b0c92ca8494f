"""The final model of a search: greedy ensemble selection over real trials' validation
predictions, one fused Keras model, saved -> loaded -> predicted through Predictor and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from factories import classification_frame, regression_frame

from latticenas import artifacts as layout
from latticenas.cli import main as cli_main
from latticenas.ensemble import combine, greedy_selection, link_for
from latticenas.data import Task
from latticenas.final import Candidate, build_final, load_final
from latticenas.predict import Predictor
from latticenas.trial import load_trial_data, parse_config
from latticenas.trial_loop import run_trial


def test_greedy_selection_prefers_complementary_members():
    truth = np.zeros(4)
    a = np.array([1.0, 1.0, -1.0, -1.0])  # errors cancel with b
    b = -a
    c = np.full(4, 0.9)  # the best single member, but correlated with nothing
    score = lambda p: float(np.sqrt(np.mean((p - truth) ** 2)))  # noqa: E731
    counts = greedy_selection([c, a, b], score, "rmse", "identity")
    assert counts[1] > 0 and counts[2] > 0 and score(combine([c, a, b], counts, "identity")) < score(c)
    assert greedy_selection([c, c + 5], score, "rmse", "identity") == [1, 0]  # nothing helps: the best alone


def test_log_link_averages_in_log_space():
    assert link_for(Task.REGRESSION, True) == "log1p" and link_for(Task.BINARY, True) == "identity"
    np.testing.assert_allclose(combine([np.array([9.0]), np.array([99.0])], [1, 1], "log1p"), [np.sqrt(10 * 100) - 1])


def _trials(tmp_path, frame, target, n=3, **flags):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    candidates = []
    for i in range(n):
        out = tmp_path / f"trial{i}"
        argv = [f"--data={path}", f"--target={target}", f"--output-dir={out}", "--epochs=4", "--batch_size=32",
                "--maximum_levels=2", "--maximum_neurons_per_unit=16", f"--seed={i}", "--learning_rate=0.01",
                *(f"--{k}={v}" for k, v in flags.items())]
        config = parse_config(argv)
        outcome = run_trial(config, load_trial_data(config), emit=lambda line: None)
        candidates.append(Candidate(f"trial{i}", str(out), outcome.best_value))
    return path, candidates


@pytest.mark.slow
@pytest.mark.parametrize("frame, target, objective", [
    (regression_frame(300), "price", "val-rmse"),
    (classification_frame(300, classes=3), "label", "val-logloss"),
])
def test_final_ensemble_saves_loads_and_predicts_like_a_network(tmp_path, frame, target, objective):
    path, candidates = _trials(tmp_path, frame, target, trial_ensemble="always")
    candidates.sort(key=lambda c: c.objective)  # both objectives are minimized
    for c in candidates:  # every trial saved its model's validation predictions, by table row
        rows, _ = layout.read_val_predictions((tmp_path / c.name / layout.VAL_PREDICTIONS).read_text())
        assert len(rows) > 0
        assert len(json.loads((tmp_path / c.name / layout.BEST / layout.METRICS).read_text())["members"]) == 2
    final = build_final(candidates, objective, tmp_path / "final")
    assert final is not None and final.baseline and final.baseline["name"] == "HistGradientBoosting"
    assert final.test_metrics and final.baseline["test_metrics"]
    assert load_final(tmp_path / "final") == final
    importance = final.importance  # permutation importance on the validation rows, one per raw column
    assert {f["name"] for f in importance["features"]} == set(frame.columns) - {target}
    assert importance["metric"] == final.metric and importance["score"] == pytest.approx(final.val_metrics[final.metric])
    assert (tmp_path / "final" / "importance.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "final" / "importance.svg").read_text()
    record = json.loads((tmp_path / "final" / "final.json").read_text())
    assert record["kind"] in ("ensemble", "single") and sum(m["weight"] for m in record["members"]) >= 1

    table = pd.read_csv(path)
    predictor = Predictor.load(tmp_path / "final")
    predicted = predictor.predict(table)
    members = [Predictor.load(tmp_path / m["trial"] / layout.BEST).predict(table) for m in final.members]
    transform = json.loads((tmp_path / "final" / layout.PREPROCESSING).read_text())["target_transform"]
    link = link_for(predictor.schema.task, bool(transform and transform["log"]))  # as build_final chose it
    expected = combine(members, [m["weight"] for m in final.members], link)
    np.testing.assert_allclose(predicted.reshape(expected.shape), expected, rtol=2e-4, atol=1e-5)

    import keras

    layers = [layer.name for layer in keras.models.load_model(tmp_path / "final" / "model.keras").layers]
    assert [n for n in layers if n.startswith("encoder")] == ["encoder_0"]  # members share one encoding
    assert sum(n.startswith("network_") for n in layers) >= 2

    out = tmp_path / "predictions.csv"
    assert cli_main(["predict", "--model", str(tmp_path / "final"), "--data", str(path), "--output", str(out)]) == 0
    written = pd.read_csv(out)
    assert len(written) == len(table)
    np.testing.assert_array_equal(written.columns, predictor.predict_frame(table).columns)
