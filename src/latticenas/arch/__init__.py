"""Lattice architectures as plain data: the spec, the sampler and the diagram.

Framework-free: importing this package never imports TensorFlow. The Keras builder lives in
``latticenas.arch.keras_builder`` and is imported explicitly by code that trains networks.
"""

from latticenas.arch.sampler import (
    ATTEMPTS_PER_ARCHITECTURE,
    derive_seed,
    sample_architecture,
    sample_architectures,
)
from latticenas.arch.spec import (
    SCHEMA_VERSION,
    ArchitectureSpec,
    Edge,
    EdgeKind,
    SpecError,
    UnitRef,
)

__all__ = [
    "ATTEMPTS_PER_ARCHITECTURE",
    "SCHEMA_VERSION",
    "ArchitectureSpec",
    "Edge",
    "EdgeKind",
    "SpecError",
    "UnitRef",
    "derive_seed",
    "sample_architecture",
    "sample_architectures",
]
