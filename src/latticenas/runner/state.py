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
* Faults of the environment (a full disk, a read-only directory, a damaged file) raise
  :class:`~latticenas.errors.StorageError` naming the file and the fix; a transaction the disk
  refused is rolled back whole, so the store stays as it was and the run can resume.
  :meth:`ExperimentStore.open_existing` reads a directory it cannot write (read-only).
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

from latticenas.errors import LatticeNASError, StorageError
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

    def __init__(self, directory: str | Path, read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.read_only = read_only
        self._lock = threading.Lock()
        with _sqlite_faults(self.path):
            self._conn = _connect(self.path, read_only)
            self._conn.row_factory = sqlite3.Row
            if not read_only:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(SCHEMA)

    @classmethod
    def open_existing(cls, directory: str | Path) -> ExperimentStore:
        """The store of a directory a run made, for reading (``experiment status``): read-only
        when the directory cannot be written (a read-only mount, a full disk)."""
        path = Path(directory) / DB_NAME
        if not path.is_file():
            raise LatticeNASError(f"{directory}: no experiment here (no {DB_NAME}); pass the --dir of a run")
        if not os.access(directory, os.W_OK):
            return cls(directory, read_only=True)
        try:
            return cls(directory)
        except StorageError as exc:
            if not isinstance(exc.__cause__, sqlite3.OperationalError):
                raise  # damaged: reading it read-only would not help
            return cls(directory, read_only=True)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, _sqlite_faults(self.path):
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # a refused COMMIT (disk full) leaves it open
                    with contextlib.suppress(sqlite3.Error):
                        cur.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock, _sqlite_faults(self.path):
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


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    """A connection; read-only ones read a WAL database without writing beside it (``immutable``
    when no write-ahead log is left over, as after a run that ended)."""
    target: str | Path = path
    if read_only:
        wal = path.with_name(path.name + "-wal")
        left_over = wal.exists() and wal.stat().st_size > 0
        target = f"{path.resolve().as_uri()}?{'mode=ro' if left_over else 'immutable=1'}"
    return sqlite3.connect(target, uri=read_only, check_same_thread=False, timeout=30.0, isolation_level=None)


# SQLite's primary result codes that are the environment's fault -> (the problem, the fix)
_SQLITE_FAULTS = {
    "SQLITE_FULL": ("cannot be written: the disk is full", "free some space, then run again: the experiment resumes"),
    "SQLITE_IOERR": ("cannot be written: disk I/O error (is the disk full?)", "free some space or check the disk, then run again: the experiment resumes"),
    "SQLITE_READONLY": ("cannot be written (a read-only location)", "copy the directory to a writable place to run it; `latticenas experiment status` still reads it"),
    "SQLITE_CANTOPEN": ("cannot be opened (a read-only location, no permission or a full disk)", "make the directory writable, or copy it to a writable place"),
    "SQLITE_BUSY": ("is locked by another process", "wait for that process, or stop it"),
    "SQLITE_CORRUPT": ("is damaged", "restore it from a backup, or start the experiment again in a new --dir"),
    "SQLITE_NOTADB": ("is not an experiment database (damaged or overwritten)", "restore it from a backup, or start the experiment again in a new --dir"),
}
# the same, by the text of the message (Python < 3.11 gives no error code)
_SQLITE_TEXTS = {"disk is full": "SQLITE_FULL", "disk i/o error": "SQLITE_IOERR", "readonly": "SQLITE_READONLY",
                 "unable to open": "SQLITE_CANTOPEN", "is locked": "SQLITE_BUSY", "malformed": "SQLITE_CORRUPT",
                 "not a database": "SQLITE_NOTADB"}


@contextlib.contextmanager
def _sqlite_faults(path: Path) -> Iterator[None]:
    """The store's one error boundary: SQLite errors that are the environment's fault (disk
    full, read-only, damaged file) become a StorageError naming the file and the fix."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        code = _sqlite_code(exc)
        if code is None:
            raise  # a bug (bad SQL, a constraint): keep the traceback
        problem, fix = _SQLITE_FAULTS[code]
        raise StorageError(f"experiment database {path} {problem} (sqlite: {exc}); {fix}") from exc


def _sqlite_code(exc: sqlite3.DatabaseError) -> str | None:
    name = getattr(exc, "sqlite_errorname", "") or ""
    for code in _SQLITE_FAULTS:
        if name == code or name.startswith(code + "_"):
            return code
    text = str(exc).lower()
    return next((code for fragment, code in _SQLITE_TEXTS.items() if fragment in text), None)


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
