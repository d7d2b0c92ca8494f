"""A generated regression table for MOP (``latticenas mop``) and its benchmark.

``python benchmarks/mop_table.py --rows 20000 --out runs/mop-table.csv`` writes ``rows`` rows
of 8 numeric columns (some missing), 2 categorical columns and the target ``y``, a nonlinear
function of them plus noise; ``--extra-columns N`` adds N numeric columns of pure noise
``z0...`` (wider rows: more bytes per training step); the same ``--seed`` gives the same file
(CSV or Parquet by the extension). ``benchmarks/mop_vs_task.py`` is the benchmark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def mop_table(rows: int, seed: int = 0, extra_columns: int = 0) -> pd.DataFrame:
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
    return frame


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-columns", type=int, default=0, help="numeric noise columns z0... to add")
    parser.add_argument("--out", type=Path, required=True, help="a .csv or .parquet path")
    args = parser.parse_args(argv)
    frame = mop_table(args.rows, args.seed, args.extra_columns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".parquet":
        frame.to_parquet(args.out, index=False)
    else:
        frame.to_csv(args.out, index=False)
    print(f"wrote {args.out}: {len(frame)} rows, target y")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
