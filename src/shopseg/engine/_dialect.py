"""Translate shopseg's SQL, written once in DuckDB's dialect, to Spark SQL.

sqlglot parses the DuckDB statement and writes it in Spark's dialect. A few
DuckDB functions that sqlglot passes through by name are rewritten first into
Spark expressions with the same result:

- ``isfinite(x)``: not NaN and not infinite;
- ``try_strptime(x, fmt)`` and ``try_strptime(x, [fmt, ...])``: the first
  ``try_to_timestamp`` with the format in Java's pattern letters that parses
  the value, two-digit years read as DuckDB reads them (69 to 99 as 19xx);
- ``timestamp + to_microseconds(n)``: ``timestampadd(MICROSECOND, n, ...)``;
- ``regexp_replace``: groups written ``$1`` rather than ``\\1`` in the
  replacement; DuckDB replaces the first match only (without the 'g'
  option), Spark every match, so only anchored patterns are accepted then;
- ``hash(...)``: Spark's 64-bit ``xxhash64``;
- ``mode(x)``: Spark's deterministic mode (the smallest value on a tie).

Numbers written with a decimal point are DECIMAL in both dialects, but
DuckDB turns arithmetic with them into DOUBLE where Spark keeps a DECIMAL
of limited scale; they are cast to DOUBLE so that both engines compute in
floating point.
"""

import datetime
import numbers
import re

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema
from sqlglot.tokens import TokenType

from ..exceptions import EngineError

#: strftime codes DuckDB's formats use here, and Java's pattern letters for
#: parsing. One letter reads one or two digits, as DuckDB does.
_PATTERN_LETTERS = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "M",
    "%d": "d",
    "%H": "H",
    "%M": "m",
    "%S": "s",
}


def bind(sql, parameters=()):
    """Return ``sql`` with each ``?`` replaced by its parameter as a literal.

    The placeholders are found by sqlglot's tokenizer, so a '?' inside a
    string is left alone.

    >>> bind("SELECT ? + 1, '?', ?", [datetime.date(2011, 12, 9), "it's"])
    "SELECT DATE '2011-12-09' + 1, '?', 'it''s'"
    """
    parameters = list(parameters or ())
    tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql)
    places = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER]
    if len(places) != len(parameters):
        raise ValueError(
            f"the statement has {len(places)} placeholders but "
            f"{len(parameters)} parameters were given"
        )
    pieces, done = [], 0
    for token, value in zip(places, parameters):
        pieces += [sql[done:token.start], _literal(value)]
        done = token.end + 1
    return "".join(pieces) + sql[done:]


def _literal(value):
    """A Python value as a DuckDB literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, datetime.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def parse_duckdb(sql):
    """Parse one DuckDB statement into a sqlglot expression."""
    return sqlglot.parse_one(sql, read="duckdb")


def to_spark(expression, schema=None):
    """Return Spark SQL for a DuckDB statement (text or parsed).

    With ``schema`` (table name to column names), names are resolved as
    DuckDB resolves them first: a WHERE or GROUP BY may name an alias of the
    SELECT list in DuckDB, not in Spark, so such names are replaced by the
    aliased expressions.

    >>> to_spark("SELECT min(x) FILTER (WHERE isfinite(x)) FROM t GROUP BY ALL")
    ... # doctest: +NORMALIZE_WHITESPACE
    "SELECT MIN(x) FILTER(WHERE NOT (ISNAN(x) OR ABS(x) = CAST('Infinity' AS
    DOUBLE))) FROM t GROUP BY ALL"
    """
    if isinstance(expression, str):
        expression = parse_duckdb(expression)
    if schema is not None:
        expression = expression.copy()
        # Names keep their case: DuckDB and Spark both match them without it,
        # and the case of a column name is part of the result (e.g. "T").
        for identifier in expression.find_all(exp.Identifier):
            identifier.meta["case_sensitive"] = True
        expression = qualify(
            expression,
            schema=MappingSchema(
                {table: dict.fromkeys(columns, "UNKNOWN")
                 for table, columns in schema.items()},
                dialect="duckdb",
                normalize=False,
            ),
            dialect="duckdb",
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    return _rewrite(expression).sql(dialect="spark")


def _rewrite(expression):
    """A copy of ``expression`` with every node Spark lacks rewritten."""
    return expression.transform(_spark_node)


def _spark_node(node):
    """Rewrite one node of a DuckDB statement into Spark's equivalent."""
    if isinstance(node, exp.Literal) and not node.is_string:
        if "." in node.this and "e" not in node.this.lower():
            return exp.cast(node.copy(), exp.DataType.Type.DOUBLE)
        return node
    # A node replaced here is not visited again, so its parts are rewritten
    # before they go into the replacement.
    if isinstance(node, exp.Add) and _is_call(node.expression, "to_microseconds"):
        (micros,) = node.expression.expressions
        return exp.Anonymous(
            this="TIMESTAMPADD",
            expressions=[exp.var("MICROSECOND"), _rewrite(micros), _rewrite(node.this)],
        )
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    if isinstance(node, exp.Mode):
        return exp.Anonymous(this="MODE", expressions=[_rewrite(node.this), exp.true()])
    if not isinstance(node, exp.Anonymous):
        return node
    name = node.name.lower()
    arguments = [_rewrite(argument) for argument in node.expressions]
    if name == "isfinite":
        return _substitute(
            "NOT (ISNAN(v) OR ABS(v) = CAST('Infinity' AS DOUBLE))", v=arguments[0]
        )
    if name == "hash":
        return exp.Anonymous(this="XXHASH64", expressions=arguments)
    if name == "try_strptime":
        return _try_strptime(*arguments)
    return node


def _regexp_replace(node):
    """Spark's regexp_replace for DuckDB's."""
    pattern, replacement = node.expression, node.args.get("replacement")
    modifiers = node.args.get("modifiers")
    if not all(
        isinstance(e, exp.Literal) and e.is_string
        for e in (pattern, replacement, *([modifiers] if modifiers else []))
    ):
        raise EngineError(
            f"{node.sql('duckdb')}: regexp_replace needs literal pattern, "
            "replacement and options to run on Spark"
        )
    every = modifiers is not None and "g" in modifiers.this
    anchored = pattern.this.startswith("^") or re.search(r"(?<!\\)\$$", pattern.this)
    if not (every or anchored):
        raise EngineError(
            f"{node.sql('duckdb')}: DuckDB replaces the first match only, Spark "
            "every match; anchor the pattern or pass 'g' to run it on Spark"
        )
    java = re.sub(r"\\(\d)", r"$\1", replacement.this.replace("$", "\\$"))
    return exp.Anonymous(
        this="REGEXP_REPLACE",
        expressions=[_rewrite(node.this), pattern.copy(), exp.Literal.string(java)],
    )


def _substitute(template, **values):
    """Spark SQL ``template`` with its columns named in ``values`` replaced."""
    return sqlglot.parse_one(template, read="spark").transform(
        lambda n: values[n.name].copy() if _is_column(n, *values) else n
    )


def _is_call(node, name):
    return isinstance(node, exp.Anonymous) and node.name.lower() == name


def _is_column(node, *names):
    return isinstance(node, exp.Column) and not node.table and node.name in names


def _try_strptime(value, formats):
    """``coalesce`` of ``try_to_timestamp`` over DuckDB's formats, in order."""
    if isinstance(formats, exp.Array):
        formats = formats.expressions
    else:
        formats = [formats]
    attempts = []
    for literal in formats:
        if not (isinstance(literal, exp.Literal) and literal.is_string):
            raise EngineError(
                f"try_strptime needs literal formats to run on Spark, got "
                f"{literal.sql('duckdb')}"
            )
        parsed = exp.Anonymous(
            this="TRY_TO_TIMESTAMP",
            expressions=[value.copy(), exp.Literal.string(_java_pattern(literal.this))],
        )
        if "%y" in literal.this:
            parsed = _twentieth_century(parsed)
        attempts.append(parsed)
    return attempts[0] if len(attempts) == 1 else exp.Coalesce(
        this=attempts[0], expressions=attempts[1:]
    )


def _twentieth_century(parsed):
    """Read two-digit years 69 to 99 as 1969 to 1999, as DuckDB's %y does
    (Java reads every two-digit year as 20xx)."""
    return _substitute(
        "CASE WHEN YEAR(t) >= 2069 THEN t - INTERVAL 100 YEARS ELSE t END", t=parsed
    )


def _java_pattern(strftime):
    """Java's parsing pattern for a strftime format.

    >>> _java_pattern("%d/%m/%Y %H:%M")
    'd/M/yyyy H:m'
    """
    def piece(match):
        text = match.group(0)
        if not text.startswith("%"):
            return f"'{text}'"  # letters outside a code are literal text
        if text not in _PATTERN_LETTERS:
            raise EngineError(
                f"date format {strftime!r} uses {text}, which shopseg cannot "
                "translate for Spark"
            )
        return _PATTERN_LETTERS[text]

    return re.sub(r"%.|[A-Za-z]+", piece, strftime)
