"""Durable experiment state: one SQLite database per experiment directory.

Contract:

* ``<experiment dir>/experiment.db`` in WAL mode with ``synchronous=FULL``; every trial
  transition (created -> running -> finished) is one committed transaction, so a runner killed
  at any moment (Ctrl-C, ``kill -9``, power loss) leaves every finished trial intact and every
  other trial in Created or Running.
* The ``experiment`` row keeps the manifest (JSON), the budget overrides given on the command
  line (remembered for the next run), the experiment status and its reason.
* The ``trials`` rows keep name, index, parameters, the engine's bookkeeping, state, metric
  values, objective, times, exit code, the pid and run id of the current attempt, attempts.
* :meth:`ExperimentStore.trials` returns immutable :class:`TrialRecord` snapshots. All methods
  are thread-safe (one connection guarded by a lock). Readers (``experiment status``) open the
  same file while a run writes to it.
* :func:`run_lock` holds an exclusive ``flock`` on ``<dir>/.run.lock`` for the length of a run,
  so two runners never share a directory (the OS drops it when a runner dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError
from latticenas.runner.trials import TrialRecord, TrialState

DB_NAME = "experiment.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    manifest TEXT NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'Created',
    reason TEXT NOT NULL DEFAULT '',
    max_trials INTEGER,
    parallel INTEGER
);
CREATE TABLE IF NOT EXISTS trials (
    idx INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    params TEXT NOT NULL,
    engine_attrs TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    objective REAL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    exit_code INTEGER,
    pid INTEGER,
    run_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT ''
);
"""


class ExperimentStore:
    """The experiment database of one directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    @classmethod
    def open_existing(cls, directory: str | Path) -> ExperimentStore:
        path = Path(directory) / DB_NAME
        if not path.is_file():
            raise LatticeNASError(f"{directory}: no experiment here (no {DB_NAME}); pass the --dir of a run")
        return cls(directory)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- the experiment ----------------------------------------------------------------

    def initialize(self, name: str, manifest: Mapping[str, Any]) -> None:
        """Record the experiment once; later calls keep the first record."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO experiment (id, name, manifest, created) VALUES (1, ?, ?, ?)",
                (name, json.dumps(manifest, default=str), time.time()),
            )

    def update_manifest(self, manifest: Mapping[str, Any], name: str | None = None) -> None:
        with self._transaction() as cur:
            cur.execute("UPDATE experiment SET manifest = ? WHERE id = 1", (json.dumps(manifest, default=str),))
            if name is not None:
                cur.execute("UPDATE experiment SET name = ? WHERE id = 1", (name,))

    def experiment(self) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM experiment WHERE id = 1")
        if not rows:
            return None
        row = dict(rows[0])
        row["manifest"] = json.loads(row["manifest"])
        return row

    def set_overrides(self, max_trials: int | None, parallel: int | None) -> None:
        with self._transaction() as cur:
            if max_trials is not None:
                cur.execute("UPDATE experiment SET max_trials = ? WHERE id = 1", (max_trials,))
            if parallel is not None:
                cur.execute("UPDATE experiment SET parallel = ? WHERE id = 1", (parallel,))

    def set_status(self, status: str, reason: str = "") -> None:
        with self._transaction() as cur:
            cur.execute("UPDATE experiment SET status = ?, reason = ? WHERE id = 1", (status, reason))

    # -- trials ------------------------------------------------------------------------

    def trials(self) -> list[TrialRecord]:
        return [_record(row) for row in self._query("SELECT * FROM trials ORDER BY idx")]

    def trial(self, name: str) -> TrialRecord:
        rows = self._query("SELECT * FROM trials WHERE name = ?", (name,))
        if not rows:
            raise KeyError(name)
        return _record(rows[0])

    def create_trial(self, name_prefix: str, params: Mapping, engine_attrs: Mapping) -> TrialRecord:
        """Insert the next trial (state Created); its name is ``<prefix>-<index:04d>``."""
        with self._transaction() as cur:
            index = cur.execute("SELECT COALESCE(MAX(idx), 0) + 1 FROM trials").fetchone()[0]
            name = f"{name_prefix}-{index:04d}"
            cur.execute(
                "INSERT INTO trials (idx, name, params, engine_attrs, state, created) VALUES (?, ?, ?, ?, ?, ?)",
                (index, name, json.dumps(dict(params)), json.dumps(dict(engine_attrs)), TrialState.CREATED.value, time.time()),
            )
        return self.trial(name)

    def mark_running(self, name: str, pid: int, run_id: str) -> None:
        with self._transaction() as cur:
            cur.execute(
                "UPDATE trials SET state = ?, started = ?, pid = ?, run_id = ?, attempts = attempts + 1 "
                "WHERE name = ?",
                (TrialState.RUNNING.value, time.time(), pid, run_id, name),
            )

    def finish(
        self,
        name: str,
        state: TrialState,
        metrics: Mapping[str, Any],
        objective: float | None,
        exit_code: int | None,
        message: str = "",
    ) -> TrialRecord:
        with self._transaction() as cur:
            cur.execute(
                "UPDATE trials SET state = ?, metrics = ?, objective = ?, exit_code = ?, ended = ?, "
                "message = ? WHERE name = ?",
                (state.value, json.dumps({k: list(v) for k, v in metrics.items()}), objective, exit_code, time.time(), message, name),
            )
        return self.trial(name)

    def reset_interrupted(self) -> list[TrialRecord]:
        """Trials a dead runner left in Running: back to Created (same name and parameters)."""
        interrupted = [t for t in self.trials() if not t.state.finished]
        with self._transaction() as cur:
            cur.execute(
                "UPDATE trials SET state = ?, started = NULL, pid = NULL, metrics = '{}' WHERE state IN (?, ?)",
                (TrialState.CREATED.value, TrialState.CREATED.value, TrialState.RUNNING.value),
            )
        return interrupted

    def running_pids(self) -> list[tuple[int, str]]:
        rows = self._query("SELECT pid, run_id FROM trials WHERE state = ? AND pid IS NOT NULL", (TrialState.RUNNING.value,))
        return [(row["pid"], row["run_id"]) for row in rows]


def _record(row: sqlite3.Row) -> TrialRecord:
    return TrialRecord(
        index=row["idx"],
        name=row["name"],
        params=json.loads(row["params"]),
        state=TrialState(row["state"]),
        metrics=json.loads(row["metrics"]),
        objective=row["objective"],
        created=row["created"],
        started=row["started"],
        ended=row["ended"],
        exit_code=row["exit_code"],
        attempts=row["attempts"],
        message=row["message"],
        engine_attrs=json.loads(row["engine_attrs"]),
    )


@contextlib.contextmanager
def run_lock(directory: str | Path) -> Iterator[None]:
    """Exclusive use of an experiment directory for one run."""
    path = Path(directory) / ".run.lock"
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise LatticeNASError(f"{directory}: another run is using this directory (pid {owner})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def is_locked(directory: str | Path) -> bool:
    """Whether a runner holds ``directory`` right now."""
    path = Path(directory) / ".run.lock"
    if not path.is_file():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
