"""The model registry contract, shared records and the registration steps every backend runs.

Contract of a :class:`Registry` (every backend, tested by one shared contract test):

* ``register(entry)`` copies every file under ``entry.model_dir`` (a local directory holding
  the retrained artifacts: at least ``model.keras``, ``spec.json``, ``metrics.json`` and
  ``preprocessing.json``; ``saved_model/`` and the rest are copied too) to a NEW version of
  model ``entry.name`` and returns a :class:`RegisteredModel`. Layout under the registry root::

      models/<name>/<version>/model.keras, saved_model/..., spec.json, metrics.json, ...
      models/<name>/<version>/lineage.json   the entry's Lineage
      models/<name>/<version>/manifest.json  every file with size and sha256; written LAST:
                                             a version is complete once it is there
      models/<name>/latest                   the newest complete version, e.g. ``v2``

* versions are ``v1``, ``v2``, ... allocated so that two registrations, even concurrent ones
  from different threads, processes or machines, never get the same version and never
  overwrite each other: a version is claimed atomically (a local ``os.mkdir``, a Cloud
  Storage object created with an ``if_generation_match=0`` precondition) and the next number
  is tried on conflict. A registration that fails midway never yields a complete version
  (no manifest): it is not listed, and ``latest`` never points at it.
* ``latest`` is written after the version's files and only ever moves forward (a slower
  registration of ``v1`` finishing after ``v2`` leaves it at ``v2``).
* ``list_versions(name)`` lists the complete versions in order; ``latest(name)`` and
  ``get(name, version)`` describe one (``latest`` gives None before the first registration).
* ``entry.model_dir`` is only read, never changed, whatever happens.
* every failure a user can fix (missing files, bad name, unreachable store, permissions)
  raises :class:`RegistryError` with one line naming the location and the fix.

A backend implements the storage primitives (``_claim``, ``_put_file``, ``_put_bytes``,
``_read_bytes``, ``_list_complete``, ``_advance_latest``, ``_uri``); :meth:`Registry.register`
runs the steps above in order.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError

MODELS = "models"
LATEST = "latest"
LINEAGE = "lineage.json"
MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.keras", "spec.json", "metrics.json", "preprocessing.json")
RESERVED_FILES = (LINEAGE, MANIFEST)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")


class RegistryError(LatticeNASError, RuntimeError):
    """A registration or lookup that cannot be done (one line: where, what, the fix)."""


def _package_version() -> str:
    from latticenas import __version__

    return __version__


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` suffix."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Lineage:
    """Where a registered model came from (stored as ``lineage.json`` next to it)."""

    data_uri: str
    data_fingerprint: str
    experiment_name: str
    trial_name: str
    parameters: dict[str, Any]
    metrics: dict[str, float]
    spec_hash: str
    package_version: str = field(default_factory=_package_version)
    created_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lineage:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ModelEntry:
    """A model to register: its name, the local directory of its files, its lineage."""

    name: str
    model_dir: str
    lineage: Lineage


@dataclass(frozen=True)
class RegisteredModel:
    """One registered version: ``uri`` is its directory; ``files`` are relative to it."""

    name: str
    version: str
    uri: str
    files: tuple[str, ...]

    @property
    def number(self) -> int:
        return version_number(self.version)


def check_name(name: str) -> str:
    """The model name, when usable as a path segment; RegistryError otherwise."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (MODELS, LATEST):
        raise RegistryError(
            f"model name {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def version_number(version: str | int) -> int:
    """``"v3"`` or ``3`` -> 3; RegistryError for anything else."""
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        return version
    match = _VERSION_RE.match(str(version).strip())
    if not match:
        raise RegistryError(f"version {version!r} is not a version: use v1, v2, ... (or 1, 2, ...)")
    return int(match.group(1))


def version_name(number: int) -> str:
    return f"v{number}"


def model_files(model_dir: str) -> dict[str, Path]:
    """``{relative posix path: local path}`` of every file to copy from ``model_dir``.

    RegistryError when the directory or a required file is missing. ``lineage.json`` and
    ``manifest.json`` are left out: the registry writes its own.
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise RegistryError(
            f"model directory {model_dir} does not exist: point at the retrain step's output"
        )
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise RegistryError(
            f"model directory {model_dir} lacks {', '.join(missing)}: point at the retrain "
            "step's output (latticenas.retrain.retrain_best writes them)"
        )
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            if relative not in RESERVED_FILES:
                found[relative] = path
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


class Registry(ABC):
    """A versioned model store; see the module docstring for the contract."""

    #: the registry root (a local directory or a ``gs://`` prefix)
    root: str

    # ------------------------------------------------------------------ the public API

    def register(self, entry: ModelEntry) -> RegisteredModel:
        """Copy ``entry.model_dir`` to a new version of ``entry.name``; see the contract."""
        name = check_name(entry.name)
        files = model_files(entry.model_dir)
        manifest = {
            "name": name,
            "created_at": utc_now(),
            "files": {rel: {"size": p.stat().st_size, "sha256": _sha256(p)} for rel, p in files.items()},
            "lineage": LINEAGE,
        }
        number = self._claim(name)
        version = version_name(number)
        try:
            for relative, path in files.items():
                self._put_file(name, version, relative, path)
            self._put_bytes(name, version, LINEAGE, to_json_bytes(entry.lineage.to_dict()))
            self._put_bytes(name, version, MANIFEST, to_json_bytes({**manifest, "version": version}))
            self._advance_latest(name, number)
        except BaseException:
            self._abandon(name, version)
            raise
        return RegisteredModel(name, version, self._uri(name, version), _file_list(files))

    def list_versions(self, name: str) -> list[str]:
        """The complete versions of ``name``, oldest first (``[]`` when there are none)."""
        return [version_name(n) for n in sorted(self._list_complete(check_name(name)))]

    def latest(self, name: str) -> RegisteredModel | None:
        """The version ``models/<name>/latest`` points at, or None before the first one."""
        data = self._read_bytes(check_name(name), None, LATEST)
        if data is None:
            return None
        return self.get(name, data.decode("utf-8").strip())

    def get(self, name: str, version: str | int) -> RegisteredModel:
        """One complete version; RegistryError when it does not exist (or is incomplete)."""
        name = check_name(name)
        version = version_name(version_number(version))
        data = self._read_bytes(name, version, MANIFEST)
        if data is None:
            raise RegistryError(
                f"model {name!r} has no complete version {version} at {self._uri(name, version)}: "
                f"pick one of {self.list_versions(name) or 'none (register one first)'}"
            )
        manifest = json.loads(data)
        return RegisteredModel(name, version, self._uri(name, version), _file_list(manifest["files"]))

    def lineage(self, name: str, version: str | int) -> Lineage:
        """The lineage stored with a version."""
        return Lineage.from_dict(json.loads(self.read_bytes(name, version, LINEAGE)))

    def read_bytes(self, name: str, version: str | int, relative: str) -> bytes:
        """One file of a complete version (``relative`` as in ``RegisteredModel.files``)."""
        registered = self.get(name, version)
        data = self._read_bytes(registered.name, registered.version, relative)
        if data is None:
            raise RegistryError(
                f"{registered.uri}/{relative} does not exist: pick one of {', '.join(registered.files)}"
            )
        return data

    # ------------------------------------------------------------------ backend primitives

    @abstractmethod
    def _claim(self, name: str) -> int:
        """Atomically claim and return the next free version number of ``name``."""

    @abstractmethod
    def _put_file(self, name: str, version: str, relative: str, source: Path) -> None:
        """Copy a local file into the version."""

    @abstractmethod
    def _put_bytes(self, name: str, version: str, relative: str, data: bytes) -> None:
        """Write bytes into the version."""

    @abstractmethod
    def _read_bytes(self, name: str, version: str | None, relative: str) -> bytes | None:
        """A file of a version (or of the model when ``version`` is None); None if absent."""

    @abstractmethod
    def _list_complete(self, name: str) -> list[int]:
        """Numbers of the versions that have a manifest."""

    @abstractmethod
    def _advance_latest(self, name: str, number: int) -> None:
        """Point ``latest`` at ``number`` unless it already points at a newer version."""

    @abstractmethod
    def _uri(self, name: str, version: str | None = None) -> str:
        """The URI of the model directory, or of one version's directory."""

    def _abandon(self, name: str, version: str) -> None:  # noqa: B027 - optional hook
        """Best-effort clean-up of a failed registration; must not raise (default: none)."""


def _file_list(files) -> tuple[str, ...]:
    return tuple(sorted([*files, LINEAGE, MANIFEST]))
