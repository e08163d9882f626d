"""Read transaction exports (CSV, gzip CSV, Excel, Parquet) into DuckDB.

Reading leaves two temporary tables in the connection, gone when it closes:

``lines_raw``
    every line as found, as text, under the canonical column names, with the
    file it came from and its line number;
``lines_parsed``
    the same lines with typed values: integer quantity, float price, timestamp,
    identifiers as text.

Cleaning writes the one lasting copy: ``lines``, every line typed, with its
file, line number and bucket. Writing the text of each line to the store as
well would cost about as long as reading the file.
"""

import csv
import dataclasses
import datetime
import hashlib
import os
import re
import tempfile
import warnings
from pathlib import Path

import duckdb

from ..exceptions import DateRangeWarning, InputFileError, ParseError
from . import _detect, _parse
from ._schema import COLUMNS, match_header

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")

#: First bytes of a workbook: a ZIP archive (.xlsx, .xlsm, .xlsb, .ods) or
#: an OLE2 compound file (.xls).
WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


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
            for info in _load(Path(path), con, column_map, scratch, len(infos)):
                _parse_into_lines(con, info, date_format)
                infos.append(info)
    return infos


def _create_tables(con):
    text_columns = ", ".join(f"{c} VARCHAR" for c in COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lines_raw (
            source_id INTEGER, source_file VARCHAR, line_no BIGINT, {text_columns}
        )
        """
    )
    # A temporary table: ``lines`` keeps every parsed line with its bucket,
    # so a store need not hold the same lines a second time.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE lines_parsed (
            source_id INTEGER, source_file VARCHAR, line_no BIGINT,
            invoice VARCHAR, stock_code VARCHAR, description VARCHAR,
            quantity BIGINT, invoice_date TIMESTAMP, price DOUBLE,
            customer_id VARCHAR, country VARCHAR
        )
        """
    )


def check_file(path):
    """Raise :class:`InputFileError` unless ``path`` is a readable file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(
            f"{path}: no such file; check the path (it is read from the "
            f"folder {str(Path.cwd())!r})"
        )
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InputFileError(
            f"{path}: not a readable file; check its permissions"
        )


def _load(path, con, column_map, scratch, first_id):
    """Yield a SourceInfo for each source of ``path`` once its lines are in
    ``lines_raw``."""
    check_file(path)
    common = dict(path=str(path), sha256=sha256_of(path), bytes=path.stat().st_size)
    suffixes = "".join(path.suffixes).lower()

    # A workbook is told by its first bytes, as gzip is: a text export
    # saved under a workbook's name is read as the CSV it is.
    if suffixes.endswith(EXCEL_SUFFIXES) and _is_workbook(path):
        for offset, (sheet, frame) in enumerate(_excel_sheets(path).items()):
            info = SourceInfo(
                first_id + offset, f"{path.name}[{sheet}]", format="excel", **common
            )
            _read_frame(con, path, frame, info, column_map)
            yield info
        return

    info = SourceInfo(first_id, path.name, format="csv", **common)
    if suffixes.endswith(PARQUET_SUFFIXES):
        info.format = "parquet"
        _read_parquet(con, path, info, column_map)
    else:
        _read_csv(con, path, info, column_map, scratch)
    yield info


def _is_workbook(path):
    with open(path, "rb") as file:
        return file.read(4) in WORKBOOK_SIGNATURES


def _insert_raw(con, source, header, info, column_map, first_line):
    """Append the lines of ``source`` to ``lines_raw`` as canonical text.

    ``first_line`` is the line number of the first row: 2 under a header row.
    The header is matched before anything is read, so a file with unknown
    columns fails at once.
    """
    info.columns = match_header(header, info.name, column_map)
    selected = ", ".join(
        f"CAST({_sql_name(info.columns[c])} AS VARCHAR)"
        if c in info.columns
        else "CAST(NULL AS VARCHAR)"
        for c in COLUMNS
    )
    # row_number() OVER () numbers the rows as the scan yields them, in file
    # order (DuckDB preserves insertion order), without a copy of the table.
    (info.lines,) = con.execute(
        f"""
        INSERT INTO lines_raw
        SELECT {info.source_id}, '{_sql_text(info.name)}',
            row_number() OVER () + {first_line - 1}, {selected}
        FROM {source}
        """
    ).fetchall()[0]


def _read_frame(con, path, frame, info, column_map):
    """Append the lines of one sheet, read by pandas, to ``lines_raw``."""
    con.register("_frame", frame)
    try:
        _insert_raw(con, "_frame", list(frame.columns), info, column_map, 2)
    except duckdb.Error as exc:
        raise InputFileError(
            f"{info.name}: cannot be read from {path.name}: "
            f"{str(exc).splitlines()[0]}; export the sheet as CSV"
        ) from None
    finally:
        con.unregister("_frame")


def _read_parquet(con, path, info, column_map):
    source = f"read_parquet('{_sql_text(path)}')"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        _insert_raw(con, source, [row[0] for row in described], info, column_map, 1)
    except duckdb.Error as exc:
        raise InputFileError(
            f"{path}: cannot be read as PARQUET: {str(exc).splitlines()[0]}"
        ) from None


def _read_csv(con, path, info, column_map, scratch):
    """Append a CSV file's lines to ``lines_raw``, finding its encoding.

    The file is read as UTF-8 unless its head is not; only if DuckDB then
    finds bytes that are not UTF-8 is a cp1252 copy transcoded to UTF-8 and
    read again (the failed statement leaves ``lines_raw`` as it was).
    """
    head = _detect.read_head(path)
    info.encoding = head.encoding
    info.delimiter = _detect.detect_delimiter(head.header_line, path)
    header = _header_names(head.header_line, info.delimiter)
    if info.encoding != "cp1252":
        try:
            _insert_csv(con, path, head.compression, header, info, column_map)
            return
        except duckdb.Error as exc:
            if "invalid unicode" not in str(exc).lower():
                raise InputFileError(_csv_error(path, exc, info.delimiter)) from None
        info.encoding = "cp1252"
    readable = _transcoded(path, info, scratch)
    try:
        _insert_csv(con, readable, "none", header, info, column_map)
    except duckdb.Error as exc:
        raise InputFileError(_csv_error(path, exc, info.delimiter)) from None


def _insert_csv(con, path, compression, header, info, column_map):
    """Append a UTF-8 CSV file to ``lines_raw``, every field read as text."""
    columns = ", ".join(f"'{_sql_text(name)}': 'VARCHAR'" for name in header)
    scan = (
        f"read_csv('{_sql_text(path)}', header=true, all_varchar=true, "
        f"delim='{_sql_text(info.delimiter)}', quote='\"', escape='\"', "
        f"auto_detect=false, compression='{compression}', columns={{{columns}}})"
    )
    _insert_raw(con, scan, header, info, column_map, 2)


def _transcoded(path, info, scratch):
    target = Path(scratch) / f"{info.source_id}.csv"
    _detect.transcode_to_utf8(path, "cp1252", target)
    return target


def _header_names(header_line, delimiter):
    """The header's column names, stripped; blank and repeated ones made unique."""
    names = next(csv.reader([header_line], delimiter=delimiter))
    seen = {}
    unique = []
    for name in names:
        name = name.strip() or "column"
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def _csv_error(path, exc, delimiter):
    """One paragraph saying why DuckDB could not read a CSV file."""
    message = str(exc)
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    line = re.search(r"CSV Error on Line: (\d+)", message)
    if fields and line:
        return (
            f"{path}: line {line.group(1)} has {fields.group(2)} fields where the "
            f"header has {fields.group(1)} (delimiter {delimiter!r}); quote values "
            "that hold the delimiter, or export the file again"
        )
    if "GZIP" in message.upper():
        return (
            f"{path}: the gzip data are damaged or truncated "
            f"({message.splitlines()[0]}); check that the file is complete"
        )
    first = message.splitlines()[0]
    if line:
        first += f" (line {line.group(1)})"
    return (
        f"{path}: cannot be read as CSV with delimiter {delimiter!r}: {first}. "
        "Check that it is a text export with a header row"
    )


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


def _parse_into_lines(con, info, date_format):
    """Append a source's typed lines to ``lines_parsed``; fail on a bad value."""
    where = f"source_id = {info.source_id}"
    relation = f"lines_raw WHERE {where}"
    column = info.columns.get("invoice_date", "invoice_date")
    info.date_format = _parse.infer_date_format(
        con, relation, column, info.name, date_format
    )
    if not info.lines and info.format != "excel":
        raise InputFileError(
            f"{info.name}: the file has a header but no lines under it; export "
            "it again with its lines, or leave it out"
        )
    decimal_comma = info.delimiter not in (None, ",")
    con.execute(
        f"""
        INSERT INTO lines_parsed
        SELECT source_id, source_file, line_no,
            NULLIF(trim(invoice), ''),
            NULLIF(trim(stock_code), ''),
            NULLIF(NULLIF(trim(description), ''), 'nan'),
            {_parse.whole_number_expression('quantity', decimal_comma)},
            dates.ts,
            {_parse.number_expression('price', decimal_comma)},
            {_parse.identifier_expression('customer_id')},
            coalesce(NULLIF(trim(country), ''), 'Unspecified')
        FROM lines_raw
        LEFT JOIN {_parse.parsed_dates(relation, info.date_format)} AS dates
            ON lines_raw.invoice_date = dates.raw
        WHERE lines_raw.{where}
        """
    )
    _parse.raise_first_bad(con, _checks(info), info.source_id, info.name)
    _warn_of_date_range(con, info)


#: The first year a shop's export is expected to hold.
FIRST_LIKELY_YEAR = 1990


def _warn_of_date_range(con, info):
    """Warn when a file's dates lie before :data:`FIRST_LIKELY_YEAR` or in
    the future: quantities read as Excel serial days give dates around 1900."""
    (first, last), = con.execute(
        "SELECT min(invoice_date), max(invoice_date) FROM lines_parsed "
        "WHERE source_id = ?",
        [info.source_id],
    ).fetchall()
    if first is None:
        return
    if first.year < FIRST_LIKELY_YEAR or last > datetime.datetime.now():
        column = info.columns.get("invoice_date", "invoice_date")
        warnings.warn(
            f"{info.name}: column {column!r} gives dates from {first:%Y-%m-%d} "
            f"to {last:%Y-%m-%d}; if it is not the invoice date, map the right "
            "column with --column invoice_date=HEADER",
            DateRangeWarning,
            stacklevel=2,
        )


_NUMBER_FIX = "Correct the value in the file, or map the right column with --column."
_ID_FIX = "Every line needs one; remove or complete the line."


def _checks(info):
    """(column, file's name, what it must be, fix) of the required columns."""
    names = info.columns
    date_fix = "Correct the value, or pass --date-format if the format was misread."
    return [
        ("invoice_date", names["invoice_date"],
         _parse.DATE_FORMAT_NAMES[info.date_format], date_fix),
        ("quantity", names["quantity"], "a whole number", _NUMBER_FIX),
        ("price", names["price"], "a number", _NUMBER_FIX),
        ("invoice", names["invoice"], "an identifier", _ID_FIX),
        ("stock_code", names["stock_code"], "an identifier", _ID_FIX),
    ]


def _sql_name(name):
    return '"' + str(name).replace('"', '""') + '"'


def _sql_text(text):
    return str(text).replace("'", "''")
