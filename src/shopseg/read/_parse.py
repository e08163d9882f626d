"""Turn the strings read from a file into typed values, in SQL.

A date column gets one format, inferred from the whole column: ISO dates, Excel
serial numbers, or day/month/year numbers in either order. For the last, the
column is read day-first when any first number is above 12 and month-first when
any second number is above 12. When every date could be read either way, the
default is month-first, the order of the UCI exports, with a warning.
"""

import warnings

from ..exceptions import AmbiguousDateWarning, ParseError

DATE_FORMATS = ("auto", "day-first", "month-first", "iso", "excel-serial")

_ISO = r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
_NUMERIC = r"^\d{1,2}[/.-]\d{1,2}[/.-](\d{2}|\d{4})( \d{1,2}:\d{2}(:\d{2})?)?$"
_SERIAL = r"^\d+(\.\d+)?$"

_TIMES = (" %H:%M:%S", " %H:%M", "")


def infer_date_format(con, table, column, source, requested="auto"):
    """Infer the format of a date column from all its values.

    Returns one of ``'iso'``, ``'excel-serial'``, ``'day-first'`` or
    ``'month-first'``. Raises :class:`ParseError` when the column mixes
    formats or contradicts ``requested``.
    """
    stats = con.execute(
        f"""
        SELECT
            count(d),
            count(d) FILTER (WHERE regexp_matches(d, '{_ISO}')),
            count(d) FILTER (WHERE regexp_matches(d, '{_NUMERIC}')),
            count(d) FILTER (WHERE regexp_matches(d, '{_SERIAL}')),
            max(TRY_CAST(regexp_extract(d, '^(\\d+)[/.-]', 1) AS INTEGER))
                FILTER (WHERE regexp_matches(d, '{_NUMERIC}')),
            max(TRY_CAST(regexp_extract(d, '^\\d+[/.-](\\d+)', 1) AS INTEGER))
                FILTER (WHERE regexp_matches(d, '{_NUMERIC}')),
            arg_min(d, line_no) FILTER (WHERE regexp_matches(d, '{_NUMERIC}')
                AND TRY_CAST(regexp_extract(d, '^(\\d+)', 1) AS INTEGER) > 12),
            arg_min(d, line_no) FILTER (WHERE regexp_matches(d, '{_NUMERIC}')
                AND TRY_CAST(regexp_extract(d, '^\\d+[/.-](\\d+)', 1) AS INTEGER)
                    > 12)
        FROM (SELECT trim(invoice_date) AS d, line_no FROM {table})
        WHERE d <> ''
        """
    ).fetchone()
    n, n_iso, n_numeric, n_serial, first_max, second_max, day_ex, month_ex = stats

    if n == 0 or requested in ("iso", "excel-serial"):
        return "iso" if requested == "auto" else requested
    if n_iso == n:
        found = "iso"
    elif n_serial == n:
        found = "excel-serial"
    elif n_numeric == n:
        if first_max > 12 and second_max > 12:
            raise ParseError(
                f"{source}: column {column!r} has dates with a first number above "
                f"12 (e.g. {day_ex!r}) and dates with a second number above 12 "
                f"(e.g. {month_ex!r}), so neither day-first nor month-first reads "
                "them all; export the dates in one format"
            )
        if first_max > 12:
            found = "day-first"
        elif second_max > 12:
            found = "month-first"
        elif requested == "auto":
            warnings.warn(
                f"{source}: every date in column {column!r} can be read day-first "
                "or month-first; reading them month-first (the UCI export's "
                "order). Pass --date-format day-first if that is wrong.",
                AmbiguousDateWarning,
                stacklevel=2,
            )
            return "month-first"
        else:
            return requested
    else:
        return "mixed"

    if requested not in ("auto", found):
        example = day_ex if found == "day-first" else month_ex
        raise ParseError(
            f"{source}: column {column!r} has {found} dates (e.g. {example!r}) but "
            f"--date-format says {requested}; drop the option or correct it"
        )
    return found


def date_expression(date_format, column="invoice_date"):
    """Return a DuckDB expression that parses ``column`` in ``date_format``."""
    d = f"trim({column})"
    if date_format == "excel-serial":
        return (
            f"TIMESTAMP '1899-12-30' + to_microseconds("
            f"CAST(round(TRY_CAST({d} AS DOUBLE) * 86400e6) AS BIGINT))"
        )
    if date_format in ("iso", "mixed"):
        return f"TRY_CAST(replace({d}, 'T', ' ') AS TIMESTAMP)"
    order = "%d/%m" if date_format == "day-first" else "%m/%d"
    formats = [f"{order}/{y}{t}" for y in ("%Y",) for t in _TIMES]
    short = [f"{order}/%y{t}" for t in _TIMES]
    unified = f"regexp_replace({d}, '^(\\d+)[.-](\\d+)[.-]', '\\1/\\2/')"
    four_digit = f"regexp_matches({d}, '^\\d+[/.-]\\d+[/.-]\\d{{4}}')"
    return (
        f"CASE WHEN {four_digit} THEN try_strptime({unified}, {formats!r}) "
        f"ELSE try_strptime({unified}, {short!r}) END"
    )


def number_expression(column, decimal_comma=False):
    """Return a DuckDB expression reading a number written in ``column``."""
    text = f"trim({column})"
    if decimal_comma:
        text = f"regexp_replace({text}, '^(-?\\d*),(\\d+)$', '\\1.\\2')"
    return f"TRY_CAST({text} AS DOUBLE)"


def identifier_expression(column):
    """Return a DuckDB expression for an identifier: trimmed, '.0' dropped, blank
    and 'nan' as NULL."""
    text = f"regexp_replace(trim({column}), '\\.0+$', '')"
    return f"CASE WHEN lower({text}) IN ('', 'nan', 'none', 'null') THEN NULL ELSE {text} END"


def raise_first_bad(con, table, source, column, expression, what, fix):
    """Raise :class:`ParseError` for the first row whose value does not parse."""
    bad = con.execute(
        f"""
        SELECT line_no, {column}
        FROM {table}
        WHERE {expression} IS NULL
        ORDER BY line_no
        LIMIT 1
        """
    ).fetchone()
    if bad is None:
        return
    count = con.execute(
        f"SELECT count(*) FROM {table} WHERE {expression} IS NULL"
    ).fetchone()[0]
    line_no, value = bad
    shown = "an empty value" if value is None or not str(value).strip() else repr(value)
    raise ParseError(
        f"{source}, line {line_no}: column {what} has {shown}, which is not "
        f"{fix[0]} ({count:,} line{'s' if count != 1 else ''} like it). {fix[1]}"
    )
