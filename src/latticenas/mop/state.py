"""A model's training state between hops, and its checkpoints on disk.

A hop ends with the network's weights (``core.get_weights()``: kernels, biases, batch-norm
statistics) and its optimizer's variables (AdamW: the step counter, both moments), packed as
one ``.npz`` blob. The next hop, on whatever worker, restores both into a network built from
the same spec, so training goes on exactly as if it had never moved (the tests check this
against sequential training).

:class:`Checkpoints` keeps, per model, ``last.npz`` (after every hop) and ``best.npz`` (after
the epoch with the lowest validation loss), written atomically under ``<dir>/mop/checkpoints``:
a model whose hop is lost with its worker restarts that hop from ``last.npz``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latticenas.fileio import atomic_write, storage_faults


@dataclass(frozen=True)
class ModelState:
    weights: tuple[np.ndarray, ...]
    optimizer: tuple[np.ndarray, ...]

    def to_bytes(self) -> bytes:
        arrays = {f"w{i:04d}": w for i, w in enumerate(self.weights)}
        arrays.update({f"o{i:04d}": v for i, v in enumerate(self.optimizer)})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ModelState:
        with np.load(io.BytesIO(blob)) as arrays:
            names = sorted(arrays.files)
            return cls(tuple(arrays[n] for n in names if n[0] == "w"), tuple(arrays[n] for n in names if n[0] == "o"))


def capture(network) -> ModelState:
    """The state of a compiled, trained :class:`~latticenas.arch.keras_builder.Network`."""
    import keras

    optimizer = network.core.optimizer
    return ModelState(tuple(np.asarray(w) for w in network.core.get_weights()),
                      tuple(keras.ops.convert_to_numpy(v) for v in optimizer.variables))


def restore(network, state: ModelState) -> None:
    """Put ``state`` into a compiled network built from the same spec (optimizer built if new)."""
    network.core.set_weights(list(state.weights))
    optimizer = network.core.optimizer
    if not optimizer.built:
        optimizer.build(network.core.trainable_variables)
    if len(optimizer.variables) != len(state.optimizer):
        raise ValueError(f"optimizer state has {len(state.optimizer)} variables, the network's optimizer "
                         f"{len(optimizer.variables)}: the state belongs to another network")
    for variable, value in zip(optimizer.variables, state.optimizer):
        variable.assign(value)


class Checkpoints:
    """``<root>/<model>/last.npz`` and ``best.npz`` (blobs of :meth:`ModelState.to_bytes`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, model: str, which: str = "last") -> Path:
        return self.root / model / f"{which}.npz"

    def save(self, model: str, blob: bytes, which: str = "last") -> None:
        with storage_faults(self.path(model, which)):
            atomic_write(self.path(model, which), blob)

    def load(self, model: str, which: str = "last") -> bytes | None:
        path = self.path(model, which)
        return path.read_bytes() if path.is_file() else None
