"""A registry under a Cloud Storage prefix, ``gs://bucket/prefix``.

Layout as in :mod:`latticenas.registry.base`, plus one claim marker per version number,
``models/<name>/claims/v<N>``, created with the precondition ``if_generation_match=0`` (the
request fails with 412 when the object already exists): the registration whose marker is
created owns the number; one that gets 412 tries the next number. ``latest`` is advanced by
compare-and-swap on its generation, so it never moves backwards.

The client is :func:`latticenas.data.io.gcs_client` (``STORAGE_EMULATOR_HOST`` honoured).
The library's own retries are switched off; every request is tried ``1 + retries`` times with
exponential backoff on connection errors, timeouts, 429 and 5xx, then raises
:class:`~latticenas.registry.base.RegistryError` naming the URI and the fix. The local model
directory is only read.

Note: ``gcp-storage-emulator`` ignores ``ifGenerationMatch``, so against it concurrent
registrations are not protected; real Cloud Storage enforces the precondition.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from typing import Callable, TypeVar

from latticenas.data.io import GCS_SCHEME, is_gcs_uri
from latticenas.errors import LatticeNASError
from latticenas.registry.base import (
    LATEST,
    MANIFEST,
    MODELS,
    ModelEntry,
    RegisteredModel,
    Registry,
    RegistryError,
    to_json_bytes,
    utc_now,
    version_name,
    version_number,
)

T = TypeVar("T")
CLAIMS = "claims"
MAX_CLAIM_TRIES = 1000
MAX_BACKOFF = 8.0
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_ERRNO_RE = re.compile(r"\[Errno -?\d+\][^'\")]*")


class RegistryUnreachableError(RegistryError):
    """Cloud Storage could not be reached after the retries."""


class _Conflict(Exception):
    """A precondition failed (412): someone else wrote the object first."""


class GcsRegistry(Registry):
    """Models under ``gs://bucket/prefix/models/<name>/<version>/``."""

    def __init__(
        self,
        uri: str,
        retries: int = 3,
        backoff: float = 0.5,
        *,
        timeout: float = 60.0,
        client=None,
    ):
        uri = str(uri)
        if not is_gcs_uri(uri):
            raise RegistryError(f"{uri!r} is not a Cloud Storage URI: use gs://<bucket>/<prefix>")
        bucket, _, prefix = uri[len(GCS_SCHEME) :].partition("/")
        if not _BUCKET_RE.match(bucket):
            raise RegistryError(
                f"bad Cloud Storage URI {uri!r}: expected gs://<bucket>/<prefix> with a "
                "lowercase bucket name"
            )
        if retries < 0 or backoff < 0:
            raise RegistryError(f"retries ({retries}) and backoff ({backoff}) must be >= 0")
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.root = f"{GCS_SCHEME}{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.retries, self.backoff, self.timeout = int(retries), float(backoff), float(timeout)
        self._client = client

    def __repr__(self) -> str:
        return f"GcsRegistry({self.root!r})"

    # ------------------------------------------------------------------ plumbing

    def register(self, entry: ModelEntry) -> RegisteredModel:
        try:
            return super().register(entry)
        except RegistryUnreachableError as exc:
            raise RegistryUnreachableError(f"{exc} ({entry.model_dir} is unchanged)") from exc.__cause__

    def _bucket(self):
        from latticenas.data.io import gcs_client

        if self._client is None:
            try:
                self._client = gcs_client()
            except LatticeNASError as exc:
                raise RegistryError(f"cannot use {self.root}: {exc}") from exc
        return self._client.bucket(self.bucket_name)

    def _key(self, name: str, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, MODELS, name, *parts) if p)

    def _uri(self, name: str, version: str | None = None) -> str:
        return f"{GCS_SCHEME}{self.bucket_name}/{self._key(name, version or '')}"

    def _call(self, what: str, uri: str, fn: Callable[[], T]) -> T:
        """Run one request with retries; map errors to _Conflict or RegistryError."""
        from google.api_core import exceptions as gexc

        transient = _transient_errors()
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                return fn()
            except gexc.PreconditionFailed as exc:
                raise _Conflict(str(exc)) from exc
            except gexc.NotFound as exc:
                raise RegistryError(
                    f"cannot {what} {uri}: bucket {self.bucket_name!r} does not exist "
                    "(create it, or fix the registry URI)"
                ) from exc
            except (gexc.Forbidden, gexc.Unauthorized) as exc:
                raise RegistryError(
                    f"access to {uri} denied ({_reason(exc)}): give the account "
                    "storage.objects create/get/list on the bucket"
                ) from exc
            except transient as exc:
                if attempt + 1 < attempts:
                    _sleep(min(self.backoff * 2**attempt, MAX_BACKOFF))
                    continue
                raise RegistryUnreachableError(
                    f"cannot reach Cloud Storage to {what} {uri} after {attempts} tries "
                    f"({_reason(exc)}): check the network, the credentials and "
                    f"STORAGE_EMULATOR_HOST{_emulator_hint()}, then register again"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ primitives

    def _claim(self, name: str) -> int:
        number = max(self._scan(name)[0], default=0) + 1
        for _ in range(MAX_CLAIM_TRIES):
            key = self._key(name, CLAIMS, version_name(number))
            marker = to_json_bytes({"claimed_at": utc_now(), "host": socket.gethostname(), "pid": os.getpid()})
            try:
                self._upload(key, marker, if_generation_match=0, what="claim a version at")
                return number
            except _Conflict:
                number += 1
        raise RegistryError(f"no free version of {name!r} found at {self._uri(name)}")

    def _scan(self, name: str) -> tuple[list[int], list[int]]:
        """(claimed numbers, complete numbers) from one listing of ``models/<name>/``."""
        base = self._key(name) + "/"
        claim_re = re.compile(re.escape(base) + CLAIMS + r"/v([1-9][0-9]*)$")
        done_re = re.compile(re.escape(base) + r"v([1-9][0-9]*)/" + re.escape(MANIFEST) + "$")
        bucket = self._bucket()

        def names() -> list[str]:
            blobs = bucket.client.list_blobs(bucket, prefix=base, retry=None, timeout=self.timeout)
            return [b.name for b in blobs]

        claimed, done = [], []
        for key in self._call("list", f"{GCS_SCHEME}{self.bucket_name}/{base}", names):
            if m := claim_re.match(key):
                claimed.append(int(m.group(1)))
            elif m := done_re.match(key):
                done.append(int(m.group(1)))
        return sorted(set(claimed) | set(done)), sorted(done)

    def _upload(self, key: str, data: bytes | Path, *, what: str = "write", **precondition) -> None:
        blob = self._bucket().blob(key)

        def send() -> None:
            kwargs = dict(retry=None, timeout=self.timeout, **precondition)
            if isinstance(data, Path):
                blob.upload_from_filename(str(data), **kwargs)
            else:
                blob.upload_from_string(data, **kwargs)

        self._call(what, f"{GCS_SCHEME}{self.bucket_name}/{key}", send)

    def _put_file(self, name: str, version: str, relative: str, source: Path) -> None:
        self._upload(self._key(name, version, relative), Path(source))

    def _put_bytes(self, name: str, version: str, relative: str, data: bytes) -> None:
        self._upload(self._key(name, version, relative), data)

    def _get(self, key: str) -> tuple[bytes, int] | None:
        """(content, generation) of an object, or None when it does not exist."""
        from google.api_core import exceptions as gexc

        bucket = self._bucket()

        def fetch():
            for _ in range(MAX_CLAIM_TRIES):
                blob = bucket.get_blob(key, retry=None, timeout=self.timeout)
                if blob is None:
                    return None
                generation = int(blob.generation or 0)  # read first: a download may reset it
                try:
                    data = blob.download_as_bytes(
                        retry=None, timeout=self.timeout, if_generation_match=generation or None
                    )
                    return data, generation
                except gexc.PreconditionFailed:  # replaced meanwhile: read the new one
                    continue
                except gexc.NotFound:  # deleted meanwhile
                    return None
            raise RegistryError(f"{GCS_SCHEME}{self.bucket_name}/{key} keeps changing: try again")

        return self._call("read", f"{GCS_SCHEME}{self.bucket_name}/{key}", fetch)

    def _read_bytes(self, name: str, version: str | None, relative: str) -> bytes | None:
        found = self._get(self._key(name, version or "", relative))
        return None if found is None else found[0]

    def _list_complete(self, name: str) -> list[int]:
        return self._scan(name)[1]

    def _advance_latest(self, name: str, number: int) -> None:
        key = self._key(name, LATEST)
        for _ in range(MAX_CLAIM_TRIES):
            found = self._get(key)
            if found is not None and version_number(found[0].decode().strip()) >= number:
                return
            generation = 0 if found is None else found[1]
            try:
                self._upload(key, (version_name(number) + "\n").encode(), if_generation_match=generation,
                             what="update the latest pointer")
                return
            except _Conflict:
                continue
        raise RegistryError(f"could not update {self._uri(name)}/{LATEST}: too much contention")

    def _abandon(self, name: str, version: str) -> None:
        """Delete what was uploaded of a failed version (one try, errors ignored)."""
        try:
            bucket = self._bucket()
            prefix = self._key(name, version) + "/"
            for blob in bucket.client.list_blobs(bucket, prefix=prefix, retry=None, timeout=10):
                blob.delete(retry=None, timeout=10)
        except Exception:  # noqa: BLE001 - best effort; the store may be unreachable
            pass


def _sleep(seconds: float) -> None:
    """The pause between tries (a function of its own so tests can record it)."""
    time.sleep(seconds)


def _transient_errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    return (
        requests.ConnectionError,
        requests.Timeout,
        ConnectionError,
        TimeoutError,
        auth_exc.TransportError,
        gexc.TooManyRequests,
        gexc.InternalServerError,
        gexc.BadGateway,
        gexc.ServiceUnavailable,
        gexc.GatewayTimeout,
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    match = _ERRNO_RE.search(text)
    if match:
        return f"{type(exc).__name__}: {match.group(0).strip()}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _emulator_hint() -> str:
    host = os.environ.get("STORAGE_EMULATOR_HOST")
    return f" (now {host}: is the emulator running?)" if host else ""


__all__ = ["GcsRegistry", "RegistryUnreachableError"]
