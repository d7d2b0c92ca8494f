"""The trial ``batch/v1`` Job against the Kubernetes schema (``kubernetes-validate``, strict:
unknown fields are errors, as Katib's webhook finds them when it converts the trialSpec to a
``batchv1.Job`` and compares: ``validator.go`` ``validateTrialJob``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from latticenas.extras import require
from latticenas.katib.issues import Collector, join_path

#: Kubernetes version whose schema the trial Job is checked against.
KUBERNETES_SCHEMA_VERSION = "1.30"


def check_job(job: Mapping[str, Any], out: Collector) -> None:
    require("kubernetes_validate")
    import kubernetes_validate  # imported here: the schemas take a moment to load

    try:
        kubernetes_validate.validate(dict(job), KUBERNETES_SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = join_path("spec.trialTemplate.trialSpec", *list(exc.path))
        out.add(where, f"the Kubernetes {KUBERNETES_SCHEMA_VERSION} Job schema rejects it: "
                       f"{exc.message}; fix the Job")
    except (kubernetes_validate.SchemaNotFoundError,
            kubernetes_validate.utils.VersionNotSupportedError) as exc:  # pragma: no cover
        out.add("spec.trialTemplate.trialSpec", f"{exc.message}; use apiVersion batch/v1, kind Job")
