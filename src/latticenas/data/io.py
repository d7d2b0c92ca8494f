"""Reading tables and bytes from local paths or ``gs://bucket/path`` URIs.

Contracts:

* :func:`read_table` reads CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``),
  chosen by the file extension, and returns a DataFrame with at least one row and one column,
  each column named once (a header naming two columns alike is refused, not renamed).
* :func:`read_bytes` / :func:`write_bytes` move raw bytes; local writes create parent
  directories, and a full disk or read-only location raises
  :class:`~latticenas.errors.StorageError`. :func:`exists` tells whether a file or object is there.
* Every unusable input (missing file, bucket or object, empty or unparsable file, unsupported
  extension, malformed ``gs://`` URI, missing credentials) raises :class:`DataError` with a
  one-line message naming the URI, the problem and the fix.

Google Cloud Storage is reached with ``google.cloud.storage.Client()``. When the environment
variable ``STORAGE_EMULATOR_HOST`` is set (for example ``http://127.0.0.1:9023`` for
``gcp-storage-emulator``), the client uses anonymous credentials and the project from
``GOOGLE_CLOUD_PROJECT`` (default ``latticenas-local``) so that no real account is needed.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from latticenas.errors import DataError
from latticenas.fileio import storage_faults

GCS_SCHEME = "gs://"
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


@dataclass(frozen=True)
class GcsPath:
    """A parsed ``gs://bucket/blob`` URI."""

    bucket: str
    blob: str


def is_gcs_uri(uri: str) -> bool:
    """True when ``uri`` starts with ``gs://``."""
    return str(uri).startswith(GCS_SCHEME)


def parse_gcs_uri(uri: str) -> GcsPath:
    """Split ``gs://bucket/path`` into bucket and object name; DataError when malformed."""
    rest = str(uri)[len(GCS_SCHEME) :]
    bucket, _, blob = rest.partition("/")
    if not _BUCKET_RE.match(bucket) or not blob or blob.endswith("/"):
        raise DataError(
            f"bad Cloud Storage URI {uri!r}: expected gs://<bucket>/<path/to/file> "
            "with a lowercase bucket name and an object path"
        )
    return GcsPath(bucket, blob)


def join_uri(base: str, *parts: str) -> str:
    """Join path segments onto a local path or a ``gs://`` URI (always ``/`` for gs)."""
    base = str(base)
    if not is_gcs_uri(base):
        return os.path.join(base, *(str(p) for p in parts))
    segments = [base.rstrip("/")] + [str(p).strip("/") for p in parts]
    return "/".join(s for s in segments if s)


@functools.lru_cache(maxsize=4)
def _gcs_client(emulator_host: str | None):
    """A cached storage client; anonymous against an emulator, default credentials otherwise."""
    from google.cloud import storage

    if emulator_host:
        from google.auth.credentials import AnonymousCredentials

        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "latticenas-local")
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client()


def gcs_client():
    """The storage client for the current environment (honours ``STORAGE_EMULATOR_HOST``)."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return _gcs_client(os.environ.get("STORAGE_EMULATOR_HOST") or None)
    except DefaultCredentialsError as exc:
        raise DataError(
            "no Google Cloud credentials to reach Cloud Storage: run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from exc


def _gcs_error(uri: str, exc: Exception, bucket) -> DataError:
    """Translate a google.api_core error into a one-line DataError."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.NotFound):
        try:
            bucket_there = bucket.exists()
        except gexc.GoogleAPIError:
            bucket_there = True
        if not bucket_there:
            return DataError(
                f"bucket {bucket.name!r} of {uri} does not exist: check the bucket name"
            )
        return DataError(f"object {uri} does not exist: check the path (gsutil ls) or upload it")
    if isinstance(exc, gexc.Forbidden):
        return DataError(f"access to {uri} denied: grant the account read/write on the bucket")
    return DataError(f"cannot reach {uri}: {_first_line(exc)}")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's text, shortened, for one-line messages."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def read_bytes(uri: str) -> bytes:
    """Read a whole local file or ``gs://`` object; DataError when it is not there."""
    uri = str(uri)
    if is_gcs_uri(uri):
        return _on_gcs_blob(uri, lambda blob: blob.download_as_bytes())
    return local_file(uri).read_bytes()


def local_file(uri: str) -> Path:
    """The local file at ``uri``; DataError when it is not there or is a directory."""
    path = Path(uri)
    if not path.exists():
        raise DataError(f"file {uri} does not exist: check the path")
    if path.is_dir():
        raise DataError(f"{uri} is a directory, not a file: pass the path of a file")
    return path


def write_bytes(uri: str, data: bytes) -> None:
    """Write bytes to a local file (creating parent directories) or a ``gs://`` object."""
    uri = str(uri)
    if is_gcs_uri(uri):
        _on_gcs_blob(uri, lambda blob: blob.upload_from_string(data))
        return
    path = Path(uri)
    with storage_faults(uri):  # a full disk or a read-only location: one line, not a traceback
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def put_file(path: Path, uri: str) -> None:
    """Move the local file ``path`` to ``uri`` (a local path or a ``gs://`` object, uploaded from
    the file without reading it into memory)."""
    uri = str(uri)
    if is_gcs_uri(uri):
        _on_gcs_blob(uri, lambda blob: blob.upload_from_filename(str(path)))
        return
    with storage_faults(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), uri)


def exists(uri: str) -> bool:
    """True when the local file or ``gs://`` object exists."""
    uri = str(uri)
    if is_gcs_uri(uri):
        return _on_gcs_blob(uri, lambda blob: blob.exists())
    return Path(uri).is_file()


def _on_gcs_blob(uri: str, operation):
    """Apply ``operation`` to the blob of a ``gs://`` URI; API errors become one-line DataErrors."""
    from google.api_core import exceptions as gexc

    loc = parse_gcs_uri(uri)
    bucket = gcs_client().bucket(loc.bucket)
    try:
        return operation(bucket.blob(loc.blob))
    except gexc.GoogleAPIError as exc:
        raise _gcs_error(uri, exc, bucket) from exc


def table_format(uri: str) -> str:
    """``"csv"`` or ``"parquet"`` from the extension; DataError for anything else."""
    name = str(uri).lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    suffix = "".join(Path(name).suffixes) or "(none)"
    raise DataError(
        f"unsupported file type {suffix!r} for {uri}: use one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


def read_table(uri: str) -> pd.DataFrame:
    """Read a CSV or Parquet table from a local path or ``gs://`` URI.

    Returns a DataFrame with string column names, at least one column and one row.
    Raises DataError (one line) for every unusable input.
    """
    uri = str(uri)
    fmt = table_format(uri)
    data = read_bytes(uri)
    if not data or data.isspace():
        raise empty_table(uri)
    df = _parse(uri, fmt, data)
    check_shape(uri, df.shape[1], df.shape[0])
    df.columns = [str(c) for c in df.columns]
    _check_unique_names(uri, list(df.columns))  # Parquet, or names alike only as text (1 and "1")
    return df


def empty_table(uri: str) -> DataError:
    return DataError(f"data file {uri} is empty: point at a file with a header and rows")


def check_shape(uri: str, columns: int, rows: int) -> None:
    """DataError for a table with no column or no row."""
    if columns == 0:
        raise DataError(f"data file {uri} has no columns: check the file contents")
    if rows == 0:
        raise DataError(f"data file {uri} has a header but no rows: point at a file with data")


def _check_unique_names(uri: str, names: list) -> None:
    """DataError for a header that names two columns alike (pandas would rename one ``x.1``)."""
    names = [str(n) for n in names]
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name and name in seen:
            raise DataError(f"data file {uri} names two columns {name!r} (columns {seen[name]} and {position}): "
                            "give each column its own name")
        seen.setdefault(name, position)


def _parse(uri: str, fmt: str, data: bytes) -> pd.DataFrame:
    """Parse bytes as CSV or Parquet; DataError when they are not."""
    buffer = io.BytesIO(data)
    with parse_errors(uri, fmt):
        if fmt == "parquet":
            return pd.read_parquet(buffer)
        compression = "gzip" if uri.lower().endswith(".gz") else None
        check_csv_header(uri, io.BytesIO(data), compression)
        return pd.read_csv(buffer, compression=compression)


def check_csv_header(uri: str, source, compression: str | None) -> None:
    """DataError for a CSV header that names two columns alike."""
    header = pd.read_csv(source, compression=compression, header=None, nrows=1, dtype=str, keep_default_na=False)
    _check_unique_names(uri, header.iloc[0].tolist())


@contextlib.contextmanager
def parse_errors(uri: str, fmt: str):
    """A parser's errors as one DataError line naming ``uri`` and its format."""
    try:
        yield
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise empty_table(uri) from exc
    except Exception as exc:  # parsers raise many types (ArrowInvalid, ParserError, OSError...)
        raise DataError(
            f"cannot parse {uri} as {fmt.upper()}: {_first_line(exc)} (check the file format)"
        ) from exc
