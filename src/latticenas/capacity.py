"""Whether the largest lattice a parameter set allows can train in the memory a trial has.

A trial samples its lattices at random inside the parameter set's bounds, so a set whose
largest lattice cannot train here would crash some trials in TensorFlow's out-of-memory text.
:func:`check_memory` refuses such a set before anything is allocated, with a
:class:`~latticenas.errors.ParameterError` that names the size field to lower and the largest
value of it that fits. It runs twice in a trial: before the data loads, with an input one
column wide (the floor on every table), and again once the table's schema is known, with one
column per feature.

:func:`training_bytes_floor` is a floor, never an estimate: a set is refused only when it
certainly cannot fit. :func:`available_memory` is what this process may use (a container's
cgroup limit, else the machine's RAM). Framework-free: TensorFlow is not imported here.
"""

from __future__ import annotations

import os

from latticenas.errors import ParameterError
from latticenas.params import ParameterSet, resolve_rounding

__all__ = ["SIZE_FIELDS", "available_memory", "check_memory", "training_bytes_floor"]

#: (maximum field, its minimum), in the order a memory bound names them.
SIZE_FIELDS = (("maximum_neurons_per_unit", "minimum_neurons_per_unit"),
               ("maximum_units_per_level", "minimum_units_per_level"),
               ("maximum_levels", "minimum_levels"), ("batch_size", None))

_WEIGHT_BYTES = 16  # value, gradient and AdamW's two moments, float32
_ACTIVATION_BYTES = 4  # one float32 output a batch row


def training_bytes_floor(params: ParameterSet, input_width: int = 1, **sizes: int) -> int:
    """A floor on the memory that training the largest lattice of ``params`` takes over
    ``input_width`` encoded columns; ``sizes`` (the :data:`SIZE_FIELDS` maxima and batch_size)
    replace the set's values.

    The lattice: ``maximum_levels`` levels of ``maximum_units_per_level`` units of
    ``maximum_neurons_per_unit`` neurons. By the sampler's rules a level-1 unit reads the
    input (``input_width`` x neurons weights); a later unit, and the output, reads at least one
    unit of the level before when the main affinity's rounding gives that level one connection,
    else at least one earlier unit or the input.
    """
    s = {name: getattr(params, name) for name, _ in SIZE_FIELDS} | sizes
    levels, units = s["maximum_levels"], s["maximum_units_per_level"]
    neurons, batch = s["maximum_neurons_per_unit"], s["batch_size"]
    rounding = resolve_rounding(params.predecessor_level_connection_affinity_factor_main_rounding_rule)
    reads_level_before = rounding(params.predecessor_level_connection_affinity_factor_main * units) >= 1
    later = neurons if reads_level_before else min(input_width, neurons)
    weights = units * neurons * input_width + (levels - 1) * units * neurons * later + later
    activations = batch * (input_width + levels * units * neurons)
    return _WEIGHT_BYTES * weights + _ACTIVATION_BYTES * activations


def check_memory(params: ParameterSet, memory: int | None = None, input_width: int = 1) -> None:
    """ParameterError when the largest lattice of ``params`` cannot train in ``memory`` bytes
    (default :func:`available_memory`; nothing is checked where that is unknown)."""
    memory = memory or available_memory()
    if not memory:
        return

    def fits(**change: int) -> bool:
        return training_bytes_floor(params, input_width, **change) <= memory

    if fits():
        return
    need = training_bytes_floor(params, input_width)
    shape = (f"{params.maximum_levels} levels of {params.maximum_units_per_level} units of "
             f"{params.maximum_neurons_per_unit} neurons, batch {params.batch_size}"
             + (f", {input_width} input columns" if input_width > 1 else ""))
    for name, minimum_name in SIZE_FIELDS:
        low, high = (getattr(params, minimum_name) if minimum_name else 1), getattr(params, name)
        if not fits(**{name: low}):
            continue
        while low < high:  # the largest value of this field that fits
            mid = (low + high + 1) // 2
            low, high = (mid, high) if fits(**{name: mid}) else (low, mid - 1)
        raise ParameterError(
            f"{name}={getattr(params, name)} is too large: the largest lattice this set allows ({shape}) "
            f"needs at least {_gib(need)} to train and this trial has {_gib(memory)}; set {name} <= {low}")
    raise ParameterError(
        f"the lattices this set allows ({shape}) need at least {_gib(need)} to train and this trial has "
        f"{_gib(memory)}; lower minimum_neurons_per_unit and maximum_neurons_per_unit (or give the trial more memory)")


def available_memory() -> int | None:
    """Bytes of memory this process may use: the cgroup limit (a container's) or physical RAM;
    ``None`` where neither can be read."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # no sysconf, or not these names
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as handle:
                limits.append(int(handle.read().strip()))
        except (OSError, ValueError):  # no such cgroup file, or "max"
            pass
    return min(limits, default=None)


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"
