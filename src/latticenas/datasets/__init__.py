"""Example data shipped with latticenas (see README.md in this folder)."""

from __future__ import annotations

from importlib import resources

from latticenas.errors import DataError


def available() -> tuple[str, ...]:
    """Names of the bundled example tables."""
    files = resources.files(__name__).iterdir()
    return tuple(sorted(f.name[: -len(".csv")] for f in files if f.name.endswith(".csv")))


def example_path(name: str = "ames") -> str:
    """Filesystem path of the bundled example table ``<name>.csv``; DataError if unknown."""
    resource = resources.files(__name__) / f"{name}.csv"
    if not resource.is_file():
        raise DataError(f"no bundled example {name!r}: choose one of {', '.join(available())}")
    return str(resource)
