"""Stage 3: the DuckDB store that holds every table of a run."""

from ._store import (
    CSV_FLOAT_FORMAT,
    DATABASE,
    connect,
    database_path,
    record_run,
    save_inputs,
    staged_outputs,
)

__all__ = [
    "CSV_FLOAT_FORMAT",
    "DATABASE",
    "connect",
    "database_path",
    "record_run",
    "save_inputs",
    "staged_outputs",
]
