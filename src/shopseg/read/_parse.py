"""Turn the strings read from a file into typed values, in SQL.

A date column gets one format, inferred from the whole column: ISO dates, Excel
serial numbers, or day/month/year numbers in either order. For the last, the
column is read day-first when any first number is above 12 and month-first when
any second number is above 12. When every date could be read either way, the
default is month-first, the order of the UCI exports, with a warning. When the
values of a column do not all have one form, the form most of them have is
used, and the first value not in it is reported as a parse error.
"""

import warnings

from ..exceptions import AmbiguousDateWarning, ParseError

DATE_FORMATS = ("auto", "day-first", "month-first", "iso", "excel-serial")

#: How each date format is named in messages.
DATE_FORMAT_NAMES = {
    "iso": "an ISO date (YYYY-MM-DD HH:MM)",
    "excel-serial": "an Excel serial date (days since 1899-12-30)",
    "day-first": "a day-first date (D/M/YYYY H:MM)",
    "month-first": "a month-first date (M/D/YYYY H:MM)",
}

_ISO = r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
_NUMERIC = r"^\d{1,2}[/.-]\d{1,2}[/.-](\d{2}|\d{4})( \d{1,2}:\d{2}(:\d{2})?)?$"
_SERIAL = r"^\d+(\.\d+)?$"

_TIMES = (" %H:%M:%S", " %H:%M", "")


def _date_stats(con, relation):
    """Lines per date form (ISO, numeric, serial) in ``relation``'s
    invoice_date; the first numeric date only day-first reads (first number
    above 12, second not) and the first only month-first reads, each with
    its line number; and the first example of the ISO and serial forms.
    A numeric date with both numbers above 12 is read by neither order: it
    is no evidence for one, and the parse check reports it as a bad value.

    The regular expressions run once per distinct value, not once per line:
    an export has far fewer distinct timestamps than lines.
    """
    first = "TRY_CAST(regexp_extract(d, '^(\\d+)[/.-]', 1) AS INTEGER)"
    second = "TRY_CAST(regexp_extract(d, '^\\d+[/.-](\\d+)', 1) AS INTEGER)"
    day_only = f"numeric AND {first} > 12 AND {second} <= 12"
    month_only = f"numeric AND {second} > 12 AND {first} <= 12"
    return con.execute(
        f"""
        WITH dates AS (
            SELECT trim(invoice_date) AS d, count(*) AS n, min(line_no) AS line
            FROM {relation}
            GROUP BY 1
        ), forms AS (
            SELECT *, regexp_matches(d, '{_ISO}') AS iso,
                regexp_matches(d, '{_NUMERIC}') AS numeric,
                regexp_matches(d, '{_SERIAL}') AS serial
            FROM dates
            WHERE d <> ''
        )
        SELECT
            coalesce(sum(n) FILTER (WHERE iso), 0),
            coalesce(sum(n) FILTER (WHERE numeric), 0),
            coalesce(sum(n) FILTER (WHERE serial), 0),
            min(line) FILTER (WHERE {day_only}),
            arg_min(d, line) FILTER (WHERE {day_only}),
            min(line) FILTER (WHERE {month_only}),
            arg_min(d, line) FILTER (WHERE {month_only}),
            arg_min(d, line) FILTER (WHERE iso),
            arg_min(d, line) FILTER (WHERE serial)
        FROM forms
        """
    ).fetchall()[0]


def infer_date_format(con, relation, column, source, requested="auto"):
    """Infer the format of a date column from all its values.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    relation : str
        SQL naming the lines, e.g. ``"lines_raw WHERE source_id = 0"``.
    column, source : str
        The file's name of the column and the file's name, for messages.
    requested : str
        One of :data:`DATE_FORMATS`.

    Returns one of ``'iso'``, ``'excel-serial'``, ``'day-first'`` or
    ``'month-first'``. Raises :class:`ParseError` when the dates contradict
    ``requested`` or one another.
    """
    if requested in ("iso", "excel-serial"):
        return requested  # the parse check reports any value not in it
    stats = _date_stats(con, relation)
    counts = dict(zip(("iso", "numeric", "excel-serial"), stats[:3]))
    day_line, day_ex, month_line, month_ex, iso_ex, serial_ex = stats[3:]
    # The form most values have (ISO on a tie); the parse check reports the
    # values not in it, with their line numbers.
    found = max(counts, key=counts.get)
    if counts[found] == 0:  # no date at all, or none in a known form
        return "iso" if requested == "auto" else requested
    example = iso_ex if found == "iso" else serial_ex
    if found == "numeric":
        if day_ex is not None and month_ex is not None:
            raise ParseError(
                f"{source}: column {column!r} mixes day-first dates (line "
                f"{day_line}: {day_ex!r}) with month-first dates (line "
                f"{month_line}: {month_ex!r}), so no one order reads them all; "
                "export the dates in one format"
            )
        if day_ex is None and month_ex is None:
            return _ambiguous(source, column, requested)
        found = "day-first" if day_ex is not None else "month-first"
        example = day_ex if found == "day-first" else month_ex
    if requested not in ("auto", found):
        raise ParseError(
            f"{source}: column {column!r} has {found} dates (e.g. {example!r}) but "
            f"--date-format says {requested}; drop the option or correct it"
        )
    return found


def _ambiguous(source, column, requested):
    if requested != "auto":
        return requested
    warnings.warn(
        f"{source}: every date in column {column!r} can be read day-first "
        "or month-first; reading them month-first (the UCI export's "
        "order). Pass --date-format day-first if that is wrong.",
        AmbiguousDateWarning,
        stacklevel=5,
    )
    return "month-first"


def date_expression(date_format, column="invoice_date"):
    """Return a DuckDB expression that parses ``column`` in ``date_format``.

    The expression is NULL where a value is not a date in that format.
    """
    d = f"trim({column})"
    if date_format == "excel-serial":
        return (
            f"TIMESTAMP '1899-12-30' + to_microseconds("
            f"TRY_CAST(round(TRY_CAST({d} AS DOUBLE) * 86400e6) AS BIGINT))"
        )
    if date_format == "iso":
        return f"TRY_CAST(replace({d}, 'T', ' ') AS TIMESTAMP)"
    order = "%d/%m" if date_format == "day-first" else "%m/%d"
    formats = [f"{order}/%Y{t}" for t in _TIMES]
    short = [f"{order}/%y{t}" for t in _TIMES]
    unified = f"regexp_replace({d}, '^(\\d+)[.-](\\d+)[.-]', '\\1/\\2/')"
    four_digit = f"regexp_matches({d}, '^\\d+[/.-]\\d+[/.-]\\d{{4}}')"
    return (
        f"CASE WHEN {four_digit} THEN try_strptime({unified}, {formats!r}) "
        f"ELSE try_strptime({unified}, {short!r}) END"
    )


def parsed_dates(relation, date_format):
    """Return SQL for a table (raw, ts) parsing each distinct date of ``relation``.

    Joining the lines to it parses each timestamp once rather than once per
    line: there are a few ten thousand distinct ones in a year of lines, and
    a date that fails to parse is slow to try.
    """
    return (
        f"(SELECT raw, {date_expression(date_format, 'raw')} AS ts "
        f"FROM (SELECT DISTINCT invoice_date AS raw FROM {relation}))"
    )


def number_expression(column, decimal_comma=False):
    """Return a DuckDB expression reading a number written in ``column``."""
    text = f"trim({column})"
    if decimal_comma:
        text = f"regexp_replace({text}, '^(-?\\d*),(\\d+)$', '\\1.\\2')"
    number = f"TRY_CAST({text} AS DOUBLE)"
    # 'nan' and 'inf' cast to DOUBLE but are no price or quantity.
    return f"CASE WHEN isfinite({number}) THEN {number} END"


def whole_number_expression(column, decimal_comma=False):
    """Return a DuckDB expression reading a whole number, NULL for a fraction."""
    number = number_expression(column, decimal_comma)
    return f"TRY_CAST(CASE WHEN {number} = round({number}) THEN {number} END AS BIGINT)"


def identifier_expression(column):
    """Return a DuckDB expression for an identifier: trimmed, '.0' dropped, blank
    and 'nan' as NULL."""
    text = f"regexp_replace(trim({column}), '\\.0+$', '')"
    return (
        f"CASE WHEN lower({text}) IN ('', 'nan', 'none', 'null') THEN NULL "
        f"ELSE {text} END"
    )


def raise_first_bad(con, checks, source_id, source):
    """Raise :class:`ParseError` for the first value a required column lacks.

    ``checks`` lists (column, name in the file, what it must be, the fix) in
    the order they are reported; a value that did not parse is NULL in
    ``lines_parsed``. One aggregate finds the count and first line of each;
    only on an error is the raw value looked up.
    """
    aggregates = ", ".join(
        f"count(*) FILTER (WHERE {c} IS NULL), min(line_no) FILTER (WHERE {c} IS NULL)"
        for c, *_ in checks
    )
    found = con.execute(
        f"SELECT {aggregates} FROM lines_parsed WHERE source_id = {source_id}"
    ).fetchall()[0]
    for i, (column, what, expected, fix) in enumerate(checks):
        count, line_no = found[2 * i], found[2 * i + 1]
        if not count:
            continue
        (value,) = con.execute(
            f"SELECT {column} FROM lines_raw WHERE source_id = ? AND line_no = ?",
            [source_id, line_no],
        ).fetchall()[0]
        shown = (
            "an empty value" if value is None or not str(value).strip() else repr(value)
        )
        raise ParseError(
            f"{source}, line {line_no}: column {what!r} has {shown}, which is not "
            f"{expected} ({count:,} line{'s' if count != 1 else ''} like it). {fix}"
        )
