"""Bad input and environment faults (issue 10): one ``error:`` line, exit 2, no traceback,
nothing lost.

The corpus runs every command in-process (a traceback would be an exception here) and checks
the exit code, a key phrase of the one message, and that no file of the workspace changed.
The fault tests use real conditions: a file where a directory should be, a damaged database,
a tmpfs of the test's own that is full or remounted read-only (skipped where mounting is not
allowed), and a runner stopped by two Ctrl-C.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from factories import classification_frame, regression_frame

from latticenas.cli import main as latticenas
from latticenas.search_plan import default_space
from latticenas.trial import main as trial

sys.path.insert(0, str(Path(__file__).parent / "runner"))
from runner_helpers import experiment_manifest, write_manifest  # noqa: E402

NON_UTF8 = b"apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n  name: caf\xe9\xff\n"


def run(program, argv) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of ``program(argv)`` (argparse's own exits included)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = program([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` by content (databases by their rows; SQLite's -wal/-shm left out)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(("-wal", "-shm")):
            continue
        content = path.read_bytes()
        if path.suffix == ".db":
            try:
                with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
                    content = "\n".join(conn.iterdump()).encode()
            except sqlite3.DatabaseError:
                pass
        found[str(path.relative_to(root))] = hashlib.sha256(content).hexdigest()
    return found


def one_error_line(err: str, phrase: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert "Traceback" not in err, err
    assert len(errors) == 1, err
    assert phrase in errors[0], errors[0]
    return errors[0]


# ---------------------------------------------------------------------------- the workspace


def stubborn_manifest(tmp: Path, max_trials: int = 1) -> dict:
    """The runner's fake trial replaced by one that ignores SIGTERM and sleeps."""
    script = tmp / "stubborn.py"
    script.write_text("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "print('loss=1.0', flush=True)\ntime.sleep(60)\n")
    manifest = experiment_manifest(max_trials=max_trials)
    container = manifest["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [sys.executable, str(script), *container["command"][2:]]
    return manifest


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Tables, manifests, a finished experiment and damaged files, shared by the corpus."""
    ws = tmp_path_factory.mktemp("ws")
    frame = regression_frame(60)
    frame.to_csv(ws / "small.csv", index=False)
    classification_frame(60, classes=3).to_csv(ws / "three.csv", index=False)
    frame.assign(price=7.0).to_csv(ws / "constant.csv", index=False)
    frame.assign(price=np.nan).to_csv(ws / "notarget.csv", index=False)
    frame.assign(copy=frame.price * 1.0).to_csv(ws / "leak.csv", index=False)
    infinite = frame.copy()
    infinite.loc[[3, 7], "size"] = [np.inf, -np.inf]
    infinite.to_csv(ws / "inf.csv", index=False)
    frame.assign(price=frame.price.where(frame.index != 5, np.inf)).to_csv(ws / "inftarget.csv", index=False)
    (ws / "dup.csv").write_text("size,size,zone,price\n" + "\n".join(f"{i},{i},a,{i * 3}" for i in range(40)) + "\n")
    (ws / "empty.csv").write_text("")
    (ws / "header.csv").write_text("size,zone,price\n")
    (ws / "notes.txt").write_text("size,price\n1,2\n")
    (ws / "garbage.parquet").write_bytes(b"\x00not parquet at all\xff")
    (ws / "folder.csv").mkdir()
    text = frame.drop(columns=["price"]).head(4).astype(object)
    text.loc[2, "size"] = "big"
    text.to_csv(ws / "text.csv", index=False)
    frame.drop(columns=["price", "size"]).head(4).to_csv(ws / "nosize.csv", index=False)
    (ws / "adir").mkdir()
    (ws / "out.csv").write_text("prediction\n1.0\n")  # an earlier output, never to be lost
    write_manifest(ws, experiment_manifest(max_trials=1), "m.yaml")
    write_manifest(ws, experiment_manifest(name="other", max_trials=1), "other.yaml")
    write_manifest(ws, experiment_manifest(max_trials=None), "endless.yaml")
    (ws / "broken.yaml").write_text("apiVersion: [unclosed\n")
    space = default_space()  # the shipped space, with a size no trial allows
    space["parameters"]["maximum_neurons_per_unit"] = {"type": "int", "min": 8, "max": 1_000_000_000}
    (ws / "bigspace.yaml").write_text(yaml.safe_dump(space))
    space["parameters"]["maximum_neurons_per_unit"] = {"type": "int", "min": 8, "max": 10_000}
    space["parameters"]["maximum_units_per_level"] = {"type": "int", "min": 1, "max": 1000}
    (ws / "memspace.yaml").write_text(yaml.safe_dump(space))  # within every bound, over its memory limit
    (ws / "latin1.yaml").write_bytes(NON_UTF8)
    (ws / "deployment.yaml").write_text(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment"}))
    (ws / "emptydir").mkdir()
    (ws / "corrupt").mkdir()
    (ws / "corrupt" / "experiment.db").write_bytes(b"this is not a database" * 100)
    code, _, err = run(latticenas, ["experiment", "run", ws / "m.yaml", "--dir", ws / "exp"])
    assert code == 0, err
    return ws


@pytest.fixture
def fake_model(monkeypatch):
    """``Predictor.load`` gives a predictor of ``small.csv`` whose network predicts zeros
    (the checks under test run before the network)."""
    from latticenas.data import infer_schema
    from latticenas.features import FeatureStats
    from latticenas.predict import Predictor

    frame = regression_frame(60)
    schema = infer_schema(frame, "price")

    class Zeros:
        def predict(self, dataset, verbose=0):
            return np.zeros((sum(int(next(iter(batch[0].values())).shape[0]) for batch in dataset), 1))

    predictor = Predictor(Zeros(), schema, FeatureStats.fit(frame, schema))
    monkeypatch.setattr(Predictor, "load", classmethod(lambda cls, directory: predictor))
    return predictor


# ---------------------------------------------------------------------------- the corpus

T, LN = "trial", "latticenas"
D = "--data=small.csv"
CORPUS = [
    # the trial program: output location, data, parameters (all before TensorFlow loads)
    ("trial-output-is-file", T, [D, "--target=price", "--output-dir=small.csv"], 2, "is a file, not a directory"),
    ("trial-output-under-file", T, [D, "--target=price", "--output-dir=small.csv/out"], 2, "lies under the file small.csv"),
    ("trial-data-missing", T, ["--data=nope.csv", "--target=price", "--output-dir=o"], 2, "does not exist"),
    ("trial-data-is-directory", T, ["--data=folder.csv", "--target=price", "--output-dir=o"], 2, "is a directory"),
    ("trial-data-extension", T, ["--data=notes.txt", "--target=price", "--output-dir=o"], 2, "unsupported file type"),
    ("trial-data-empty", T, ["--data=empty.csv", "--target=price", "--output-dir=o"], 2, "is empty"),
    ("trial-data-header-only", T, ["--data=header.csv", "--target=price", "--output-dir=o"], 2, "header but no rows"),
    ("trial-data-unparsable", T, ["--data=garbage.parquet", "--target=price", "--output-dir=o"], 2, "cannot parse"),
    ("trial-example-unknown", T, ["--data=example:nope", "--target=price", "--output-dir=o"], 2, "no bundled example"),
    ("trial-gcs-uri-malformed", T, ["--data=gs://Bad_Bucket/x.csv", "--target=price", "--output-dir=o"], 2, "bad Cloud Storage URI"),
    ("trial-target-unknown", T, [D, "--target=prise", "--output-dir=o"], 2, "did you mean 'price'"),
    ("trial-target-all-missing", T, ["--data=notarget.csv", "--target=price", "--output-dir=o"], 2, "has no values"),
    ("trial-target-constant", T, ["--data=constant.csv", "--target=price", "--output-dir=o"], 2, "single value"),
    ("trial-target-infinite", T, ["--data=inftarget.csv", "--target=price", "--output-dir=o"], 2, "target 'price' has infinite values"),
    ("trial-feature-infinite", T, ["--data=inf.csv", "--target=price", "--output-dir=o"], 2, "'size' has infinite values in 2 row(s)"),
    ("trial-duplicate-columns", T, ["--data=dup.csv", "--target=price", "--output-dir=o"], 2, "names two columns 'size'"),
    ("trial-leak", T, ["--data=leak.csv", "--target=price", "--output-dir=o"], 2, "'copy' is a copy of the target"),
    ("trial-drop-unknown", T, [D, "--target=price", "--drop-columns=nope", "--output-dir=o"], 2, "--drop-columns names columns not in the data"),
    ("trial-drop-target", T, [D, "--target=price", "--drop-columns=price", "--output-dir=o"], 2, "also listed in --drop-columns"),
    ("trial-task-regression-text", T, ["--data=three.csv", "--target=label", "--task=regression", "--output-dir=o"], 2, "needs a numeric target"),
    ("trial-task-binary-three", T, ["--data=three.csv", "--target=label", "--task=binary", "--output-dir=o"], 2, "needs 2 classes"),
    ("trial-task-unknown", T, [D, "--target=price", "--task=bogus", "--output-dir=o"], 2, "invalid choice"),
    ("trial-val-fraction", T, [D, "--target=price", "--val-fraction=2", "--output-dir=o"], 2, "val_fraction must be"),
    ("trial-fractions-sum", T, [D, "--target=price", "--val-fraction=0.6", "--test-fraction=0.5", "--output-dir=o"], 2, "leaves no training rows"),
    ("trial-flag-unknown", T, [D, "--target=price", "--output-dir=o", "--bogus=1"], 2, "unknown flag --bogus"),
    ("trial-flag-misspelled", T, [D, "--target=price", "--output-dir=o", "--epoch=1"], 2, "did you mean --epochs"),
    ("trial-epochs-zero", T, [D, "--target=price", "--output-dir=o", "--epochs=0"], 2, "epochs=0 is below 1"),
    ("trial-epochs-text", T, [D, "--target=price", "--output-dir=o", "--epochs=abc"], 2, "is not a whole number"),
    ("trial-levels-range", T, [D, "--target=price", "--output-dir=o", "--minimum_levels=3", "--maximum_levels=1"], 2, "maximum_levels=1 is less than minimum_levels=3"),
    ("trial-probability", T, [D, "--target=price", "--output-dir=o", "--p_lateral_connection=2"], 2, "outside [0, 1]"),
    ("trial-activation", T, [D, "--target=price", "--output-dir=o", "--activation=relux"], 2, "did you mean 'relu'"),
    ("trial-learning-rate", T, [D, "--target=price", "--output-dir=o", "--learning_rate=-1"], 2, "not a positive number"),
    ("trial-dropout", T, [D, "--target=price", "--output-dir=o", "--dropout=1"], 2, "outside [0, 1)"),
    ("trial-decay", T, [D, "--target=price", "--output-dir=o", "--p_lateral_connection_decay=fast"], 2, "not a known decay"),
    ("trial-neurons-huge", T, [D, "--target=price", "--output-dir=o", "--maximum_neurons_per_unit=1000000000"], 2, "maximum_neurons_per_unit=1000000000 is too large"),
    ("trial-units-huge", T, [D, "--target=price", "--output-dir=o", "--maximum_units_per_level=100000000", "--maximum_neurons_per_unit=8"], 2, "maximum_units_per_level=100000000 is too large"),
    ("trial-batch-over-bound", T, [D, "--target=price", "--output-dir=o", "--batch_size=10000000"], 2, "batch_size=10000000 is too large: the bound is"),
    ("trial-lattice-over-memory", T, [D, "--target=price", "--output-dir=o", "--maximum_levels=100", "--maximum_units_per_level=1000",
                                      "--maximum_neurons_per_unit=10000"], 2, "maximum_neurons_per_unit=10000 is too large: the largest lattice"),
    ("trial-infinite-values-choice", T, [D, "--target=price", "--output-dir=o", "--infinite_values=drop"], 2, "infinite_values='drop' is not allowed"),
    # the local runner
    ("run-dir-is-file", LN, ["experiment", "run", "m.yaml", "--dir", "small.csv"], 2, "is a file, not a directory"),
    ("run-dir-under-file", LN, ["experiment", "run", "m.yaml", "--dir", "small.csv/exp"], 2, "lies under the file small.csv"),
    ("run-manifest-missing", LN, ["experiment", "run", "nope.yaml", "--dir", "new"], 2, "no such file"),
    ("run-manifest-not-utf8", LN, ["experiment", "run", "latin1.yaml", "--dir", "new"], 2, "not a text file"),
    ("run-manifest-not-yaml", LN, ["experiment", "run", "broken.yaml", "--dir", "new"], 2, "not valid YAML"),
    ("run-manifest-endless", LN, ["experiment", "run", "endless.yaml", "--dir", "new"], 2, "would never end"),
    ("run-manifest-other-experiment", LN, ["experiment", "run", "other.yaml", "--dir", "exp"], 2, "holds a different experiment"),
    ("run-resume-without-dir", LN, ["experiment", "run", "--resume"], 2, "--resume needs --dir"),
    ("run-nothing", LN, ["experiment", "run"], 2, "pass a MANIFEST"),
    ("run-resume-empty-dir", LN, ["experiment", "run", "--resume", "--dir", "emptydir"], 2, "no experiment to resume"),
    ("run-database-damaged", LN, ["experiment", "run", "m.yaml", "--dir", "corrupt"], 2, "is not an experiment database"),
    ("run-resume-database-damaged", LN, ["experiment", "run", "--resume", "--dir", "corrupt"], 2, "is not an experiment database"),
    ("run-max-trials-zero", LN, ["experiment", "run", "m.yaml", "--max-trials", "0"], 2, "expected a positive integer"),
    ("run-time-budget", LN, ["experiment", "run", "m.yaml", "--dir", "new", "--time-budget", "soon"], 2, "is not a duration"),
    ("status-database-damaged", LN, ["experiment", "status", "corrupt"], 2, "is not an experiment database"),
    ("status-no-experiment", LN, ["experiment", "status", "emptydir"], 2, "no experiment here"),
    # predict (the model is faked where one is needed: see fake_model)
    ("predict-model-missing", LN, ["predict", "--model", "emptydir", "--data", "small.csv"], 2, "point at a trial's best/"),
    ("predict-output-dir-missing", LN, ["predict", "--model", "m", "--data", "small.csv", "--output", "nodir/p.csv"], 2, "does not exist: create it"),
    ("predict-output-is-directory", LN, ["predict", "--model", "m", "--data", "small.csv", "--output", "adir"], 2, "is a directory: pass a file path"),
    ("predict-output-under-file", LN, ["predict", "--model", "m", "--data", "small.csv", "--output", "small.csv/p.csv"], 2, "lies under the file small.csv"),
    ("predict-data-missing", LN, ["predict", "--model", "m", "--data", "nope.csv", "--output", "out.csv"], 2, "does not exist"),
    ("predict-data-extension", LN, ["predict", "--model", "m", "--data", "notes.txt"], 2, "unsupported file type"),
    ("predict-text-in-numeric", LN, ["predict", "--model", "m", "--data", "text.csv", "--output", "out.csv"], 2, "numeric column 'size' holds text in data row(s) 3"),
    ("predict-feature-missing", LN, ["predict", "--model", "m", "--data", "nosize.csv", "--output", "out.csv"], 2, "lacks feature columns the model needs: size"),
    # manifests (validate reports errors with exit 2, as documented)
    ("validate-missing", LN, ["manifests", "validate", "nope.yaml"], 2, "no such file"),
    ("validate-not-utf8", LN, ["manifests", "validate", "latin1.yaml"], 2, "not UTF-8 text"),
    ("validate-not-yaml", LN, ["manifests", "validate", "broken.yaml"], 2, "not valid YAML"),
    ("validate-empty-directory", LN, ["manifests", "validate", "emptydir"], 2, "no *.yaml files"),
    ("generate-space-missing", LN, ["manifests", "generate", "--space", "nope.yaml", "--out", "gen"], 2, "no such search-space file"),
    # search and the pipeline CLI
    ("search-data-missing", LN, ["search", "--data", "nope.csv", "--target", "price", "--dir", "s"], 2, "does not exist"),
    ("search-target-unknown", LN, ["search", "--data", "small.csv", "--target", "prise", "--dir", "s"], 2, "did you mean 'price'"),
    ("search-time-budget", LN, ["search", "--data", "small.csv", "--target", "price", "--time-budget", "soon", "--dir", "s"], 2, "is not a duration"),
    ("pipeline-compile-output-under-file", LN, ["pipeline", "compile", "--output", "small.csv/p.yaml"], 2, "lies under the file small.csv"),
    ("pipeline-compile-output-is-directory", LN, ["pipeline", "compile", "--output", "adir"], 2, "is a directory: pass a file path"),
    ("pipeline-compile-output-not-yaml", LN, ["pipeline", "compile", "--output", "p.txt"], 2, "does not end in .yaml"),
    ("generate-space-over-bound", LN, ["manifests", "generate", "--space", "bigspace.yaml", "--out", "gen"], 2, "maximum_neurons_per_unit=1000000000 is too large"),
    ("generate-space-over-memory", LN, ["manifests", "generate", "--space", "memspace.yaml", "--out", "gen"], 2,
     "parameters.maximum_neurons_per_unit: trials could not train with the memory limit 4Gi"),
    ("pipeline-run-not-local", LN, ["pipeline", "run"], 2, "the following arguments are required: --local"),
    ("pipeline-submit-param", LN, ["pipeline", "submit", "--host", "http://localhost:1", "--registry", "gs://b/r", "--param", "foo"], 2, "expected NAME=VALUE"),
    ("pipeline-submit-package", LN, ["pipeline", "submit", "--host", "http://localhost:1", "--registry", "gs://b/r", "--package", "nope.yaml"], 2, "no compiled pipeline"),
]


@pytest.mark.parametrize(("program", "argv", "code", "phrase"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_input_gives_one_line_and_changes_nothing(workspace, request, monkeypatch, program, argv, code, phrase):
    if argv[:3] == ["predict", "--model", "m"]:
        request.getfixturevalue("fake_model")
    monkeypatch.chdir(workspace)
    before = snapshot(workspace)
    got, _, err = run(trial if program == T else latticenas, argv)
    assert got == code, err
    one_error_line(err, phrase)
    after = snapshot(workspace)
    assert {path: after.get(path) for path in before} == before  # what existed is untouched


def test_the_corpus_covers_every_command():
    assert len(CORPUS) >= 60
    groups = {c[0].split("-")[0] for c in CORPUS}
    assert {"trial", "run", "status", "predict", "validate", "pipeline"} <= groups


# ---------------------------------------------------------------------------- 1: the trial's output


def test_trial_output_location_is_checked_before_the_data_loads(workspace, monkeypatch, tmp_path):
    import latticenas.trial as trial_module

    monkeypatch.setattr(trial_module, "load_trial_data", lambda config: pytest.fail("the data loaded first"))
    for output in (workspace / "small.csv", workspace / "small.csv" / "sub"):
        code, _, err = run(trial, [f"--data={workspace / 'small.csv'}", "--target=price", f"--output-dir={output}"])
        assert code == 2
        one_error_line(err, str(workspace / "small.csv"))


def test_trial_output_on_a_read_only_place_is_refused(read_only_place, workspace):
    place, freeze = read_only_place
    freeze()
    code, _, err = run(trial, [f"--data={workspace / 'small.csv'}", "--target=price", f"--output-dir={place / 'out'}"])
    assert code == 2
    one_error_line(err, "cannot be written")
    assert not (place / "out").exists()


# ---------------------------------------------------------------------------- 2-5: the runner's directory


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs of this test's own (a real file system that fills up); skipped where
    mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def read_only_place(tmp_path):
    """``(directory, freeze)``: ``freeze()`` makes the directory read-only for this process: a
    read-only remount of a tmpfs of its own for root (who ignores permission bits), chmod else."""
    if os.geteuid() != 0:
        place = tmp_path / "place"
        place.mkdir()

        def freeze():
            for path in (place, *place.rglob("*")):
                if path.is_dir():
                    path.chmod(0o555)

        yield place, freeze
        for path in (place, *place.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        return
    place = tmp_path / "place"
    place.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(place)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield place, lambda: subprocess.run(["mount", "-o", "remount,ro", str(place)], check=True)
    subprocess.run(["umount", "-l", str(place)], check=False)


def fill(disk: Path, keep_kib: int = 0) -> Path:
    """Fill ``disk`` up to ``keep_kib`` KiB of free space; returns the filler file."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as handle:
        try:
            handle.write(b"\0" * max(free - keep_kib * 1024, 0))
            handle.flush()
        except OSError:
            pass
    return filler


def test_a_damaged_database_is_one_line_for_run_and_status(tmp_path):
    directory = tmp_path / "exp"
    manifest = write_manifest(tmp_path, experiment_manifest(max_trials=1))
    assert run(latticenas, ["experiment", "run", manifest, "--dir", directory])[0] == 0
    db = directory / "experiment.db"
    db.write_bytes(b"\0" * 100 + db.read_bytes()[100:])  # the header overwritten
    damaged = db.read_bytes()
    for argv in (["experiment", "run", manifest, "--dir", directory], ["experiment", "status", directory]):
        code, _, err = run(latticenas, argv)
        assert code == 2
        one_error_line(err, "restore it from a backup")
    assert db.read_bytes() == damaged


@pytest.mark.parametrize("keep_kib", [0, 60, 150])
def test_a_full_disk_stops_the_run_with_one_line_and_it_resumes(small_disk, tmp_path, keep_kib):
    directory = small_disk / "exp"
    manifest = write_manifest(tmp_path, experiment_manifest(max_trials=6))
    assert run(latticenas, ["experiment", "run", manifest, "--dir", directory, "--max-trials", "1"])[0] == 0
    filler = fill(small_disk, keep_kib)
    code, _, err = run(latticenas, ["experiment", "run", manifest, "--dir", directory, "--max-trials", "6"])
    assert code == 2
    one_error_line(err, "free some space")
    code, out, err = run(latticenas, ["experiment", "status", directory])  # status reads a full disk
    assert code == 0 and "experiment quad" in out, err
    filler.unlink()
    with sqlite3.connect(directory / "experiment.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    code, out, err = run(latticenas, ["experiment", "run", manifest, "--dir", directory, "--max-trials", "6"])
    assert code == 0, err  # the same command again, once there is space
    assert "trials: 6 of 6 (6 Succeeded)" in out


def test_a_store_transaction_the_disk_refuses_leaves_the_store_usable(small_disk):
    from latticenas.errors import StorageError
    from latticenas.runner.state import ExperimentStore

    (small_disk / "exp").mkdir()
    store = ExperimentStore(small_disk / "exp")
    store.initialize("quad", {"spec": {}})
    filler = fill(small_disk)
    with pytest.raises(StorageError, match="disk is full|disk I/O error"):
        for i in range(200):
            store.create_trial("quad", {"x": "y" * 4000, "i": i}, {})
    created = len(store.trials())
    filler.unlink()
    store.create_trial("quad", {"x": "after"}, {})  # not stuck in the refused transaction
    assert len(store.trials()) == created + 1
    store.close()


def test_a_read_only_experiment_is_refused_for_run_and_read_by_status(read_only_place, tmp_path):
    place, freeze = read_only_place
    directory = place / "exp"
    manifest = write_manifest(tmp_path, experiment_manifest(max_trials=1))
    assert run(latticenas, ["experiment", "run", manifest, "--dir", directory])[0] == 0
    freeze()
    before = snapshot(place)
    for argv in (["experiment", "run", manifest, "--dir", directory, "--max-trials", "2"],
                 ["experiment", "run", "--resume", "--dir", directory],
                 ["experiment", "run", manifest, "--dir", place / "new"]):
        code, _, err = run(latticenas, argv)
        assert code == 2
        one_error_line(err, "cannot be written")
    code, out, err = run(latticenas, ["experiment", "status", directory])
    assert code == 0 and "Succeeded (ExperimentMaxTrialsReached)" in out and "quad-0001" in out
    assert "report files were not rewritten" in err and "Traceback" not in err
    assert snapshot(place) == before


# ---------------------------------------------------------------------------- 6-8: manifests, predict


def test_validate_names_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes(NON_UTF8)
    code, _, err = run(latticenas, ["manifests", "validate", tmp_path / "latin1.yaml"])
    assert code == 2
    one_error_line(err, "latin1.yaml: not UTF-8 text (byte 0xe9")
    code, _, err = run(latticenas, ["manifests", "validate", tmp_path])  # inside a directory too
    assert code == 2 and "not UTF-8 text" in err and "Traceback" not in err


def test_predict_keeps_an_earlier_output_when_the_table_is_refused(workspace, fake_model, monkeypatch):
    monkeypatch.chdir(workspace)
    before = (workspace / "out.csv").read_bytes()
    code, _, err = run(latticenas, ["predict", "--model", "m", "--data", "text.csv", "--output", "out.csv"])
    assert code == 2 and (workspace / "out.csv").read_bytes() == before


def test_predict_refuses_text_in_a_numeric_column_naming_the_rows(fake_model):
    from latticenas.errors import DataError

    frame = regression_frame(10).drop(columns=["price"]).astype({"size": object})
    frame.loc[[1, 4], "size"] = ["big", "n/a"]
    frame.loc[6, "size"] = " "  # blank text is missing, not an error
    with pytest.raises(DataError, match=r"'size' holds text in data row\(s\) 2, 5 \(e.g. 'big'\)"):
        fake_model.predict(frame)
    frame.loc[[1, 4], "size"] = ["12.5", None]  # numbers as text are numbers
    assert fake_model.predict(frame).shape[0] >= 1


def test_predict_writes_its_output_whole(workspace, fake_model, monkeypatch, tmp_path):
    monkeypatch.chdir(workspace)
    code, _, err = run(latticenas, ["predict", "--model", "m", "--data", "small.csv", "--output", tmp_path / "p.csv"])
    assert code == 0, err
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == ["prediction"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------- 9-11: data and parameters


def test_infinite_training_values_are_refused_naming_the_column(workspace):
    from latticenas.data import load_dataset
    from latticenas.errors import DataError

    with pytest.raises(DataError, match=r"numeric column 'size' has infinite values in 2 row\(s\) \(data row 4, 8\).*--drop-columns=size"):
        load_dataset(str(workspace / "inf.csv"), "price")
    assert load_dataset(str(workspace / "inf.csv"), "price", drop_columns=["size"]).schema.numeric == ("rooms",)


def test_a_search_takes_infinite_values_from_its_space_as_its_trials_do(workspace, tmp_path):
    from latticenas.errors import DataError
    from latticenas.search_plan import SearchSetup, plan_search

    space = default_space()
    space["fixed"]["infinite_values"] = "missing"
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    plan = plan_search(SearchSetup(data=str(workspace / "inf.csv"), target="price", space=str(tmp_path / "space.yaml")))
    command = plan.experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--infinite_values=missing" in " ".join(command)
    with pytest.raises(DataError, match="'size' has infinite values"):
        plan_search(SearchSetup(data=str(workspace / "inf.csv"), target="price"))


def test_duplicate_column_names_are_refused_not_renamed(tmp_path):
    from latticenas.data import read_table
    from latticenas.errors import DataError

    path = tmp_path / "d.csv"
    path.write_text("area,price,area\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"names two columns 'area' \(columns 1 and 3\)"):
        read_table(str(path))
    path.write_text("area,area.1\n1,2\n")  # a real column named area.1 is fine
    assert list(read_table(str(path)).columns) == ["area", "area.1"]


def test_infinite_values_missing_is_a_trial_flag_that_makes_them_missing(workspace, tmp_path):
    from latticenas.errors import DataError
    from latticenas.features import FeatureStats
    from latticenas.trial import load_trial_data, parse_config

    config = parse_config([f"--data={workspace / 'inf.csv'}", "--target=price", f"--output-dir={tmp_path / 'o'}",
                           "--infinite_values=missing"])
    dataset = load_trial_data(config)
    rows = pd.concat([dataset.train, dataset.val, dataset.test])
    assert rows.loc[[3, 7], "size"].isna().all() and np.isfinite(rows["size"].dropna()).all()
    assert len(rows) == 60 and rows["size"].notna().sum() == 58  # no row lost, only the two cells
    assert {3, 7} & set(dataset.train.index)  # so the statistics below see one
    stats = FeatureStats.fit(dataset.train, dataset.schema)
    assert all(np.isfinite(stats.means)) and all(np.isfinite(stats.scales))
    assert stats.has_missing[stats.numeric.index("size")]  # imputed, with a missing indicator
    with pytest.raises(DataError, match="set infinite_values=missing to treat them as missing"):
        load_trial_data(parse_config([f"--data={workspace / 'inf.csv'}", "--target=price", f"--output-dir={tmp_path / 'o'}"]))


def test_a_served_model_applies_its_training_rule_for_infinite_values(workspace, tmp_path):
    """Trained with infinite_values=missing, a model predicts +-inf cells as missing ones; trained
    without it, it refuses them with the rows named: never a value clipped to the training range."""
    from latticenas.errors import DataError
    from latticenas.predict import Predictor

    small = ["--epochs=2", "--number_of_architecture_moities_to_try=1", "--maximum_levels=2", "--seed=3"]
    assert trial([f"--data={workspace / 'inf.csv'}", "--target=price", f"--output-dir={tmp_path / 'm'}",
                  "--infinite_values=missing", *small]) == 0
    rows = pd.read_csv(workspace / "small.csv").drop(columns=["price"]).head(6)
    with_inf, with_nan = rows.copy(), rows.copy()
    with_inf.loc[[1, 4], "size"], with_nan.loc[[1, 4], "size"] = [np.inf, -np.inf], np.nan
    model = Predictor.load(tmp_path / "m" / "best")
    assert model.schema.infinite == "missing"
    np.testing.assert_array_equal(model.predict(with_inf), model.predict(with_nan))
    assert not np.array_equal(model.predict(with_inf), model.predict(rows))  # the cells did count as missing

    assert trial([f"--data={workspace / 'small.csv'}", "--target=price", f"--output-dir={tmp_path / 'r'}", *small]) == 0
    refusing = Predictor.load(tmp_path / "r" / "best")
    assert refusing.schema.infinite == "refuse"
    with pytest.raises(DataError, match=r"'size' has infinite values in data row\(s\) 2, 5; .*infinite_values=missing"):
        refusing.predict(with_inf)
    assert np.isfinite(refusing.predict(rows)).all()


# ---------------------------------------------------------------------------- 13: two Ctrl-C


def test_two_ctrl_c_still_record_the_experiment_as_interrupted(tmp_path):
    directory = tmp_path / "exp"
    manifest = write_manifest(tmp_path, stubborn_manifest(tmp_path))
    runner = subprocess.Popen([sys.executable, "-m", "latticenas", "experiment", "run", str(manifest), "--dir", str(directory)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(directory / "experiment.db") as conn:
                if conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'Running'").fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    pid = sqlite3.connect(directory / "experiment.db").execute("SELECT pid FROM trials").fetchone()[0]
    runner.send_signal(signal.SIGINT)
    time.sleep(0.5)
    still_running = runner.poll() is None
    runner.send_signal(signal.SIGINT)  # while the first one is still stopping the trial
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    with sqlite3.connect(directory / "experiment.db") as conn:
        assert conn.execute("SELECT status FROM experiment").fetchone()[0] == "Interrupted"
        assert conn.execute("SELECT state FROM trials").fetchone()[0] == "Running"  # to resume
    assert b"Traceback" not in err
    assert b"still stopping" in err or not still_running  # a loaded machine may finish stopping first
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
