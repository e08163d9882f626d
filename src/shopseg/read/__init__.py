"""Stage 1: read transaction exports into DuckDB, with detected formats."""

from ._fetch import locate_default_data
from ._readers import SourceInfo, check_file, read_files
from ._schema import COLUMNS, OPTIONAL, parse_column_map

__all__ = [
    "COLUMNS",
    "OPTIONAL",
    "SourceInfo",
    "check_file",
    "locate_default_data",
    "parse_column_map",
    "read_files",
]
