"""The last trial's table, kept by a long-lived process for the next trial on the same data.

A warm trial worker (:mod:`latticenas.runner.warm_worker`) runs trial after trial in one
process, and a search's trials all read the same table: reading, inferring, checking and
splitting it again is most of what a warm trial does before training. :class:`DataCache`
keeps one checked, split :class:`~latticenas.data.Dataset`, keyed by

* the file's **content** (SHA-256 of its bytes: an edited file is read again) and its path;
* every option that shapes the result (target, task, dropped columns, fractions, leakage
  exceptions, the infinite-value rule).

Each hit is a copy (the frames are copied), so a trial cannot change what the next one gets.
One entry only, dropped before a different table is read, so a worker holds at most one table
beyond the running trial's. :meth:`DataCache.derived` keeps what a trial computes from the
table alone beside it (the fitted encoding and the encoded arrays, keyed by the encoding
options: :func:`latticenas.train.prepare_cached`), dropped with it. ``gs://`` inputs and directories are not cached (their content is
not one local file). A one-shot trial process has no cache: :func:`enabled` is off unless a
worker turns it on.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from typing import Callable

from latticenas.data.dataset import Dataset

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class DataCache:
    """One :class:`Dataset` by content and options; :meth:`load` reads through it."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._dataset: Dataset | None = None
        self._issued: Dataset | None = None  # the copy the last load returned
        self._derived: dict[tuple, object] = {}  # values computed from the cached table
        self.hits = 0
        self.misses = 0

    def load(self, path: str, options: tuple, read: Callable[[], Dataset]) -> Dataset:
        """The dataset ``read()`` gives for ``path`` with ``options``, from the cache when the
        file's content and the options are the same as last time."""
        key = _key(path, options)
        if key is not None and key == self._key:
            self.hits += 1
            log.info("data: the same table as this worker's last trial, reused (%s)", path)
            self._issued = _copy(self._dataset)
            return self._issued
        self._key = self._dataset = self._issued = None  # the old table goes before the new one is read
        self._derived.clear()
        dataset = read()
        self.misses += 1
        if key is not None:
            self._key, self._dataset, self._issued = key, _copy(dataset), dataset
        return dataset

    def derived(self, dataset: Dataset, options: tuple, compute: Callable[[], object]) -> object:
        """``compute()``, a value made from ``dataset`` with ``options`` alone, kept for the next
        trial on the same table with the same options. Only for the dataset the last
        :meth:`load` returned; kept as long as that table is (a value must not be changed)."""
        if dataset is not self._issued or self._key is None:
            return compute()
        if options not in self._derived:
            self._derived[options] = compute()
        else:
            log.info("data: the encoded table of this worker's last trial, reused")
        return self._derived[options]


def _key(path: str, options: tuple) -> tuple | None:
    if not os.path.isfile(path):
        return None  # gs://, a directory: no local content to key by
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return os.path.realpath(path), digest.hexdigest(), options


def _copy(dataset: Dataset) -> Dataset:
    return replace(dataset, train=dataset.train.copy(), val=dataset.val.copy(), test=dataset.test.copy())


_process_cache: DataCache | None = None


def enable() -> DataCache:
    """Turn this process's cache on (a warm worker does, once); returns it."""
    global _process_cache
    if _process_cache is None:
        _process_cache = DataCache()
    return _process_cache


def enabled() -> DataCache | None:
    """This process's cache, or ``None`` where none was enabled (a one-shot trial process)."""
    return _process_cache


__all__ = ["DataCache", "enable", "enabled"]
