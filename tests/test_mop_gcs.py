"""MOP with its partitions in Cloud Storage: a real 2-worker LocalCluster and the real
``gcp-storage-emulator`` (the session's ``gcs_emulator``).

The cluster starts after the emulator, so its worker processes inherit ``STORAGE_EMULATOR_HOST``
as workers on Kubernetes inherit their credentials. The driver writes the partitions and the
manifest under a ``gs://`` prefix; each worker reads only its own partitions from there.
"""

from __future__ import annotations

import pandas as pd
import pytest
from mop_helpers import assert_each_worker_read_only_its_own, config_for, make_table

from latticenas.cli import main as cli_main
from latticenas.data.io import gcs_client
from latticenas.errors import DataError
from latticenas.mop.partitions import MANIFEST, TEST, VALIDATION, partition_file

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client(gcs_emulator):
    from latticenas.mop.run import dask_client

    with dask_client(local_workers=2, memory_limit="2GiB") as c:
        yield c


def test_partitions_under_a_gs_prefix_each_worker_reads_only_its_own(client, gcs_bucket, tmp_path):
    from latticenas.mop.run import run_mop
    from latticenas.mop.worker import partition_reads

    table = make_table(tmp_path / "table.csv")
    root = f"gs://{gcs_bucket}/tables/mop"
    hops = []
    outcome = run_mop(config_for(table, "--epochs=1"), client, tmp_path / "run", partitions=2, models=2,
                      partition_root=root, on_hop=hops.append)
    assert outcome.partitions == root and outcome.lost_hops == 0
    assert [m.status.value for m in outcome.runs] == ["succeeded", "succeeded"]
    blobs = sorted(b.name for b in gcs_client().list_blobs(gcs_bucket))
    assert blobs == sorted(f"tables/mop/{name}" for name in
                           (MANIFEST, TEST, VALIDATION, partition_file(0), partition_file(1)))
    assert not (tmp_path / "run" / "mop" / "partitions").exists()  # nothing local but the checkpoints
    reads = client.run(partition_reads)
    assert len({h.worker for h in hops}) == 2
    assert_each_worker_read_only_its_own(reads, hops, root, partitions=2)
    for uris in reads.values():
        assert uris.count(f"{root}/{VALIDATION}") <= 1  # read once, by a worker that validated
    board = pd.read_csv(tmp_path / "run" / "leaderboard.csv")
    assert list(board["state"]) == ["Succeeded", "Succeeded"]

    with pytest.raises(DataError, match="already exists"):  # another run's table is never overwritten
        run_mop(config_for(table), client, tmp_path / "second", partitions=2, models=1, partition_root=root)


def test_a_missing_bucket_is_one_error_line_and_the_directory_can_be_used_again(capsys, gcs_emulator, tmp_path):
    table = make_table(tmp_path / "table.csv")
    argv = ["mop", "--data", table, "--target", "target", "--models", "1", "--local-workers", "1",
            "--dir", str(tmp_path / "run"), "--partition-root", "gs://no-such-bucket-mop/p"]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "bucket 'no-such-bucket-mop'" in err and "does not exist" in err and "Traceback" not in err
    assert cli_main([*argv[:-1], "gs://Bad_Bucket/p"]) == 2
    err = capsys.readouterr().err
    assert "bad Cloud Storage URI" in err and "already holds a run" not in err  # the same --dir, again
