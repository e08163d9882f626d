"""A connection that runs shopseg's DuckDB SQL on Apache Spark.

Reading, cleaning and the customer features are written once, as SQL in
DuckDB's dialect, against a DuckDB connection. :class:`SparkConnection` offers
the part of that connection they use (``execute`` with ``?`` parameters,
``register``, ``unregister``), so the very same functions run on Spark: each
statement is translated by sqlglot (see :mod:`._dialect`), and the tables it
creates are Spark DataFrames, computed at once and named as temporary views;
a view stays a lazy view. :meth:`SparkConnection.copy_to` brings the tables
and views that are not temporary (``lines``, ``clean_lines``, ``ledger``,
``customers``) back into a DuckDB store, through Arrow, for the stages that
run locally.
"""

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from ._dialect import bind, parse_duckdb, to_spark
from ._session import start_spark


@dataclasses.dataclass
class _Object:
    """A table or view made on Spark: its data, and how DuckDB would make it."""

    kind: str  # "table", "view" or "registered"
    temporary: bool
    frame: object  # a Spark DataFrame
    statement: str | None = None
    changed: bool = True
    columns_only: bool = False  # CREATE TABLE name (column type, ...)


class _Result:
    """The result of a query, with the fetch methods of a DuckDB result."""

    def __init__(self, table):
        self._table = table

    def arrow(self):
        return self._table

    def fetchall(self):
        return duckdb.from_arrow(self._table).fetchall()

    def fetchone(self):
        rows = self.fetchall()
        return rows[0] if rows else None

    def df(self):
        return duckdb.from_arrow(self._table).df()


class SparkConnection:
    """Run DuckDB-dialect SQL on a Spark session, as if on a DuckDB connection.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session the SQL runs on.
    owns_session : bool, default=False
        Whether :meth:`close` stops the session.

    Examples
    --------
    >>> con = SparkConnection.start("local[1]")  # doctest: +SKIP
    >>> con.execute("SELECT count(*) FILTER (WHERE x > ?) FROM range(5) t(x)",
    ...             [2]).fetchall()  # doctest: +SKIP
    [(2,)]
    """

    def __init__(self, spark, owns_session=False):
        self.spark = spark
        self.owns_session = owns_session
        self._objects = {}

    @classmethod
    def start(cls, master=None, config=None):
        """Connect to a new or the active Spark session (see :func:`start_spark`)."""
        spark, started = start_spark(master, config)
        return cls(spark, owns_session=started)

    def execute(self, sql, parameters=None):
        """Run one statement in DuckDB's dialect; ``?`` takes ``parameters``."""
        statement = bind(sql, parameters)
        tree = parse_duckdb(statement)
        if isinstance(tree, exp.Create):
            return self._create(tree, statement)
        if isinstance(tree, exp.Insert):
            return self._insert(tree)
        if isinstance(tree, exp.Drop):
            for table in tree.args.get("tables") or [tree.this]:
                self._drop(table.name, tree.args.get("exists"))
            return _Result(pa.table({}))
        if isinstance(tree, exp.Show) and tree.name.upper() == "TABLES":
            return _Result(pa.table({"name": sorted(self._objects)}))
        return _Result(self.spark.sql(self._spark_sql(tree)).toArrow())

    def register(self, name, frame):
        """Name a pandas DataFrame, Arrow table or Spark DataFrame as a view."""
        if not hasattr(frame, "sparkSession"):  # not a Spark DataFrame yet
            frame = self.spark.createDataFrame(_spark_arrow(frame))
        self._define(name, _Object("registered", True, frame))
        return self

    def unregister(self, name):
        self._drop(name, True)
        return self

    def append(self, name, frame):
        """Append a Spark DataFrame's rows to a table, matching columns by
        position as ``INSERT INTO name SELECT ...`` does; return the rows
        appended."""
        target = self._objects[name]
        fields = target.frame.schema.fields
        if len(frame.columns) != len(fields):
            raise ValueError(
                f"{name} has {len(fields)} columns; {len(frame.columns)} were given"
            )
        frame = frame.toDF(*(field.name for field in fields))
        frame = frame.select(*(
            frame[field.name].cast(field.dataType).alias(field.name) for field in fields
        ))
        part = _materialized(frame)
        added = part.count()
        target.frame = part if target.columns_only else target.frame.union(part)
        target.columns_only = False
        target.changed = True
        self._define(name, target)
        return added

    def copy_to(self, con, folder=None):
        """Copy the tables and views made here since the last copy into DuckDB.

        Temporary ones stay behind. A table's rows travel as Arrow and, when
        ``folder`` is given, are also written there as ``NAME.parquet``; a
        view is made again in DuckDB by its own statement.

        Returns
        -------
        list of str
            The names copied, in the order they were made.
        """
        copied = []
        for name, item in self._objects.items():
            if item.temporary or not item.changed:
                continue
            if item.kind == "view":
                con.execute(item.statement)
            else:
                table = item.frame.toArrow()
                con.register("_spark_table", table)
                con.execute(
                    f"CREATE OR REPLACE TABLE {_quoted(name)} AS "
                    "SELECT * FROM _spark_table"
                )
                con.unregister("_spark_table")
                if folder is not None:
                    Path(folder).mkdir(parents=True, exist_ok=True)
                    pq.write_table(table, Path(folder) / f"{name}.parquet")
            item.changed = False
            copied.append(name)
        return copied

    def copy_from(self, con, names):
        """Make DuckDB tables or views of ``con`` available here, by name."""
        for name in names:
            table = con.sql(f"SELECT * FROM {_quoted(name)}").to_arrow_table()
            self.register(name, table)

    def close(self):
        """Drop what was made here, and stop the session if it was started here."""
        for name in list(self._objects):
            self._drop(name, True)
        if self.owns_session:
            self.spark.stop()

    def _create(self, tree, statement):
        target = tree.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        query = tree.expression
        columns_only = query is None
        if columns_only:  # CREATE TABLE name (column type, ...)
            query = exp.select(*(
                exp.cast(exp.null(), column.args["kind"]).as_(column.name)
                for column in target.expressions
            )).where(exp.false())
        frame = self.spark.sql(self._spark_sql(query))
        properties = tree.args.get("properties")
        temporary = bool(properties and properties.find(exp.TemporaryProperty))
        kind = "view" if tree.kind.upper() == "VIEW" else "table"
        if kind == "table" and not columns_only:
            frame = _materialized(frame)
        self._drop(name, True)
        self._define(
            name, _Object(kind, temporary, frame, statement, columns_only=columns_only)
        )
        return _Result(pa.table({}))

    def _insert(self, tree):
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        rows = self.spark.sql(self._spark_sql(tree.expression))
        added = self.append(target.name, rows)
        return _Result(pa.table({"Count": [added]}))

    def _spark_sql(self, tree):
        schema = {name: item.frame.columns for name, item in self._objects.items()}
        return to_spark(tree, schema)

    def _define(self, name, item):
        # Re-made objects move to the end, so copies keep the order of making.
        self._objects.pop(name, None)
        self._objects[name] = item
        item.frame.createOrReplaceTempView(name)

    def _drop(self, name, if_exists):
        item = self._objects.pop(name, None)
        if item is None:
            if not if_exists:
                raise KeyError(f"no table or view {name!r} on Spark")
            return
        self.spark.catalog.dropTempView(name)


def _materialized(frame):
    """Compute ``frame`` now and keep its rows on the executors.

    A local checkpoint rather than a cache: it also cuts the plan, so a query
    on a table does not analyse again every statement that made it (which
    grows with each stage and slows every query down).
    """
    return frame.localCheckpoint(eager=True)


def _spark_arrow(frame):
    """An Arrow table Spark accepts: plain rather than large strings."""
    if isinstance(frame, pa.RecordBatchReader):
        table = frame.read_all()
    elif isinstance(frame, pa.Table):
        table = frame
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        if pa.types.is_large_string(field.type):
            field = field.with_type(pa.string())
        elif pa.types.is_large_binary(field.type):
            field = field.with_type(pa.binary())
        fields.append(field)
    return table.cast(pa.schema(fields))


def _quoted(name):
    return '"' + name.replace('"', '""') + '"'
