"""Stage 1: read transaction exports into DuckDB, with detected formats."""

from ._fetch import locate_default_data
from ._readers import SourceInfo, read_files
from ._schema import COLUMNS, parse_column_map

__all__ = [
    "COLUMNS",
    "SourceInfo",
    "locate_default_data",
    "parse_column_map",
    "read_files",
]
