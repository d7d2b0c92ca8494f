"""The trial program as Katib runs it: flags in, metric lines on stdout, artifacts out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from factories import classification_frame, regression_frame

from latticenas.metrics import KATIB_DEFAULT_FILTER, parse_metric_lines
from latticenas.trial import main

pytestmark = pytest.mark.slow

TRIAL = str(Path(sys.executable).parent / "latticenas-trial")
QUICK = ["--epochs=6", "--batch_size=32", "--patience=2", "--maximum_levels=2", "--maximum_units_per_level=2",
         "--maximum_neurons_per_unit=12", "--number_of_architecture_moities_to_try=2"]


@pytest.fixture(scope="module")
def regression_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "houses.csv"
    regression_frame(300).to_csv(path, index=False)
    return path


def test_trial_process_reports_katib_metrics_and_writes_artifacts(regression_csv, tmp_path):
    out = tmp_path / "trial"
    proc = subprocess.run([TRIAL, f"--data={regression_csv}", "--target=price", "--objective=val-rmse",
                           f"--output-dir={out}", *QUICK], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Katib's collector applies its default filter to every line: every metric line must match fully.
    metric_lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert all(re.fullmatch(KATIB_DEFAULT_FILTER, line) for line in metric_lines), metric_lines
    found = parse_metric_lines(proc.stdout)
    for name in ("val-rmse", "val-rmsle", "val-mae", "val-r2", "param-count", "train-seconds",
                 "networks-trained", "networks-failed"):
        assert name in found, name
    assert found["networks-trained"][-1] == 2
    summary = json.loads((out / "summary.json").read_text())
    best_id = summary["best_network"]
    networks = {p.name: json.loads((p / "metrics.json").read_text()) for p in (out / "networks").iterdir()}
    assert set(networks) == {"m0-t0", "m1-t0"}
    best_rmse = min(n["metrics"]["rmse"] for n in networks.values() if n["status"] == "succeeded")
    assert found["val-rmse"][-1] == pytest.approx(best_rmse)
    assert networks[best_id]["metrics"]["rmse"] == pytest.approx(best_rmse)
    assert json.loads((out / "params.json").read_text())["parameters"]["epochs"] == 6
    for name in ("spec.json", "model.keras", "metrics.json", "preprocessing.json", "diagram.svg"):
        assert (out / "best" / name).stat().st_size > 0, name
    assert "<svg" in (out / "best" / "diagram.svg").read_text()

    from latticenas.predict import Predictor

    frame = regression_frame(300)
    predictions = Predictor.load(out / "best").predict_frame(frame.drop(columns=["price"]).head(20))
    assert np.isfinite(predictions["prediction"]).all()
    assert predictions["prediction"].between(frame.price.min() * 0.3, frame.price.max() * 2).all()

    # val_predictions.csv (from the encoded rows) is what the saved trial model predicts for those rows
    from latticenas import artifacts as layout

    rows, recorded = layout.read_val_predictions((out / layout.VAL_PREDICTIONS).read_text())
    served = Predictor.load(out / "best").predict(frame.loc[rows])
    np.testing.assert_allclose(np.ravel(recorded), np.ravel(served), rtol=1e-4)


def test_classification_trial_in_process(tmp_path, capsys):
    path = tmp_path / "c.csv"
    classification_frame(300, classes=3).to_csv(path, index=False)
    code = main([f"--data={path}", "--target=label", "--objective=val-accuracy", f"--output-dir={tmp_path/'o'}",
                 *QUICK, "--number_of_architecture_moities_to_try=1"])
    assert code == 0
    found = parse_metric_lines(capsys.readouterr().out)
    assert {"val-accuracy", "val-auc", "val-logloss"} <= set(found)
    assert 0 <= found["val-accuracy"][-1] <= 1


def test_trial_reads_and_writes_gcs(gcs_bucket, tmp_path, capsys):
    from latticenas.data import read_bytes, write_bytes

    write_bytes(f"gs://{gcs_bucket}/in/houses.csv", regression_frame(200).to_csv(index=False).encode())
    code = main([f"--data=gs://{gcs_bucket}/in/houses.csv", "--target=price",
                 f"--output-dir=gs://{gcs_bucket}/trials/t1", *QUICK, "--number_of_architecture_moities_to_try=1"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(read_bytes(f"gs://{gcs_bucket}/trials/t1/summary.json"))
    assert summary["status"] == "succeeded"
    assert len(read_bytes(f"gs://{gcs_bucket}/trials/t1/best/model.keras")) > 1000


def test_diverging_networks_fail_the_trial_with_a_clear_line(regression_csv, tmp_path, capsys):
    code = main([f"--data={regression_csv}", "--target=price", f"--output-dir={tmp_path/'o'}", *QUICK,
                 "--learning_rate=1e30", "--log-target=false"])
    err = capsys.readouterr().err
    assert code == 1
    assert "all 2 networks failed" in err
    records = [json.loads(p.read_text()) for p in (tmp_path / "o" / "networks").glob("*/metrics.json")]
    assert len(records) == 2 and all(r["status"] in ("diverged", "failed") for r in records)


BAD_INPUTS = [
    (["--data=/nonexistent/x.csv", "--target=price"], "does not exist"),
    (["--target=nope"], "nope"),
    (["--target=price", "--maximum_levels=1", "--minimum_levels=3"], "maximum_levels"),
    (["--target=price", "--p_lateral_connection=1.5"], "p_lateral_connection"),
    (["--target=price", "--maximum_level=3"], "maximum_level"),
    (["--target=price", "--activation=relux"], "activation"),
    (["--target=price", "--objective=val-accuracy"], "val-accuracy"),
]


@pytest.mark.parametrize("args, expected", BAD_INPUTS)
def test_bad_input_gives_one_error_line(regression_csv, tmp_path, capsys, args, expected):
    if not any(a.startswith("--data=") for a in args):
        args = [f"--data={regression_csv}", *args]
    try:
        code = main([*args, f"--output-dir={tmp_path/'o'}"])
    except SystemExit as exc:  # argparse rejects unknown flags itself (exit 2, usage + one line)
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert expected in err[-1] and "Traceback" not in "\n".join(err)


def test_leaking_column_stops_the_process_with_the_column_named(tmp_path):
    frame = regression_frame(200)
    frame["price_copy"] = frame["price"] * 1.0
    path = tmp_path / "leaky.csv"
    frame.to_csv(path, index=False)
    proc = subprocess.run([TRIAL, f"--data={path}", "--target=price", f"--output-dir={tmp_path/'o'}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "price_copy" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_trial_stopped_in_its_second_network_keeps_the_first_ones_model(regression_csv, tmp_path):
    """The best network's model is written when the trial's model is chosen, or on the way out
    (SIGTERM and Ctrl-C arrive as KeyboardInterrupt: latticenas.termination)."""
    from latticenas.predict import Predictor
    from latticenas.trial import load_trial_data, parse_config
    from latticenas.trial_loop import run_trial

    out = tmp_path / "trial"
    config = parse_config([f"--data={regression_csv}", "--target=price", f"--output-dir={out}", "--fused=off", *QUICK])
    recorded = []

    def emit(lines: str) -> None:  # metric lines: every epoch's, and one when a network is recorded
        if (out / "networks" / "m0-t0" / "metrics.json").exists():
            recorded.append(lines)
            if len(recorded) == 2:  # the second network's first epoch
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trial(config, load_trial_data(config), emit=emit)
    assert not (out / "networks" / "m1-t0" / "metrics.json").exists()
    best = json.loads((out / "best" / "metrics.json").read_text())
    assert best["network_id"] == "m0-t0"
    frame = regression_frame(300).drop(columns=["price"]).head(5)
    assert np.isfinite(Predictor.load(out / "best").predict_frame(frame)["prediction"]).all()
