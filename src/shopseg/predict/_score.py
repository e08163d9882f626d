"""Score new customers' first orders with a saved model.

:func:`score_orders` and :func:`score_files` take the order lines through
the same steps as training: reading (:func:`shopseg.read.read_files`),
cleaning (:func:`shopseg.clean.clean_lines`) and the features of
:func:`first_order_features`, in a scratch DuckDB database. Products the
model has not seen are categorised from their description by the saved
product categorizer, or count as uncategorised without one.

:class:`OrderScorer` scores orders fast. In the common case (products
the model knows, plain identifiers) the lines are cleaned and featurised in
NumPy (:mod:`shopseg.predict._order_features`), in well under a
millisecond. Otherwise, without a cancellation, the features come from one
statement on a DuckDB connection it keeps open: the lines are typed and
put in their ledger buckets as :func:`shopseg.read.read_files` and
:func:`shopseg.clean.clean_lines` would (no netting is needed without a
cancellation), and the features come from the very query of
:func:`first_order_features`; with a cancellation, from
:func:`score_orders`. Every way gives the numbers of :func:`score_orders`,
bit for bit; the service scores single orders with it.

Every path predicts with :class:`~shopseg.predict._compiled.CompiledModel`.
"""

import tempfile
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..clean import NON_MERCHANDISE_CODES, clean_lines
from ..clean._rules import _KEY, _rule_expression
from ..exceptions import EmptyResultError, SchemaError
from ..read import COLUMNS, OPTIONAL, read_files
from ..read._parse import identifier_expression
from ._features import (
    PRODUCT_MAP_COLUMNS,
    PURCHASE_BUCKETS,
    first_order_features,
    first_order_features_sql,
)
from ._order_features import ProductMap, order_features
from ._persist import SavedModel, compiled_model, load_model


def _as_saved(model):
    return model if isinstance(model, SavedModel) else load_model(model)


def check_columns(columns, source="the order lines"):
    """Raise :class:`SchemaError` unless every column the model needs is there.

    ``description`` and ``country`` may be left out, as in ``shopseg run``
    and the service: a missing description leaves a product the model has
    not seen uncategorised, a missing country reads as 'Unspecified'.

    Parameters
    ----------
    columns : iterable of str
        The columns found.
    source : str
        What holds them, for the message.

    Examples
    --------
    >>> check_columns(["invoice", "stock_code"], "orders.csv")
    Traceback (most recent call last):
    ...
    shopseg.exceptions.SchemaError: orders.csv: the model needs the columns \
invoice, stock_code, quantity, invoice_date, price, customer_id (and reads \
description, country if given); missing: quantity, invoice_date, price, \
customer_id. Rename or add them (unexpected columns: none)
    """
    columns = [str(c) for c in columns]
    required = [c for c in COLUMNS if c not in OPTIONAL]
    missing = [c for c in required if c not in columns]
    if missing:
        optional = [c for c in COLUMNS if c in OPTIONAL]
        unexpected = [c for c in columns if c not in COLUMNS]
        raise SchemaError(
            f"{source}: the model needs the columns {', '.join(required)} (and "
            f"reads {', '.join(optional)} if given); missing: "
            f"{', '.join(missing)}. Rename or add them (unexpected columns: "
            f"{', '.join(unexpected) or 'none'})"
        )


def _all_columns(lines):
    """The columns of :data:`COLUMNS` of ``lines``, the optional ones added
    as blanks where missing, as reading a file without them gives."""
    return {
        name: lines[name] if name in lines else [None] * len(lines["invoice"])
        for name in COLUMNS
    }


def score_orders(model, lines):
    """Forecast each customer's spend, repeat and segment from order lines.

    Parameters
    ----------
    model : SavedModel or str or Path
        A loaded model, or its folder.
    lines : pandas.DataFrame
        Order lines with the columns ``invoice``, ``stock_code``,
        ``description``, ``quantity``, ``invoice_date``, ``price``,
        ``customer_id`` and ``country``; other columns are ignored. Lines
        after a customer's first purchase day are not used.

    Returns
    -------
    pandas.DataFrame
        One row per customer; see :func:`score_files`.

    Raises
    ------
    SchemaError
        When a column the model reads is missing; the message names it.
    """
    saved = _as_saved(model)
    check_columns(lines.columns)
    if lines.empty:
        raise EmptyResultError("the order lines are empty; give at least one line")
    with tempfile.TemporaryDirectory(prefix="shopseg-score-") as scratch:
        path = Path(scratch) / "first_orders.parquet"
        pd.DataFrame(_all_columns(lines)).to_parquet(path, index=False)
        return _score_paths(saved, [path])


def score_files(model, paths, column_map=None, date_format="auto"):
    """Forecast each customer of first-order files, in batch.

    Parameters
    ----------
    model : SavedModel or str or Path
        A loaded model, or its folder.
    paths : list of str or Path
        Exports of order lines (CSV, Excel or Parquet) with the columns the
        model reads (see :func:`score_orders`); headers are recognised as
        in ``shopseg run``.
    column_map : dict, default=None
        Canonical column name to the file's header, as in
        :func:`shopseg.read_files`.
    date_format : {"auto", "day-first", "month-first", "iso", "excel-serial"}
        How dates are written, as in :func:`shopseg.read_files`.

    Returns
    -------
    pandas.DataFrame
        One row per customer with a purchase: ``customer_id``,
        ``first_purchase_day``, ``predicted_spend``, ``spend_lower``,
        ``spend_upper``, ``repeat_probability``, ``next_year_segment`` and
        ``next_year_segment_name`` (the likeliest segment of the customer's
        first year, among those of the training customers' first years),
        ``horizon_days`` and ``later_lines`` (lines after the first purchase
        day, which were not used).
    """
    return _score_paths(
        _as_saved(model), [Path(p) for p in paths], column_map, date_format
    )


def _score_paths(saved, paths, column_map=None, date_format="auto"):
    con = duckdb.connect()
    try:
        infos = read_files(paths, con, column_map=column_map, date_format=date_format)
        for info in infos:
            check_columns(info.columns, info.name)
        clean_lines(con)
        products = _with_unknown_products(con, saved)
        features = first_order_features(con, products, saved.categories)
        later = _later_lines(con, features)
    finally:
        con.close()
    return _forecasts(saved, features, later)


def _unknown_products_sql(lines, known):
    """Products of purchase lines missing from ``known``, with the commonest
    description of each: what the categorizer reads."""
    purchases = ", ".join(f"'{b}'" for b in PURCHASE_BUCKETS)
    return f"""
        SELECT stock_code,
            arg_max(description, n) FILTER (WHERE description IS NOT NULL)
                AS description
        FROM (
            SELECT stock_code, description, count(*) AS n
            FROM {lines}
            WHERE bucket IN ({purchases})
            GROUP BY ALL
        )
        WHERE stock_code NOT IN (SELECT stock_code FROM {known})
        GROUP BY stock_code
        ORDER BY stock_code
        """


def _categorised(saved, unknown):
    """Rows of the product table for products the model has not seen."""
    unknown = unknown.copy()
    if saved.categorizer is not None:
        unknown["category"] = saved.categorizer.predict(unknown)
    else:
        unknown["category"] = -1
    unknown["reference_price"] = np.nan
    unknown["buyer_loyalty"] = np.nan
    return unknown


def _with_unknown_products(con, saved):
    """The saved product table plus the products it lacks, categorised."""
    known = saved.products
    con.register("_known", known[["stock_code"]])
    try:
        unknown = con.execute(_unknown_products_sql("lines", "_known")).df()
    finally:
        con.unregister("_known")
    if unknown.empty:
        return known
    return pd.concat([known, _categorised(saved, unknown)], ignore_index=True)


def _later_lines_sql(lines, features):
    """Lines of each customer after the first purchase day (not used)."""
    return f"""
        SELECT l.customer_id, count(*) AS later_lines
        FROM {lines} AS l
        JOIN {features} AS f USING (customer_id)
        WHERE l.invoice_date >= f.first_day + INTERVAL 1 DAY
        GROUP BY l.customer_id
        """


def _later_lines(con, features):
    con.register("_first", features[["customer_id", "first_day"]])
    try:
        return con.execute(_later_lines_sql("lines", "_first")).df()
    finally:
        con.unregister("_first")


def _forecasts(saved, features, later):
    later = dict(zip(later["customer_id"], later["later_lines"]))
    counts = [later.get(c, 0) for c in features["customer_id"]]
    out = _forecast_frame(saved, features, counts)
    return out.sort_values("customer_id", ignore_index=True)


def _forecast_frame(saved, features, later_lines):
    """One row per customer of ``features`` (a frame or a dict of arrays)."""
    predicted = compiled_model(saved).predict(features)
    segment = predicted.pop("segment", None)
    names = saved.card.get("segments", {})
    days = pd.to_datetime(np.asarray(features["first_day"]))
    out = {
        "customer_id": np.asarray(features["customer_id"], dtype=object),
        "first_purchase_day": [day.date() for day in days],
        **predicted,
    }
    if segment is not None:
        # Named apart from the behavioural segments of all customers: the
        # segmenter of the first year after a first purchase is another.
        out["next_year_segment"] = segment
        out["next_year_segment_name"] = [names.get(str(s), "") for s in segment]
    out["horizon_days"] = saved.card["window"]["horizon_days"]
    out["later_lines"] = np.asarray(later_lines, dtype=int)
    return pd.DataFrame(out)


#: Types of the order lines :class:`OrderScorer` reads.
ORDER_SCHEMA = pa.schema([
    ("invoice", pa.string()),
    ("stock_code", pa.string()),
    ("description", pa.string()),
    ("quantity", pa.int64()),
    ("invoice_date", pa.timestamp("us")),
    ("price", pa.float64()),
    ("customer_id", pa.string()),
    ("country", pa.string()),
])


def has_cancellation(invoices):
    """Whether any invoice may be a cancellation (starts with 'C').

    Leading white space of any kind is skipped, so an invoice that the
    cleaning rules read as a cancellation is never missed.

    >>> has_cancellation(["536365", " C536379"])
    True
    """
    return any(str(i).lstrip()[:1] in ("C", "c") for i in invoices)


def _order_table(columns):
    """The lines as an Arrow table for :class:`OrderScorer`, or None when
    they need :func:`score_orders`: a value missing or of the wrong type
    (reading reports it)."""
    for name in ("invoice", "stock_code"):
        if any(v is None or not str(v).strip() for v in columns[name]):
            return None
    try:
        order = pa.table({name: columns[name] for name in COLUMNS},
                         schema=ORDER_SCHEMA)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    required = ("quantity", "invoice_date", "price")
    if any(order.column(name).null_count for name in required):
        return None
    if not np.isfinite(order.column("price").to_numpy()).all():
        return None
    return order


def _unmasked(values):
    """A column of DuckDB's ``fetchnumpy`` with NULL as NaN (numbers) or
    None, as in a data frame, so a missing feature is caught as missing."""
    if not isinstance(values, np.ma.MaskedArray):
        return values
    if values.dtype.kind in "biuf":
        return values.astype(float).filled(np.nan)
    return values.astype(object).filled(None)


def _ledger_sql(order):
    """Lines of ``order`` with their ledger bucket, as clean_lines gives them
    when no invoice is a cancellation: typed as read_files types them,
    rules 1 to 8 from the cleaning rules themselves, and every purchase
    kept whole (only a cancellation reverses units). With one input, a
    repeated line is a duplicate, never an overlap."""
    rule = _rule_expression(NON_MERCHANDISE_CODES)
    return f"""
        parsed AS (
            SELECT row_number() OVER () AS line_no,
                NULLIF(trim(invoice), '') AS invoice,
                NULLIF(trim(stock_code), '') AS stock_code,
                NULLIF(NULLIF(trim(description), ''), 'nan') AS description,
                quantity, invoice_date,
                CASE WHEN isfinite(price) THEN price END AS price,
                {identifier_expression('customer_id')} AS customer_id,
                coalesce(NULLIF(trim(country), ''), 'Unspecified') AS country
            FROM {order}
        ),
        repeated AS (
            SELECT *,
                CASE WHEN row_number() OVER (
                    PARTITION BY {_KEY} ORDER BY line_no
                ) > 1 THEN 'duplicate' END AS repeat
            FROM parsed
        ),
        ruled AS (
            SELECT *, {rule} AS rule FROM repeated
        ),
        lines AS (
            SELECT * EXCLUDE (rule, repeat),
                CASE WHEN rule = 'purchase' THEN 'kept' ELSE rule END AS bucket
            FROM ruled
        )"""


class OrderScorer:
    """Score orders fast with one model, on DuckDB connections kept open.

    Orders of products the model knows, with plain identifiers, are
    cleaned (cancellations netted) and featurised in NumPy. Other orders
    without a cancellation go through one SQL statement, on an in-memory
    DuckDB connection that each thread opens on its first such call,
    holding the model's product table; a product the model has not seen
    costs a second statement. The rest go through :func:`score_orders`.
    The numbers are those of :func:`score_orders`, bit for bit.

    Parameters
    ----------
    model : SavedModel or str or Path
        A loaded model, or its folder.

    Examples
    --------
    >>> scorer = OrderScorer("out/model")  # doctest: +SKIP
    >>> scorer.score(lines)  # doctest: +SKIP
    """

    def __init__(self, model):
        self.saved = _as_saved(model)
        compiled_model(self.saved)
        self._products = ProductMap(self.saved.products, self.saved.categories)
        self.known_ = frozenset(self._products.index)
        self._local = threading.local()
        ledger = _ledger_sql("_order")
        categories = self.saved.categories
        self._sql = {
            products: f"""
                WITH {ledger},
                features AS ({first_order_features_sql(categories, 'lines', products)}),
                later AS ({_later_lines_sql('lines', 'features')})
                SELECT features.*, coalesce(later.later_lines, 0) AS later_lines
                FROM features
                LEFT JOIN later USING (customer_id)
                ORDER BY customer_id
                """
            for products in ("_known_products", "_all_products")
        }
        self._unknown_sql = (
            f"WITH {ledger} {_unknown_products_sql('lines', '_known_products')}"
        )

    def _connection(self):
        con = getattr(self._local, "con", None)
        if con is None:
            con = duckdb.connect()
            con.execute("SET threads = 1")  # sums in a fixed order; small data
            known = self.saved.products[list(PRODUCT_MAP_COLUMNS)]
            con.register("_known", known)
            con.execute("CREATE TABLE _known_products AS SELECT * FROM _known")
            con.unregister("_known")
            self._local.con = con
        return con

    def close(self):
        """Close the calling thread's DuckDB connection, if it has one."""
        con = getattr(self._local, "con", None)
        if con is not None:
            self._local.con = None
            con.close()

    def score(self, lines, netted=None):
        """Forecast each customer of order lines.

        Parameters
        ----------
        lines : pandas.DataFrame or dict of lists
            Order lines with the columns of :func:`score_orders`.
        netted : callable, default=None
            Scores, from the lines as a dict of lists, the orders that only
            the whole pipeline can score: a cancellation (an invoice
            starting with 'C') the NumPy path cannot net, or a value that
            reading must report. :func:`score_orders` when None.

        Returns
        -------
        pandas.DataFrame
            One row per customer with a purchase, as :func:`score_orders`
            gives; no row at all when no line is a purchase left after
            cleaning.
        """
        if isinstance(lines, pd.DataFrame):
            check_columns(lines.columns)
            columns = {
                name: list(values) for name, values in _all_columns(lines).items()
            }
        else:
            check_columns(lines.keys())
            columns = _all_columns(lines)
        order = _order_table(columns)
        if order is not None:
            featured = order_features(order, self._products)
            if featured is None and not has_cancellation(columns["invoice"]):
                featured = self._features(order)
            if featured is not None:
                return _forecast_frame(self.saved, *featured)
        if netted is None:
            return score_orders(self.saved, pd.DataFrame(columns))
        return netted(columns)

    def _features(self, order):
        """The features of an order without a cancellation, from one SQL
        statement, and each customer's lines after the first purchase day."""
        con = self._connection()
        con.register("_order", order)
        try:
            products = "_known_products"
            codes = set(order.column("stock_code").to_pylist())
            if not codes <= self.known_:
                unknown = con.execute(self._unknown_sql).df()
                if not unknown.empty:
                    con.register("_unknown", _categorised(self.saved, unknown)[
                        list(PRODUCT_MAP_COLUMNS)
                    ])
                    products = "_all_products"
                    con.execute(
                        "CREATE OR REPLACE TEMP VIEW _all_products AS "
                        "SELECT * FROM _known_products UNION ALL "
                        "SELECT * FROM _unknown"
                    )
            # Arrays, not a data frame: a frame costs more than the model.
            features = con.execute(self._sql[products]).fetchnumpy()
        finally:
            con.unregister("_order")
            if products == "_all_products":
                con.execute("DROP VIEW _all_products")
                con.unregister("_unknown")
        features = {name: _unmasked(values) for name, values in features.items()}
        return features, features.pop("later_lines")
