"""Read transaction exports on Spark into ``lines_raw`` and ``lines_parsed``.

Everything but the bulk read is shared with the DuckDB reader: the format of a
file (encoding, delimiter, header) is detected in Python from its head, the
header is matched to the canonical columns by the same function, and the
lines are typed and checked by the same SQL (``shopseg.read``), run on Spark
through :class:`SparkConnection`. Only the scan differs: Spark's CSV or
Parquet reader, every field read as text, and the pandas reader for Excel
workbooks, whose sheets are then handed to Spark.

A file must be at the same path for the driver and for every Spark worker
(local mode, or a folder that every machine of the cluster mounts).
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import InputFileError, ParseError
from ..read import _detect, _parse, _readers
from ..read._schema import COLUMNS, match_header
from ._connection import _spark_arrow

# monotonically_increasing_id() puts the partition number above bit 33 and
# the row's position within its partition below.
_PARTITION_BITS = 33


def read_files(paths, con, column_map=None, date_format="auto"):
    """Read transaction files on Spark into ``lines_raw`` and ``lines_parsed``.

    The same as :func:`shopseg.read_files`, with the tables made on the
    Spark session of ``con``.

    Parameters
    ----------
    paths : list of str or Path
        CSV (plain or gzip), Excel workbooks (every sheet) or Parquet files.
    con : SparkConnection
        Where the tables are made.
    column_map : dict, default=None
        Canonical column name to the file's header.
    date_format : {"auto", "day-first", "month-first", "iso", "excel-serial"}
        How to read dates; ``"auto"`` infers one format per file and column.

    Returns
    -------
    list of shopseg.read.SourceInfo
        One per file, or per sheet of a workbook.
    """
    if date_format not in _parse.DATE_FORMATS:
        raise ParseError(
            f"date format {date_format!r} is not supported; choose one of "
            f"{', '.join(_parse.DATE_FORMATS)}"
        )
    _readers._create_tables(con)
    infos = []
    for path in paths:
        for info in _load(Path(path), con, column_map, len(infos)):
            _readers._parse_into_lines(con, info, date_format)
            infos.append(info)
    return infos


def _load(path, con, column_map, first_id):
    """Yield a SourceInfo for each source of ``path`` once its lines are in
    ``lines_raw``."""
    _readers.check_file(path)
    common = dict(
        path=str(path), sha256=_readers.sha256_of(path), bytes=path.stat().st_size
    )
    suffixes = "".join(path.suffixes).lower()

    if suffixes.endswith(_readers.EXCEL_SUFFIXES):
        sheets = _readers._excel_sheets(path)
        for offset, (sheet, frame) in enumerate(sheets.items()):
            info = _readers.SourceInfo(
                first_id + offset, f"{path.name}[{sheet}]", format="excel", **common
            )
            header = [str(name) for name in frame.columns]
            frame = _spark_arrow(frame.set_axis(header, axis=1))
            scan = con.spark.createDataFrame(frame)
            _insert_raw(con, scan, header, info, column_map, 2)
            yield info
        return

    info = _readers.SourceInfo(first_id, path.name, format="csv", **common)
    if suffixes.endswith(_readers.PARQUET_SUFFIXES):
        info.format = "parquet"
        scan = _parquet_scan(con.spark, path)
        _insert_raw(con, scan, scan.columns, info, column_map, 1, path)
    else:
        _read_csv(con, path, info, column_map)
    yield info


def _parquet_scan(spark, path):
    """Spark's scan of a Parquet file, timestamps in nanoseconds (pandas'
    default) turned from the numbers Spark reads them as into timestamps."""
    from pyspark.sql import functions as F

    try:
        schema = pq.read_schema(path)
        scan = spark.read.parquet(str(path.resolve()))
    except Exception as exc:  # pyarrow and Spark raise many types here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputFileError(f"{path}: cannot be read as PARQUET: {first}") from None
    nanos = [
        field.name for field in schema
        if _is_nanosecond_timestamp(field.type) and field.name in scan.columns
    ]
    for name in nanos:
        micros = F.expr(f"{_backticked(name)} div 1000")
        scan = scan.withColumn(name, F.timestamp_micros(micros))
    return scan


def _is_nanosecond_timestamp(data_type):
    return pa.types.is_timestamp(data_type) and data_type.unit == "ns"


def _read_csv(con, path, info, column_map):
    """Append a CSV file's lines to ``lines_raw``, finding its encoding.

    As with DuckDB, the file is read as UTF-8 unless its head is not; when
    Spark then finds bytes that are not UTF-8 (it decodes them as U+FFFD),
    the file is read again as cp1252.
    """
    head = _detect.read_head(path)
    _check_codec(path, head.compression)
    info.encoding = head.encoding
    info.delimiter = _detect.detect_delimiter(head.header_line, path.name)
    header = _readers._header_names(head.header_line, info.delimiter)
    scan = _csv_scan(con.spark, path, header, info)

    def undecodable(rows):
        return info.encoding != "cp1252" and _has_undecodable(rows)

    if _insert_raw(con, scan, header, info, column_map, 2, path, undecodable):
        info.encoding = "cp1252"
        scan = _csv_scan(con.spark, path, header, info)
        _insert_raw(con, scan, header, info, column_map, 2, path)


def _check_codec(path, compression):
    """Spark picks a decompressor by the file's name, not by its bytes."""
    gzip_name = path.name.lower().endswith(".gz")
    if (compression == "gzip") != gzip_name:
        what = "gzip-compressed" if compression == "gzip" else "not gzip-compressed"
        raise InputFileError(
            f"{path}: is {what} but its name "
            f"{'does not end' if compression == 'gzip' else 'ends'} in '.gz'; Spark "
            "chooses how to decompress a file by its name, so rename the file"
        )


def _csv_scan(spark, path, header, info):
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(name, StringType()) for name in header])
    return spark.read.csv(
        str(path.resolve()),
        schema=schema,
        header=True,
        sep=info.delimiter,
        quote='"',
        escape='"',
        multiLine=True,  # a quoted field may hold a line break, as in DuckDB
        encoding="windows-1252" if info.encoding == "cp1252" else "UTF-8",
        mode="FAILFAST",
    )


def _has_undecodable(scan):
    from pyspark.sql import functions as F

    bad = None
    for name in scan.columns:
        found = F.coalesce(F.col(_backticked(name)).contains("\ufffd"), F.lit(False))
        bad = found if bad is None else bad | found
    return bool(scan.where(bad).limit(1).count())


def _insert_raw(
    con, scan, header, info, column_map, first_line, path=None, refuse=None
):
    """Append the lines of ``scan`` to ``lines_raw`` as canonical text,
    numbered in file order from ``first_line``.

    When ``refuse`` is given and returns True for the rows read, nothing is
    appended and True is returned.
    """
    from pyspark.sql import functions as F

    info.columns = match_header(header, info.name, column_map)
    # The rows are read from the file once, though numbering them takes two
    # passes (counts per partition, then positions), and the check a third.
    ids = _with_row_ids(scan.toDF(*header)).persist()
    selected = [
        F.col(_backticked(str(info.columns[c]))).cast("string").alias(c)
        if c in info.columns
        else F.lit(None).cast("string").alias(c)
        for c in COLUMNS
    ]
    rows = _numbered(ids).select(
        F.lit(info.source_id).cast("int").alias("source_id"),
        F.lit(info.name).alias("source_file"),
        (F.col("_position") + first_line).alias("line_no"),
        *selected,
    )
    try:
        if refuse is not None and refuse(ids):
            return True
        info.lines = con.append("lines_raw", rows)
    except Exception as exc:  # Spark's reader raises several types
        raise InputFileError(_scan_error(path or info.name, exc, info)) from None
    finally:
        ids.unpersist()
    return False


def _with_row_ids(scan):
    from pyspark.sql import functions as F

    ids = scan.withColumn("_row_id", F.monotonically_increasing_id())
    return ids.withColumn("_partition", F.shiftright("_row_id", _PARTITION_BITS))


def _numbered(ids):
    """Add ``_position``: each row's place in the file, from 0.

    Rows are numbered within each partition in file order; a partition's
    first number is the count of rows in the partitions before it.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    before = (
        ids.groupBy("_partition")
        .count()
        .withColumn(
            "_before",
            F.sum("count").over(Window.orderBy("_partition")) - F.col("count"),
        )
        .drop("count")
    )
    within = F.col("_row_id").bitwiseAND((1 << _PARTITION_BITS) - 1)
    return (
        ids.join(F.broadcast(before), "_partition")
        .withColumn("_position", F.col("_before") + within)
        .drop("_row_id", "_partition", "_before")
    )


def _scan_error(path, exc, info):
    message = str(exc)
    first = next(
        (line.strip() for line in message.splitlines() if "Malformed" in line),
        message.strip().splitlines()[0] if message.strip() else type(exc).__name__,
    )
    if info.format == "csv":
        return (
            f"{path}: cannot be read as CSV with delimiter {info.delimiter!r} on "
            f"Spark ({first}); check that every line has the header's number of "
            "fields and that values holding the delimiter are quoted"
        )
    return f"{path}: cannot be read as {info.format.upper()} on Spark ({first})"


def _backticked(name):
    return "`" + name.replace("`", "``") + "`"
