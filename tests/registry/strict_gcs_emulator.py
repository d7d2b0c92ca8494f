"""Run gcp-storage-emulator with Cloud Storage's ``ifGenerationMatch`` upload precondition.

The emulator ignores preconditions; real Cloud Storage answers 412 when the object's current
generation (0: absent) differs from ``ifGenerationMatch``. The registry's version claims and
``latest`` pointer rely on that, so concurrency tests run against this wrapper: the same
emulator, its upload handler checking the precondition first. The emulator serves one request
at a time, so check-then-write is atomic, as in the real service.

Usage: python strict_gcs_emulator.py <port>
"""

from __future__ import annotations

import sys
import threading
from http import HTTPStatus

from gcp_storage_emulator import server
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects


def _object_name(request) -> str | None:
    if request.query.get("name"):
        return request.query["name"][0]
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else data
        return meta.get("name")
    return None


def strict_insert(request, response, storage, *args, **kwargs):
    wanted = request.query.get("ifGenerationMatch")
    if wanted:
        name = _object_name(request)
        try:
            current = str(storage.get_file_obj(request.params["bucket_name"], name).get("generation") or "0")
        except NotFound:
            current = "0"
        if current != str(wanted[0]):
            response.status = HTTPStatus.PRECONDITION_FAILED
            message = "At least one of the pre-conditions you specified did not hold."
            response.json({"error": {"code": 412, "message": message,
                                     "errors": [{"message": message, "reason": "conditionNotMet"}]}})
            return None
    return objects.insert(request, response, storage, *args, **kwargs)


def install() -> None:
    for _regex, handlers in server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler is objects.insert:
                handlers[method] = strict_insert


def main(port: int) -> None:
    install()
    emulator = server.create_server("127.0.0.1", port, in_memory=True)
    emulator.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(int(sys.argv[1]))
