"""Tabular data: reading, schema inference, leakage checks and deterministic splits."""

from latticenas.data.dataset import Dataset, data_fingerprint, load_dataset
from latticenas.data.io import exists, is_gcs_uri, join_uri, read_bytes, read_table, write_bytes
from latticenas.data.leakage import Leak, check_leakage, find_leaks
from latticenas.data.schema import (
    ColumnInfo,
    ColumnKind,
    TableSchema,
    Task,
    drop_missing_target,
    infer_schema,
    parse_task,
)
from latticenas.data.split import Split, hash_split, validate_fractions

__all__ = [
    "ColumnInfo",
    "ColumnKind",
    "Dataset",
    "Leak",
    "Split",
    "TableSchema",
    "Task",
    "check_leakage",
    "data_fingerprint",
    "drop_missing_target",
    "exists",
    "find_leaks",
    "hash_split",
    "infer_schema",
    "is_gcs_uri",
    "join_uri",
    "load_dataset",
    "parse_task",
    "read_bytes",
    "read_table",
    "validate_fractions",
    "write_bytes",
]
