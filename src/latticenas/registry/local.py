"""A registry in a local (or mounted, e.g. a PVC) directory.

Versions are claimed with ``os.mkdir`` of ``models/<name>/v<N>``, which is atomic: of two
registrations trying the same number one gets ``FileExistsError`` and moves to the next.
The manifest and the ``latest`` pointer are written to a temporary file and renamed into
place; ``latest`` is advanced under an exclusive ``flock`` on ``models/<name>/.latest.lock``
so concurrent registrations cannot move it backwards. A failed registration's directory is
removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from latticenas.fileio import atomic_write
from latticenas.registry.base import (
    LATEST,
    MANIFEST,
    MODELS,
    Registry,
    RegistryError,
    version_name,
    version_number,
)

_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")
MAX_CLAIM_TRIES = 10_000


class LocalRegistry(Registry):
    """Models under ``<root>/models/<name>/<version>/`` on a local file system."""

    def __init__(self, root: str | os.PathLike):
        self.root = str(root)

    def __repr__(self) -> str:
        return f"LocalRegistry({self.root!r})"

    def _model_dir(self, name: str) -> Path:
        return Path(self.root) / MODELS / name

    def _uri(self, name: str, version: str | None = None) -> str:
        path = self._model_dir(name)
        return str(path / version if version else path)

    def _claim(self, name: str) -> int:
        model_dir = self._model_dir(name)
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(
                f"cannot create {model_dir}: {exc.strerror or exc}; check the registry root "
                "path and its permissions"
            ) from exc
        number = max(self._numbers(model_dir), default=0) + 1
        for _ in range(MAX_CLAIM_TRIES):
            try:
                os.mkdir(model_dir / version_name(number))
                return number
            except FileExistsError:
                number += 1
            except OSError as exc:
                raise RegistryError(
                    f"cannot create a version directory in {model_dir}: {exc.strerror or exc}; "
                    "check its permissions"
                ) from exc
        raise RegistryError(f"no free version found in {model_dir}: clean up the directory")

    @staticmethod
    def _numbers(model_dir: Path) -> list[int]:
        try:
            names = os.listdir(model_dir)
        except FileNotFoundError:
            return []
        return [int(m.group(1)) for m in map(_VERSION_DIR.match, names) if m]

    def _put_file(self, name: str, version: str, relative: str, source: Path) -> None:
        target = self._model_dir(name) / version / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def _put_bytes(self, name: str, version: str, relative: str, data: bytes) -> None:
        atomic_write(self._model_dir(name) / version / relative, data)

    def _read_bytes(self, name: str, version: str | None, relative: str) -> bytes | None:
        base = self._model_dir(name)
        path = (base / version / relative) if version else base / relative
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _list_complete(self, name: str) -> list[int]:
        model_dir = self._model_dir(name)
        return [n for n in self._numbers(model_dir) if (model_dir / version_name(n) / MANIFEST).is_file()]

    def _advance_latest(self, name: str, number: int) -> None:
        model_dir = self._model_dir(name)
        with _exclusive(model_dir / ".latest.lock"):
            current = self._read_bytes(name, None, LATEST)
            if current is not None and version_number(current.decode().strip()) >= number:
                return
            atomic_write(model_dir / LATEST, (version_name(number) + "\n").encode())

    def _abandon(self, name: str, version: str) -> None:
        shutil.rmtree(self._model_dir(name) / version, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An exclusive ``flock`` on ``lock_path`` (no-op where ``fcntl`` does not exist)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
