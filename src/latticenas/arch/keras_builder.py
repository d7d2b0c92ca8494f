"""Materialize an :class:`~latticenas.arch.spec.ArchitectureSpec` as a Keras 3 functional model.

Contract: ``build_network(spec, stats, schema)`` returns a :class:`Network` holding

- ``core``: raw columns -> the head's training output (scaled target for regression,
  probabilities for classification); this is what is compiled and fitted;
- ``serving``: the same weights with the regression output mapped back to original units and
  clipped; this is what is saved, so a saved model takes the raw table columns
  (:func:`latticenas.features.model_inputs`) and predicts in the target's own units.

Preprocessing lives inside the model: numeric columns are imputed (training mean + missing
indicator) and standardized; categorical columns go through ``StringLookup`` then one-hot
(small vocabularies) or an ``Embedding`` (large ones), unseen values to an OOV bucket.
Every unit is ``Concatenate(inputs) -> BatchNormalization -> Dense(neurons, activation)``;
lateral inputs that share a ``gate_group`` pass through one :class:`Gate` first.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from latticenas.arch.keras_layers import Gate, ImputeNormalize, InverseTarget
from latticenas.arch.spec import ArchitectureSpec, EdgeKind, UnitRef
from latticenas.data import TableSchema, Task
from latticenas.features import MAX_ONE_HOT, FeatureStats, TargetTransform, input_name

BATCH_NORM_MOMENTUM = 0.9  # Keras' 0.99 lags far behind after a few hundred steps


@dataclass(frozen=True)
class Network:
    core: keras.Model
    serving: keras.Model


def build_network(
    spec: ArchitectureSpec,
    stats: FeatureStats,
    schema: TableSchema,
    transform: TargetTransform | None = None,
) -> Network:
    inputs, features = _preprocessing(stats)
    outputs = _lattice(spec, features)
    core = keras.Model(inputs, outputs, name="lattice")
    if schema.task is Task.REGRESSION and transform is not None:
        restored = InverseTarget(**transform.to_dict(), name="to_target_units")(outputs)
        serving = keras.Model(inputs, restored, name="lattice_serving")
    else:
        serving = core
    return Network(core, serving)


def _preprocessing(stats: FeatureStats):
    inputs: dict[str, keras.KerasTensor] = {}
    parts = []
    if stats.numeric:
        numeric = [keras.Input((1,), name=input_name(c), dtype="float32") for c in stats.numeric]
        inputs.update({t.name: t for t in numeric})
        stacked = keras.layers.Concatenate(name="numeric_columns")(numeric) if len(numeric) > 1 else numeric[0]
        parts.append(ImputeNormalize(stats.means, stats.scales, stats.has_missing, name="numeric")(stacked))
    for column, vocabulary in zip(stats.categorical, stats.vocabularies):
        name = input_name(column)
        raw = keras.Input((1,), name=name, dtype="string")
        inputs[name] = raw
        parts.append(_encode_categorical(raw, name, vocabulary))
    if not parts:
        raise ValueError("the table has no feature columns")
    features = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
    return inputs, features


def _encode_categorical(raw, name: str, vocabulary: tuple[str, ...]):
    size = len(vocabulary) + 1  # + the out-of-vocabulary bucket
    if size <= MAX_ONE_HOT:
        lookup = keras.layers.StringLookup(vocabulary=list(vocabulary), output_mode="one_hot", name=f"{name}_onehot")
        return lookup(raw)
    ids = keras.layers.StringLookup(vocabulary=list(vocabulary), name=f"{name}_lookup")(raw)
    width = min(16, max(2, round(1.6 * size**0.56)))
    embedded = keras.layers.Embedding(size, width, name=f"{name}_embedding")(ids)
    return keras.layers.Flatten(name=f"{name}_flat")(embedded)


def _lattice(spec: ArchitectureSpec, features):
    tensors: dict[UnitRef, keras.KerasTensor] = {}
    for unit in spec.units():
        if unit.level == 0:
            tensors[unit] = features
            continue
        merged = _merge_inputs(spec, unit, tensors)
        normalized = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"bn_{_tag(unit)}")(merged)
        is_output = unit == spec.output_unit
        activation = spec.final_activation if is_output else spec.activation
        tensors[unit] = keras.layers.Dense(spec.neurons(unit), activation=activation, name=f"dense_{_tag(unit)}")(normalized)
    return tensors[spec.output_unit]


def _merge_inputs(spec: ArchitectureSpec, unit: UnitRef, tensors):
    plain, gated = [], {}
    for edge in spec.inputs_of(unit):
        if edge.kind is EdgeKind.LATERAL and edge.gate_group is not None:
            gated.setdefault(edge.gate_group, []).append(tensors[edge.src])
        else:
            plain.append(tensors[edge.src])
    for group, members in sorted(gated.items()):
        joined = keras.layers.Concatenate(name=f"gate_in_{_tag(unit)}_{group}")(members) if len(members) > 1 else members[0]
        plain.append(Gate(spec.gate_activation, name=f"gate_{_tag(unit)}_{group}")(joined))
    if len(plain) == 1:
        return plain[0]
    return keras.layers.Concatenate(name=f"concat_{_tag(unit)}")(plain)


def _tag(unit: UnitRef) -> str:
    return f"l{unit.level}u{unit.index}"


def as_dataset(x: dict, y=None, *, batch_size: int = 1024, shuffle_seed: int | None = None):
    """A batched ``tf.data.Dataset`` of model inputs (string columns need tf, not numpy, feeding)."""
    import tensorflow as tf

    tensors = (x,) if y is None else (x, y)
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle_seed is not None:
        n = len(next(iter(x.values())))
        dataset = dataset.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
