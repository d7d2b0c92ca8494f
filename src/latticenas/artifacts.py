"""The trial's artifact layout: one fixed shape read by the runner, the pipeline and users.

::

    <output>/params.json              the trial's parameter set and fixed arguments
    <output>/summary.json             status, objective, reported metrics, best network id
    <output>/networks/<id>/spec.json  every sampled network's architecture
    <output>/networks/<id>/metrics.json   its status, validation metrics, history
    <output>/best/spec.json           the best network's architecture
    <output>/best/model.keras         its trained model (raw columns in, target units out)
    <output>/best/metrics.json        its metrics
    <output>/best/preprocessing.json  the input contract: columns, kinds, statistics, target transform
    <output>/best/diagram.svg         a picture of the network
    <output>/val_predictions.csv      the trial model's validation predictions, by table row
                                      (``row``, then ``prediction`` or ``p_0..p_k``), for
                                      ensembles across trials

``best/model.keras`` is the trial's model: its best network, or the mean of its networks when
``trial_ensemble`` chose that (``best/metrics.json`` then lists the members).

``<output>`` is a local directory or a ``gs://`` prefix. Files are written as soon as they
exist (each network's record right after it trains), so a trial that dies keeps what it did.
A local write that the disk refuses (full, read-only) raises
:class:`~latticenas.errors.StorageError`: one ``error:`` line, exit 2.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from latticenas.data.io import is_gcs_uri, join_uri, write_bytes
from latticenas.fileio import storage_faults

PARAMS = "params.json"
SUMMARY = "summary.json"
NETWORKS = "networks"
BEST = "best"
SPEC = "spec.json"
MODEL = "model.keras"
METRICS = "metrics.json"
PREPROCESSING = "preprocessing.json"
DIAGRAM = "diagram.svg"
VAL_PREDICTIONS = "val_predictions.csv"


class ArtifactWriter:
    """Writes the layout above under ``root`` (local directory or ``gs://`` prefix)."""

    def __init__(self, root: str):
        self.root = str(root)
        self.remote = is_gcs_uri(self.root)
        if not self.remote:
            with storage_faults(self.root):
                Path(self.root).mkdir(parents=True, exist_ok=True)

    def uri(self, *parts: str) -> str:
        return join_uri(self.root, *parts)

    def write_json(self, data, *parts: str) -> str:
        return self.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", *parts)

    def write_text(self, text: str, *parts: str) -> str:
        uri = self.uri(*parts)
        write_bytes(uri, text.encode("utf-8"))
        return uri

    def save_model(self, model, *parts: str) -> str:
        """Save a Keras model (Keras writes locally; remote roots get an upload)."""
        uri = self.uri(*parts)
        if not self.remote:
            with storage_faults(uri):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
                model.save(uri)
            return uri
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / MODEL
            model.save(local)
            write_bytes(uri, local.read_bytes())
        return uri

    def copy_local(self, source: str, *parts: str) -> str:
        uri = self.uri(*parts)
        if self.remote:
            write_bytes(uri, Path(source).read_bytes())
        else:
            with storage_faults(uri):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, uri)
        return uri


def val_predictions_csv(rows, predictions) -> str:
    """``row,prediction`` (one output) or ``row,p_0,...,p_k`` lines; full float precision."""
    import numpy as np

    values = np.asarray(predictions, dtype="float64")
    values = values.reshape(len(values), -1)
    header = ["row", "prediction"] if values.shape[1] == 1 else ["row", *(f"p_{k}" for k in range(values.shape[1]))]
    lines = [",".join(header)]
    lines += [",".join([str(r), *(repr(float(v)) for v in line)]) for r, line in zip(rows, values)]
    return "\n".join(lines) + "\n"


def read_val_predictions(text: str):
    """``(rows, predictions)`` from :func:`val_predictions_csv` (predictions (n,) or (n, k))."""
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(text))
    values = frame.drop(columns=["row"]).to_numpy(dtype="float64")
    return frame["row"].to_numpy(), values[:, 0] if values.shape[1] == 1 else values


def preprocessing_record(prepared) -> dict:
    """``preprocessing.json``, a served model's input contract, of a trial's or a retrain's
    prepared data (:class:`latticenas.train.Prepared`): the schema (with its rule for +-inf),
    the feature statistics and the target transform."""
    return {
        "schema": prepared.schema.to_dict(),
        "features": prepared.stats.to_dict(),
        "target_transform": prepared.transform.to_dict() if prepared.transform else None,
    }
