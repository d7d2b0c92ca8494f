"""Model Hopper Parallelism on a real Dask LocalCluster (2 worker processes, started here).

One small generated table, two partitions, two tiny lattices: the run trains them by hopping,
then the tests check the schedule, the reads of every worker, the weights against sequential
training in one process, the artifacts and report, and (last, since it kills a worker) that a
worker killed mid-epoch loses no model.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest

from mop_helpers import assert_each_worker_read_only_its_own, config_for, make_table

from latticenas.cli import main as cli_main
from latticenas.mop.partitions import partition_file, read_manifest, read_partition
from latticenas.mop.schedule import HopScheduler, assign_partitions
from latticenas.mop.state import ModelState

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from latticenas.mop.run import dask_client

    with dask_client(local_workers=2, memory_limit="2GiB") as c:
        yield c


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return make_table(tmp_path_factory.mktemp("mop") / "table.csv")


@pytest.fixture(scope="module")
def run(client, table, tmp_path_factory):
    from latticenas.mop.run import run_mop

    directory = tmp_path_factory.mktemp("mop-run") / "run"
    hops = []
    outcome = run_mop(config_for(table), client, directory, partitions=2, models=2, on_hop=hops.append,
                      name="tiny-mop", chunk_rows=50)  # the table is streamed in 5 chunks
    return outcome, hops


# ---------------------------------------------------------------- the scheduler, pure


def test_scheduler_keeps_one_model_per_worker_and_every_partition_once_per_epoch():
    owner = assign_partitions([0, 1, 2, 3], ["w1", "w2"])
    assert sorted(owner.values()) == ["w1", "w1", "w2", "w2"]
    scheduler = HopScheduler(["m1", "m2", "m3"], [0, 1, 2, 3], seed=3)
    seen = {m: [] for m in ("m1", "m2", "m3")}
    while any(len(v) < 8 for v in seen.values()):
        hops = scheduler.next_hops(["w1", "w2"], owner)
        assert len({h.worker for h in hops}) == len(hops) and len({h.model for h in hops}) == len(hops)
        for hop in hops:
            assert owner[hop.partition] == hop.worker
            seen[hop.model].append(hop.partition)
            ended = scheduler.done(hop)
            assert ended == (len(seen[hop.model]) % 4 == 0) == hop.last
            if len(seen[hop.model]) == 8:
                scheduler.stop(hop.model)
    for visits in seen.values():
        assert sorted(visits[:4]) == sorted(visits[4:]) == [0, 1, 2, 3]
    orders = {tuple(v[:4]) for v in seen.values()} | {tuple(v[4:]) for v in seen.values()}
    assert len(orders) > 1  # randomized


def test_partitions_of_a_worker_that_left_go_to_the_least_loaded_live_worker():
    before = assign_partitions([0, 1, 2, 3], ["w1", "w2"])
    after = assign_partitions([0, 1, 2, 3], ["w2", "w3"], before)
    assert {p for p, w in after.items() if w == "w2"} == {p for p, w in before.items() if w == "w2"}
    assert {p for p, w in after.items() if w == "w3"} == {p for p, w in before.items() if w == "w1"}


# ---------------------------------------------------------------- a run on the cluster


def test_every_model_visits_every_partition_exactly_once_per_epoch(run):
    outcome, hops = run
    assert outcome.lost_hops == 0
    for model in outcome.runs:
        assert model.status.value == "succeeded"
        assert len(model.visits) == 2  # epochs
        for epoch in model.visits:
            assert sorted(p for p, _ in epoch) == [0, 1]
    assert len({h.worker for h in hops}) == 2  # both workers trained


def test_no_worker_reads_a_partition_other_than_its_own(run, client):
    from latticenas.mop.worker import partition_reads

    outcome, hops = run
    assert outcome.partitions == str(outcome.directory / "mop" / "partitions")
    assert_each_worker_read_only_its_own(client.run(partition_reads), hops, outcome.partitions, partitions=2)


def test_a_worker_keeping_one_partition_reads_again_only_its_own_and_holds_one(table, tmp_path):
    from latticenas.data import load_dataset
    from latticenas.mop.partitions import write_partitions
    from latticenas.mop.worker import WorkerCache

    root = str(tmp_path / "partitions")
    write_partitions(load_dataset(table, "target", val_fraction=0.2, test_fraction=0.1), root, 2)
    store = WorkerCache()
    for index in (0, 1, 1, 0):
        store.partition(root, index, keep=1)
        assert list(store.partitions) == [(root, index)]  # one partition in memory at a time
    assert store.reads == [f"{root}/{partition_file(i)}" for i in (0, 1, 0)]  # the repeat hop read nothing


def test_weights_after_training_equal_sequential_training_in_the_same_order(run):
    import keras

    from latticenas.arch.keras_builder import as_dataset, build_encoder, build_network, encode
    from latticenas.features import encode_target, model_inputs
    from latticenas.mop.run import network_seed
    from latticenas.mop.worker import hop_seed, shuffled
    from latticenas.train import compile_network

    outcome, _ = run
    manifest = read_manifest(outcome.partitions)
    encoder = build_encoder(manifest.stats)
    parts = {}
    for p in manifest.partitions:
        frame = read_partition(manifest, partition_file(p))
        parts[p] = (encode(encoder, model_inputs(frame, manifest.stats)),
                    encode_target(frame["target"], manifest.schema, manifest.transform))
    for model in outcome.runs:
        keras.utils.set_random_seed(network_seed(model.params.seed))
        network = build_network(model.spec, manifest.stats, manifest.schema, manifest.transform, encoder)
        steps = sum(int(np.ceil(n / model.params.batch_size)) for n in manifest.rows)
        compile_network(network, model.params, manifest.schema.task, steps)
        for epoch, visits in enumerate(model.visits, start=1):
            for partition, _ in visits:
                seed = hop_seed(model.seed, epoch, partition)
                keras.utils.set_random_seed(seed)
                x, y = shuffled(*parts[partition], seed)
                network.core.fit(as_dataset(x, y, batch_size=model.params.batch_size),
                                 epochs=1, shuffle=False, verbose=0)
        hopped = ModelState.from_bytes((outcome.directory / "mop" / "checkpoints" / model.name / "last.npz").read_bytes())
        sequential = network.core.get_weights()
        assert len(hopped.weights) == len(sequential)
        for a, b in zip(hopped.weights, sequential):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_run_writes_trial_artifacts_and_the_leaderboard(run, tmp_path):
    from latticenas.aggregate import SearchResults, write_report
    from latticenas.arch import ArchitectureSpec
    from latticenas.runner.workspace import open_for_status

    outcome, _ = run
    d = outcome.directory
    for model in outcome.runs:
        out = d / "trials" / model.name / "output"
        for name in ("params.json", "summary.json", "best/model.keras", "best/spec.json", "best/preprocessing.json",
                     "networks/m0-t0/metrics.json", "val_predictions.csv"):
            assert (out / name).is_file(), name
        assert (d / "mop" / "checkpoints" / model.name / "best.npz").is_file()
    board = pd.read_csv(d / "leaderboard.csv")
    assert len(board) == 2 and list(board["state"]) == ["Succeeded", "Succeeded"]
    assert (d / "best" / "model.keras").is_file()
    results = SearchResults.read(d / "trials.json")
    assert results.backend == "mop" and results.best().name == board["trial"][0]
    assert results.manifest["metadata"]["name"] == "tiny-mop"  # run_mop(name=...), not the directory's
    assert not any((d / "mop").glob("latticenas-stream-*"))  # the staged table is gone
    spec = ArchitectureSpec.from_json((d / "best" / "spec.json").read_text())
    report = write_report(results, tmp_path / "aggregate", spec)  # the pipeline's aggregate step, unchanged
    assert report.best_trial == board["trial"][0] and report.html.is_file()
    _, store, experiment = open_for_status(d)
    try:
        assert {t.params["seed"] for t in store.trials()} == {0, 1}
    finally:
        store.close()


def test_mop_refuses_bad_requests_with_one_line(capsys, table, tmp_path):
    code = cli_main(["mop", "--data", table, "--target", "target", "--models", "2", "--local-workers", "1",
                     "--scheduler", "tcp://127.0.0.1:1", "--dir", str(tmp_path / "x")])
    assert code == 2
    assert "either --scheduler" in capsys.readouterr().err
    code = cli_main(["mop", "--data", table, "--target", "target", "--models", "0", "--local-workers", "1"])
    assert code == 2 and "--models must be a whole number >= 1" in capsys.readouterr().err
    code = cli_main(["mop", "--data", table, "--target", "target", "--models", "2", "--local-workers", "1",
                     "--learning_rate_schedule=plateau"])
    assert code == 2 and "plateau is not supported" in capsys.readouterr().err
    code = cli_main(["mop", "--data", table, "--target", "target", "--models", "2", "--local-workers", "1",
                     "--cached-partitions", "0"])
    assert code == 2 and "--cached-partitions must be a whole number >= 1, not 0" in capsys.readouterr().err


# ---------------------------------------------------------------- failure (last: it kills a worker)


def test_killing_a_worker_mid_epoch_loses_no_model(client, table, tmp_path):
    from latticenas.mop.run import run_mop

    pids = client.run(os.getpid)
    killed = []

    def kill_second_hop(hop):
        if len(killed) == 0 and hop.epoch == 1 and not hop.last:
            killed.append(hop)
            os.kill(pids[hop.worker], signal.SIGKILL)

    outcome = run_mop(config_for(table), client, tmp_path / "run", partitions=2, models=2, on_hop=kill_second_hop)
    assert killed and outcome.lost_hops >= 1
    for model in outcome.runs:
        assert model.status.value == "succeeded"
        for epoch in model.visits:
            assert sorted(p for p, _ in epoch) == [0, 1]
    lost = killed[0]
    redone = [w for p, w in next(r for r in outcome.runs if r.name == lost.model).visits[0] if p == lost.partition]
    assert redone and redone[0] != lost.worker  # the lost sub-epoch ran again, on another worker
    assert len(pd.read_csv(tmp_path / "run" / "leaderboard.csv")) == 2
