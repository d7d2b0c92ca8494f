"""What the MOP tests share: a small table, a tiny trial configuration, the read check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from latticenas.data import join_uri
from latticenas.mop.partitions import partition_file
from latticenas.trial import parse_config

TINY = ["--epochs=2", "--patience=0", "--batch_size=32", "--maximum_levels=1", "--maximum_units_per_level=2",
        "--minimum_neurons_per_unit=4", "--maximum_neurons_per_unit=4", "--learning_rate_schedule=constant"]


def make_table(path, rows: int = 240, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.uniform(0, 5, size=rows),
                          "kind": rng.choice(["x", "y", "z"], size=rows)})
    frame["target"] = 3 * frame["a"] - frame["b"] + (frame["kind"] == "x") * 2 + rng.normal(0, 0.1, size=rows)
    frame.to_csv(path, index=False)
    return str(path)


def config_for(table: str, *extra: str):
    return parse_config(["--data", table, "--target", "target", "--task", "regression", "--output-dir", "unused",
                         "--val-fraction=0.2", "--test-fraction=0.1", *TINY, *extra])


def assert_each_worker_read_only_its_own(reads: dict, hops: list, root: str, partitions: int) -> None:
    """``reads`` (``client.run(partition_reads)``) against the run's ``hops``: under ``root``, every
    worker read exactly the training partitions it trained on, each once, and each partition
    was read by one worker only."""
    trained_on: dict[str, set] = {}
    for hop in hops:
        trained_on.setdefault(hop.worker, set()).add(join_uri(root, partition_file(hop.partition)))
    for worker, uris in reads.items():
        training = [u for u in uris if u.startswith(root) and u.rsplit("/", 1)[-1].startswith("train-")]
        assert len(training) == len(set(training)), training  # each read once
        assert set(training) == trained_on.get(worker, set())
    owned = [uri for uris in trained_on.values() for uri in uris]
    assert sorted(owned) == sorted(join_uri(root, partition_file(p)) for p in range(partitions))
