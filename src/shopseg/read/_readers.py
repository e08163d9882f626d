"""Read transaction exports (CSV, gzip CSV, Excel, Parquet) into DuckDB.

Reading leaves two tables in the connection:

``lines_raw``
    every line as found, as text, under the canonical column names, with the
    file it came from and its line number;
``lines_parsed``
    the same lines with typed values: integer quantity, float price, timestamp,
    identifiers as text.
"""

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

import duckdb

from ..exceptions import InputFileError, ParseError
from . import _detect, _parse
from ._schema import COLUMNS, match_header

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclasses.dataclass
class SourceInfo:
    """What was found in one input file (or one sheet of a workbook)."""

    source_id: int
    name: str
    path: str
    format: str
    sha256: str
    bytes: int
    lines: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    date_format: str | None = None
    columns: dict = dataclasses.field(default_factory=dict)

    def as_dict(self):
        return dataclasses.asdict(self)


def sha256_of(path):
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_files(paths, con, column_map=None, date_format="auto"):
    """Read transaction files into the tables ``lines_raw`` and ``lines_parsed``.

    Parameters
    ----------
    paths : list of str or Path
        CSV (plain or gzip), Excel workbooks (every sheet) or Parquet files.
    con : duckdb.DuckDBPyConnection
        Where the tables are created (replacing any of the same names).
    column_map : dict, default=None
        Canonical column name to the file's header, for exports whose
        headers are not recognised, e.g. ``{"customer_id": "ClientRef"}``.
    date_format : {"auto", "day-first", "month-first", "iso", "excel-serial"}
        How to read dates; ``"auto"`` infers one format per file and column.

    Returns
    -------
    list of SourceInfo
        One per file, or per sheet of a workbook.
    """
    if date_format not in _parse.DATE_FORMATS:
        raise ParseError(
            f"date format {date_format!r} is not supported; choose one of "
            f"{', '.join(_parse.DATE_FORMATS)}"
        )
    _create_tables(con)
    infos = []
    with tempfile.TemporaryDirectory(prefix="shopseg-read-") as scratch:
        for path in paths:
            for info, table in _load(Path(path), con, column_map, scratch, len(infos)):
                _parse_into_tables(con, table, info, date_format)
                con.execute(f"DROP TABLE {table}")
                infos.append(info)
    return infos


def _create_tables(con):
    text_columns = ", ".join(f"{c} VARCHAR" for c in COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE lines_raw (
            source_id INTEGER, source_file VARCHAR, line_no BIGINT, {text_columns}
        )
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE lines_parsed (
            source_id INTEGER, source_file VARCHAR, line_no BIGINT,
            invoice VARCHAR, stock_code VARCHAR, description VARCHAR,
            quantity BIGINT, invoice_date TIMESTAMP, price DOUBLE,
            customer_id VARCHAR, country VARCHAR
        )
        """
    )


def _check_file(path):
    if not path.exists():
        raise InputFileError(
            f"{path}: no such file; check the path (the current folder is "
            f"{Path.cwd().name!r})"
        )
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InputFileError(
            f"{path}: not a readable file; check its permissions"
        )


def _load(path, con, column_map, scratch, first_id):
    """Yield (SourceInfo, table) for each table of canonical text columns."""
    _check_file(path)
    common = dict(path=str(path), sha256=sha256_of(path), bytes=path.stat().st_size)
    suffixes = "".join(path.suffixes).lower()

    if suffixes.endswith(EXCEL_SUFFIXES):
        for offset, (sheet, frame) in enumerate(_excel_sheets(path).items()):
            info = SourceInfo(
                first_id + offset, f"{path.name}[{sheet}]", format="excel", **common
            )
            table = f"_read_{info.source_id}"
            con.register("_frame", frame)
            header = list(frame.columns)
            _canonical_table(con, "_frame", table, header, info, column_map, 2)
            con.unregister("_frame")
            yield info, table
        return

    info = SourceInfo(first_id, path.name, format="csv", **common)
    table = f"_read_{info.source_id}"
    if suffixes.endswith(PARQUET_SUFFIXES):
        info.format = "parquet"
        source = f"read_parquet('{_sql_path(path)}')"
        first_line = 1
    else:
        source = _csv_source(path, info, scratch)
        first_line = 2
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _whole AS SELECT * FROM {source}")
    except duckdb.Error as exc:
        raise InputFileError(
            f"{path}: cannot be read as {info.format.upper()}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    header = [row[0] for row in con.execute("DESCRIBE _whole").fetchall()]
    _canonical_table(con, "_whole", table, header, info, column_map, first_line)
    con.execute("DROP TABLE _whole")
    yield info, table


def _csv_source(path, info, scratch):
    info.encoding = _detect.detect_encoding(path)
    header_line = _detect.read_header_line(path, info.encoding)
    info.delimiter = _detect.detect_delimiter(header_line, path)
    readable = path
    if info.encoding == "cp1252":
        readable = Path(scratch) / f"{info.source_id}.csv"
        _detect.transcode_to_utf8(path, info.encoding, readable)
    delimiter = info.delimiter.replace("'", "''")
    return (
        f"read_csv('{_sql_path(readable)}', header=true, all_varchar=true, "
        f"delim='{delimiter}', quote='\"', escape='\"', auto_detect=false, "
        f"columns={_header_columns(header_line, info.delimiter)})"
    )


def _header_columns(header_line, delimiter):
    import csv

    names = next(csv.reader([header_line], delimiter=delimiter))
    seen = {}
    columns = {}
    for name in names:
        name = name.strip() or "column"
        seen[name] = seen.get(name, 0) + 1
        unique = name if seen[name] == 1 else f"{name}_{seen[name]}"
        columns[unique] = "VARCHAR"
    return columns


def _excel_sheets(path):
    import pandas as pd

    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="calamine", dtype=str)
    except Exception as exc:  # the engines raise many types for a bad workbook
        raise InputFileError(
            f"{path}: cannot be read as an Excel workbook ({exc}); save it again "
            "as .xlsx or export it as CSV"
        ) from None
    return {name: frame for name, frame in sheets.items() if len(frame.columns)}


def _canonical_table(con, source, table, header, info, column_map, first_line):
    """Create ``table`` with the canonical text columns of ``source``."""
    info.columns = match_header(header, info.name, column_map)
    selected = ", ".join(
        f'CAST("{info.columns[c]}" AS VARCHAR) AS {c}'
        if c in info.columns
        else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in COLUMNS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT rowid + {first_line} AS line_no, {selected}
        FROM {source}
        """
    )
    info.lines = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _parse_into_tables(con, table, info, date_format):
    column = info.columns.get("invoice_date", "invoice_date")
    info.date_format = _parse.infer_date_format(
        con, table, column, info.name, date_format
    )
    decimal_comma = info.delimiter not in (None, ",")
    typed = {
        "quantity": _parse.number_expression("quantity", decimal_comma),
        "price": _parse.number_expression("price", decimal_comma),
        "invoice_date": _parse.date_expression(info.date_format),
    }
    checks = [
        ("invoice_date", typed["invoice_date"], ("a date", _date_fix(info))),
        ("quantity", f"CAST({typed['quantity']} AS BIGINT)", _NUMBER_FIX),
        ("price", typed["price"], _NUMBER_FIX),
    ]
    for canonical, expression, fix in checks:
        guarded = expression
        if canonical == "quantity":
            guarded = (
                f"CASE WHEN {typed['quantity']} = round({typed['quantity']}) "
                f"THEN {typed['quantity']} END"
            )
            fix = ("a whole number", _NUMBER_FIX[1])
        _parse.raise_first_bad(
            con, table, info.name, canonical, guarded,
            repr(info.columns.get(canonical, canonical)), fix,
        )
    for canonical in ("invoice", "stock_code"):
        _parse.raise_first_bad(
            con, table, info.name, canonical,
            f"NULLIF(trim({canonical}), '')",
            repr(info.columns[canonical]),
            ("an identifier", "Every line needs one; remove or complete the line."),
        )

    con.execute(
        f"""
        INSERT INTO lines_raw
        SELECT {info.source_id}, '{_sql_text(info.name)}', line_no,
               {', '.join(COLUMNS)}
        FROM {table}
        """
    )
    con.execute(
        f"""
        INSERT INTO lines_parsed
        SELECT {info.source_id}, '{_sql_text(info.name)}', line_no,
               trim(invoice),
               trim(stock_code),
               NULLIF(NULLIF(trim(description), ''), 'nan'),
               CAST({typed['quantity']} AS BIGINT),
               {typed['invoice_date']},
               {typed['price']},
               {_parse.identifier_expression('customer_id')},
               coalesce(NULLIF(trim(country), ''), 'Unspecified')
        FROM {table}
        """
    )


_NUMBER_FIX = (
    "a number",
    "Correct the value in the file, or map the right column with --column.",
)


def _date_fix(info):
    if info.date_format == "mixed":
        return (
            "an ISO date like the others in the column",
            "The column mixes date formats; export the dates in one format.",
        )
    return (
        f"a {info.date_format} date",
        "Correct the value, or pass --date-format if the format was misread.",
    )


def _sql_path(path):
    return str(path).replace("'", "''")


def _sql_text(text):
    return str(text).replace("'", "''")
