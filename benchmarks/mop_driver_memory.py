"""Benchmark: the MOP driver's peak memory, writing the partitions from the table whole or streamed.

Each way runs in a fresh process (no TensorFlow, no Dask: just the driver's data work) on one
table (``mop_table.py``'s, written chunk by chunk), which reports its peak RSS (VmHWM from
``/proc/self/status``) after the imports and at the end, and its seconds:

* ``whole``: ``load_dataset`` (the trials' loader) + ``write_partitions``, what the driver did before;
* ``streamed``: ``stream_dataset`` + ``write_streamed_partitions`` at each ``--chunk-rows``.

    .venv/bin/python benchmarks/mop_driver_memory.py [--rows 400000] [--extra-columns 32] [--chunk-rows 50000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mop_table import write_table  # noqa: E402

CHILD = """
import json, sys, time
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 2**20
from latticenas.data import load_dataset
from latticenas.data.streamed import stream_dataset
from latticenas.mop.partitions import write_partitions
from latticenas.mop.streamed import write_streamed_partitions
way, table, root, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
options = dict(target="y", task="regression", val_fraction=0.1, test_fraction=0.1)
base, started = hwm(), time.perf_counter()
if way == "whole":
    write_partitions(load_dataset(table, **options), root, 4)
else:
    data = stream_dataset(table, **options, chunk_rows=chunk, workdir=root + "-staging")
    write_streamed_partitions(data, root, 4)
    data.close()
print(json.dumps({"way": way, "chunk_rows": chunk, "imports_gib": round(base, 3), "peak_gib": round(hwm(), 3),
                  "seconds": round(time.perf_counter() - started, 1)}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--extra-columns", type=int, default=32)
    parser.add_argument("--chunk-rows", default="50000", help="comma-separated chunk sizes of the streamed way")
    parser.add_argument("--ways", default="whole,streamed")
    parser.add_argument("--dir", type=Path, default=Path("runs/mop-driver-memory"))
    args = parser.parse_args(argv)
    table = args.dir / f"table-{args.rows}x{args.extra_columns}.parquet"
    if not table.is_file():
        print(json.dumps(write_table(table, args.rows, 0, extra_columns=args.extra_columns)), flush=True)
    runs = [("whole", 0)] if "whole" in args.ways else []
    if "streamed" in args.ways:
        runs += [("streamed", int(c)) for c in args.chunk_rows.split(",")]
    for way, chunk in runs:
        root = args.dir / f"{way}-{chunk}"
        shutil.rmtree(root, ignore_errors=True)
        (args.dir / f"{way}-{chunk}-staging").mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-c", CHILD, way, str(table), str(root), str(chunk)],
                              capture_output=True, text=True, check=True)
        print(done.stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
