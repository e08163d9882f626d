"""Score new customers' first orders with a saved model.

The order lines go through the same steps as in training: reading
(:func:`shopseg.read.read_files`), cleaning (:func:`shopseg.clean.clean_lines`)
and :func:`first_order_features`, in a scratch DuckDB database. Products the
model has not seen are categorised from their description by the saved
product categorizer, or count as uncategorised without one.
"""

import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..clean import clean_lines
from ..exceptions import SchemaError
from ..read import COLUMNS, read_files
from ._features import PURCHASE_BUCKETS, first_order_features
from ._persist import SavedModel, load_model


def _as_saved(model):
    return model if isinstance(model, SavedModel) else load_model(model)


def check_columns(columns, source="the order lines"):
    """Raise :class:`SchemaError` unless every column the model reads is there.

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
    shopseg.exceptions.SchemaError: orders.csv: the model reads the columns \
invoice, stock_code, description, quantity, invoice_date, price, customer_id, \
country; missing: description, quantity, invoice_date, price, customer_id, \
country. Rename or add them (unexpected columns: none)
    """
    columns = [str(c) for c in columns]
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        unexpected = [c for c in columns if c not in COLUMNS]
        raise SchemaError(
            f"{source}: the model reads the columns {', '.join(COLUMNS)}; "
            f"missing: {', '.join(missing)}. Rename or add them (unexpected "
            f"columns: {', '.join(unexpected) or 'none'})"
        )


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
    with tempfile.TemporaryDirectory(prefix="shopseg-score-") as scratch:
        path = Path(scratch) / "first_orders.parquet"
        lines[list(COLUMNS)].to_parquet(path, index=False)
        return _score_paths(saved, [path])


def score_files(model, paths):
    """Forecast each customer of first-order files, in batch.

    Parameters
    ----------
    model : SavedModel or str or Path
        A loaded model, or its folder.
    paths : list of str or Path
        Exports of order lines (CSV, Excel or Parquet) with the columns the
        model reads (see :func:`score_orders`); headers are recognised as
        in ``shopseg run``.

    Returns
    -------
    pandas.DataFrame
        One row per customer with a purchase: ``customer_id``,
        ``first_purchase_day``, ``predicted_spend``, ``spend_lower``,
        ``spend_upper``, ``repeat_probability``, ``segment``,
        ``segment_name``, ``horizon_days`` and ``later_lines`` (lines after
        the first purchase day, which were not used).
    """
    return _score_paths(_as_saved(model), [Path(p) for p in paths])


def _score_paths(saved, paths):
    con = duckdb.connect()
    try:
        infos = read_files(paths, con)
        for info in infos:
            check_columns(info.columns, info.name)
        clean_lines(con)
        products = _with_unknown_products(con, saved)
        features = first_order_features(con, products, saved.categories)
        later = _later_lines(con, features)
    finally:
        con.close()
    return _forecasts(saved, features, later)


def _with_unknown_products(con, saved):
    """The saved product table plus the products it lacks, categorised."""
    purchases = ", ".join(f"'{b}'" for b in PURCHASE_BUCKETS)
    known = saved.products
    con.register("_known", known[["stock_code"]])
    try:
        unknown = con.execute(
            f"""
            SELECT stock_code,
                arg_max(description, n) FILTER (WHERE description IS NOT NULL)
                    AS description
            FROM (
                SELECT stock_code, description, count(*) AS n
                FROM lines
                WHERE bucket IN ({purchases})
                GROUP BY ALL
            )
            WHERE stock_code NOT IN (SELECT stock_code FROM _known)
            GROUP BY stock_code
            ORDER BY stock_code
            """
        ).df()
    finally:
        con.unregister("_known")
    if unknown.empty:
        return known
    if saved.categorizer is not None:
        unknown["category"] = saved.categorizer.predict(unknown)
    else:
        unknown["category"] = -1
    unknown["reference_price"] = np.nan
    unknown["buyer_loyalty"] = np.nan
    return pd.concat([known, unknown], ignore_index=True)


def _later_lines(con, features):
    """Lines of each customer after the first purchase day (not used)."""
    con.register("_first", features[["customer_id", "first_day"]])
    try:
        return con.execute(
            """
            SELECT l.customer_id, count(*) AS later_lines
            FROM lines AS l
            JOIN _first AS f USING (customer_id)
            WHERE l.invoice_date >= f.first_day + INTERVAL 1 DAY
            GROUP BY l.customer_id
            """
        ).df()
    finally:
        con.unregister("_first")


def _forecasts(saved, features, later):
    predicted = saved.model.predict(features)
    names = saved.card.get("segments", {})
    out = pd.DataFrame({
        "customer_id": features["customer_id"],
        "first_purchase_day": features["first_day"].dt.date,
    })
    out = pd.concat([out, predicted], axis=1)
    if "segment" in out:
        out["segment_name"] = out["segment"].map(lambda s: names.get(str(s), ""))
    out["horizon_days"] = saved.card["window"]["horizon_days"]
    out = out.merge(later, on="customer_id", how="left")
    out["later_lines"] = out["later_lines"].fillna(0).astype(int)
    return out.sort_values("customer_id", ignore_index=True)
