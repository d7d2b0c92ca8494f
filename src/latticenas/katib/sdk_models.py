"""The manifest along the Katib SDK's model classes (``kubeflow.katib``, their
``openapi_types`` and ``attribute_map``), and a round trip through ``V1beta1Experiment``.

A field of the wrong type (an unquoted ``min: 0.01`` where the CRD wants a string) is an error:
the API server refuses it. An unknown field is a warning: the API server prunes it silently,
so it is almost always a typo. ``trialSpec`` is an ``object``: the Job schema checks it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from latticenas.extras import require
from latticenas.katib.issues import Collector, closest, join_path
from latticenas.katib.rules.values import is_int, is_number

_PRIMITIVES = {"str": str, "int": int, "float": float, "bool": bool}
_WORDS = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false"}


def check_sdk_models(obj: Mapping[str, Any], out: Collector) -> None:
    """Walk the models; when that finds nothing, deserialize into ``V1beta1Experiment`` and
    serialize back, which must give the same document."""
    require("kubeflow")
    from kubeflow.katib import ApiClient  # imported here: the SDK takes seconds to load

    before = len(out.issues)
    walk_model(obj, "V1beta1Experiment", "", out)
    if len(out.issues) > before:
        return

    class _Response:  # ApiClient.deserialize reads a REST response's .data
        data = json.dumps(obj)

    client = ApiClient()
    try:
        again = client.sanitize_for_serialization(client.deserialize(_Response(), "V1beta1Experiment"))
    except (ValueError, TypeError) as exc:  # pragma: no cover - the walk catches these first
        out.add("<document>", f"the Katib SDK cannot read this Experiment: {exc}; fix the field")
        return
    if without_nulls(json.loads(json.dumps(again))) != without_nulls(json.loads(json.dumps(obj))):
        out.add("<document>", "changes when read by the Katib SDK (kubeflow.katib."
                              "V1beta1Experiment); check field names and types")


def without_nulls(value: Any) -> Any:
    """A JSON-like value with every null-valued mapping entry dropped, recursively."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _model_class(name: str) -> Any:
    require("kubeflow")
    import kubeflow.katib.models as models

    return getattr(models, name)


def walk_model(value: Any, type_name: str, path: str, out: Collector) -> None:
    if value is None or type_name in ("object", "datetime"):
        return
    if type_name.startswith("list["):
        if not isinstance(value, list):
            out.add(path, f"must be a list, not {type(value).__name__}; write a YAML list")
            return
        for i, item in enumerate(value):
            walk_model(item, type_name[5:-1], join_path(path, i) if path else f"[{i}]", out)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, Mapping):
            out.add(path, f"must be a mapping, not {type(value).__name__}; write key: value pairs")
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            walk_model(item, inner, join_path(path, str(key)), out)
        return
    if type_name in _PRIMITIVES:
        _check_primitive(value, type_name, path, out)
        return
    _walk_object(value, type_name, path, out)


def _check_primitive(value: Any, type_name: str, path: str, out: Collector) -> None:
    expected = _PRIMITIVES[type_name]
    ok = (isinstance(value, str) if expected is str else is_int(value) if expected is int
          else is_number(value) if expected is float else isinstance(value, bool))
    if not ok:
        word = _WORDS[type_name]
        fix = "quote it" if expected is str and not isinstance(value, (list, dict)) else f"write {word}"
        out.add(path, f"{value!r} must be {word} (the Katib API type is {type_name}); {fix}")


def _walk_object(value: Any, type_name: str, path: str, out: Collector) -> None:
    klass = _model_class(type_name)
    if not isinstance(value, Mapping):
        out.add(path or "<document>", f"must be a mapping ({type_name}), not "
                                      f"{type(value).__name__}; write key: value pairs")
        return
    by_json = {json_name: attr for attr, json_name in klass.attribute_map.items()}
    for key, item in value.items():
        where = join_path(path, str(key)) if path else str(key)
        if key not in by_json:
            out.warn(where, f"unknown field{closest(key, by_json)}, which the Kubernetes API "
                            "server drops without a word; remove or rename it (fields of "
                            f"{type_name}: {', '.join(sorted(by_json))})")
            continue
        walk_model(item, klass.openapi_types[by_json[key]], where, out)
