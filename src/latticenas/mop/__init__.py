"""Model Hopper Parallelism (Cerebro, Nakandala et al., DEEM 2019) on Dask.

The table is streamed in chunks and written as Parquet partitions (:mod:`.streamed`,
:mod:`.partitions`), each owned by one Dask
worker; every model trains one sub-epoch on a worker's partition and hops on
(:mod:`.schedule`, :mod:`.driver`, :mod:`.worker`), its weights and optimizer state travelling
with it (:mod:`.state`); the trained models are written as trials (:mod:`.finish`,
:mod:`.experiment`). :func:`latticenas.mop.run.run_mop` does it all (it loads TensorFlow and Dask, so this package
leaves it out); ``latticenas mop`` is its command.
"""

from latticenas.mop.partitions import PartitionManifest, read_manifest, write_partitions
from latticenas.mop.schedule import Hop, HopScheduler, assign_partitions
from latticenas.mop.state import Checkpoints, ModelState
from latticenas.mop.streamed import write_streamed_partitions

__all__ = [
    "Checkpoints",
    "Hop",
    "HopScheduler",
    "ModelState",
    "PartitionManifest",
    "assign_partitions",
    "read_manifest",
    "write_partitions",
    "write_streamed_partitions",
]
