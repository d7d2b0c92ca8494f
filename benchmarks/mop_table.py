"""A generated regression table for MOP (``latticenas mop``) and its benchmark.

``python benchmarks/mop_table.py --rows 20000 --out runs/mop-table.csv`` writes ``rows`` rows
of 8 numeric columns (some missing), 2 categorical columns and the target ``y``, a nonlinear
function of them plus noise; ``--extra-columns N`` adds N numeric columns of pure noise
``z0...`` (wider rows: more bytes per training step); ``--text-columns N`` adds N ID-like text
columns ``t0...`` of ``--text-chars`` random hex characters, unique per row (high-cardinality
categoricals: many bytes per row in memory, little for an encoded partition). The same
``--seed`` gives the same file (CSV or Parquet by the extension). A table of more than
``--chunk-rows`` rows is generated and written chunk by chunk (chunk ``k`` drawn with seed
``seed * 1000 + k``, chunk 0 with ``seed``), so no table is ever held whole: it can be larger
than memory. ``benchmarks/mop_vs_task.py`` is the benchmark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def mop_table(rows: int, seed: int = 0, extra_columns: int = 0, text_columns: int = 0,
              text_chars: int = 32) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
    frame.loc[rng.random(rows) < 0.05, "x7"] = np.nan
    frame["region"] = rng.choice([f"r{i}" for i in range(12)], size=rows)
    frame["kind"] = rng.choice(["a", "b", "c"], size=rows, p=[0.6, 0.3, 0.1])
    effect = frame["region"].str[1:].astype(int).to_numpy() / 6.0 - 1.0
    y = (2 * np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + np.abs(x[:, 3]) + effect
         + (frame["kind"] == "c") * 1.5 + rng.normal(0, 0.3, rows))
    frame["y"] = 50 + 10 * y
    if extra_columns:  # drawn after y, so y is the same with or without them
        noise = pd.DataFrame(rng.normal(size=(rows, extra_columns)), columns=[f"z{i}" for i in range(extra_columns)])
        frame = pd.concat([frame.drop(columns="y"), noise, frame["y"]], axis=1)
    if text_columns:  # drawn last, so the other columns are the same with or without them
        hexes = np.frombuffer(rng.bytes(rows * text_columns * text_chars // 2).hex().encode(), dtype=f"S{text_chars}")
        texts = pd.DataFrame(hexes.astype(f"U{text_chars}").reshape(rows, text_columns),
                             columns=[f"t{i}" for i in range(text_columns)]).astype("str")
        frame = pd.concat([frame.drop(columns="y"), texts, frame["y"]], axis=1)
    return frame


def write_table(path: Path, rows: int, seed: int = 0, chunk_rows: int = 500_000, **columns) -> dict:
    """Write the table chunk by chunk (module doc); its rows, columns and in-memory size (pandas, deep)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    writer, memory, written, width = None, 0, 0, 0
    for k, start in enumerate(range(0, rows, chunk_rows)):
        frame = mop_table(min(chunk_rows, rows - start), seed if k == 0 else seed * 1000 + k, **columns)
        memory += int(frame.memory_usage(deep=True, index=False).sum())
        written, width = written + len(frame), frame.shape[1]
        if path.suffix == ".parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        else:
            frame.to_csv(path, index=False, mode="w" if k == 0 else "a", header=k == 0)
    if writer is not None:
        writer.close()
    return {"rows": written, "columns": width, "memory_gib": round(memory / 2**30, 3),
            "file_gib": round(path.stat().st_size / 2**30, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-columns", type=int, default=0, help="numeric noise columns z0... to add")
    parser.add_argument("--text-columns", type=int, default=0, help="ID-like text columns t0... to add")
    parser.add_argument("--text-chars", type=int, default=32, help="characters of each text value")
    parser.add_argument("--chunk-rows", type=int, default=500_000, help="rows generated and written at a time")
    parser.add_argument("--out", type=Path, required=True, help="a .csv or .parquet path")
    args = parser.parse_args(argv)
    about = write_table(args.out, args.rows, args.seed, args.chunk_rows, extra_columns=args.extra_columns,
                        text_columns=args.text_columns, text_chars=args.text_chars)
    print(f"wrote {args.out}: {about['rows']} rows, {about['memory_gib']} GiB in memory, target y")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
