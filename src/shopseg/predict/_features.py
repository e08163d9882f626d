"""Features of a customer's first purchase day, computed in DuckDB.

One function, :func:`first_order_features`, serves training and scoring: it
reads a table of cleaned lines (the ``lines`` table that
:func:`shopseg.clean.clean_lines` creates, with its ``bucket`` column) and
returns one row per customer. Only the lines of the customer's first
purchase day enter, and only as they stood that day:

- purchases are counted gross, ``quantity x price``, whether or not a later
  cancellation reversed them (``quantity_net`` and ``amount`` would let later
  days in);
- cancellations count only when made on the first purchase day.

The first purchase day is the first day with a kept purchase line. A
purchase wholly reversed later leaves no kept line, so a customer whose first
order was entirely cancelled starts on the next day they bought something
they kept. When a customer has no kept line at all (a first order scored
with its own cancellation) the first day with any purchase is used.
"""

import contextlib

import numpy as np
import pandas as pd

from ..features import exact_sum, share_column

#: Buckets of ``lines`` that are purchases and cancellations.
PURCHASE_BUCKETS = ("kept", "purchase_reversed")
CANCELLATION_BUCKETS = ("cancellation_matched", "cancellation_unmatched")

#: Category and label of products no category fits.
UNCATEGORISED = (-1, "Uncategorised")

#: Months of the holiday season: shops stock up for Christmas in the
#: fourth quarter.
HOLIDAY_MONTHS = (10, 11, 12)

#: The order of a customer's lines that picks the first line's country.
#: Lines that tie on it are copies of one another.
LINE_ORDER = ("invoice_date", "invoice", "stock_code", "quantity", "price")

#: Columns of the product table the features read.
PRODUCT_MAP_COLUMNS = ("stock_code", "category", "reference_price", "buyer_loyalty")

#: Feature groups, in the order the ablation adds them. The category-share
#: columns depend on the product categories and are matched by prefix.
FEATURE_GROUPS = {
    "basic": (
        "order_value",
        "lines",
        "units",
        "products",
        "mean_price",
        "orders",
        "hour",
        "is_uk",
        "month",
        "weekday",
    ),
    "quantities": (
        "units_per_line",
        "max_line_quantity",
        "median_line_quantity",
        "dozen_line_share",
        "bulk_line_share",
    ),
    "prices": (
        "median_price",
        "max_price",
        "unit_value",
        "price_ratio",
        "discount_line_share",
        "cheap_value_share",
    ),
    "categories": ("share_*", "categories"),
    "products": ("buyer_loyalty", "max_buyer_loyalty"),
    "country": ("country",),
    "season": ("holiday_season", "day_of_month", "day_span_hours"),
    "cancellations": ("cancelled_lines", "cancelled_value", "cancelled_share"),
}


def feature_columns(categories, groups=None):
    """Return the feature columns of the given groups, in a fixed order.

    Parameters
    ----------
    categories : pandas.DataFrame
        ``category`` and ``label`` of the product categories.
    groups : sequence of str, default=None
        Keys of :data:`FEATURE_GROUPS`; all of them when None.

    Returns
    -------
    list of str

    Examples
    --------
    >>> cats = pd.DataFrame({"category": [0, -1], "label": ["bag", "x"]})
    >>> feature_columns(cats, ["categories"])
    ['share_00_bag', 'share_uncategorised', 'categories']
    """
    groups = list(FEATURE_GROUPS) if groups is None else list(groups)
    shares = category_columns(categories)
    columns = []
    for group in groups:
        for name in FEATURE_GROUPS[group]:
            columns.extend(shares if name == "share_*" else [name])
    return columns


def category_columns(categories):
    """Return the share column of each category, uncategorised last."""
    rows = _with_uncategorised(categories)
    return [share_column(c, label) for c, label in rows]


def _with_uncategorised(categories):
    rows = [
        (int(c), str(label))
        for c, label in zip(categories["category"], categories["label"])
        if int(c) != UNCATEGORISED[0]
    ]
    return sorted(rows) + [UNCATEGORISED]


@contextlib.contextmanager
def one_thread(con):
    """Run DuckDB on one thread, then restore its setting.

    Parallel sums add floats in a varying order, so their last bits vary
    from run to run; a tree split on such a value could then change.
    """
    (threads,), = con.execute("SELECT current_setting('threads')").fetchall()
    con.execute("SET threads = 1")
    try:
        yield con
    finally:
        con.execute(f"SET threads = {int(threads)}")


def first_order_features(con, products, categories, lines="lines"):
    """Return the features of each customer's first purchase day.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Holds ``lines``.
    products : pandas.DataFrame
        ``stock_code``, ``category``, ``reference_price`` (the usual unit
        price of the product) and ``buyer_loyalty`` (how often its buyers
        come back; see :func:`shopseg.predict.product_table`). Products not
        in it count as uncategorised, at their own price, with the median
        loyalty.
    categories : pandas.DataFrame
        ``category`` and ``label`` of every product category.
    lines : str, default="lines"
        A table with the columns of ``lines`` after cleaning: ``invoice``,
        ``stock_code``, ``quantity``, ``invoice_date``, ``price``,
        ``customer_id``, ``country`` and ``bucket``.

    Returns
    -------
    pandas.DataFrame
        One row per customer, sorted by ``customer_id``: ``customer_id``,
        ``first_day``, ``first_order_at`` and the columns of
        :func:`feature_columns`.
    """
    product_map = products[list(PRODUCT_MAP_COLUMNS)]
    con.register("_product_map", product_map)
    try:
        with one_thread(con):
            frame = con.execute(
                first_order_features_sql(categories, lines, "_product_map")
            ).df()
    finally:
        con.unregister("_product_map")
    return typed_features(frame)


def _first_line(expression):
    """``expression`` on a customer's first line in :data:`LINE_ORDER`."""
    order = ", ".join(LINE_ORDER)
    return f"arg_min({expression}, ({order}))"


def first_order_features_sql(categories, lines="lines", products="_product_map"):
    """Return the query behind :func:`first_order_features`.

    The query can be run as it is, or nested in a larger one (as the
    service does, to clean and featurise an order in one statement), so
    the features are defined in one place only.

    Sums of money are exact sums of decimals (see
    :func:`shopseg.features.exact_sum`), so a customer's features do not
    depend, even in the last bit, on the other customers of the call or on
    the order of the lines.

    Parameters
    ----------
    categories : pandas.DataFrame
        ``category`` and ``label`` of every product category.
    lines : str, default="lines"
        A table, view or common table expression of cleaned lines (see
        :func:`first_order_features`).
    products : str, default="_product_map"
        A table or view with the columns :data:`PRODUCT_MAP_COLUMNS`.

    Returns
    -------
    str
        A query giving the columns of :func:`first_order_features` before
        :func:`typed_features` sets the integer types.
    """
    share_names = ", ".join(
        f"o.{share_column(c, label)}" for c, label in _with_uncategorised(categories)
    )
    shares = ",\n".join(
        f"coalesce({exact_sum('value', f'category = {c}')}, 0) "
        f"/ {exact_sum('value')} AS {share_column(c, label)}"
        for c, label in _with_uncategorised(categories)
    )
    purchases = ", ".join(f"'{b}'" for b in PURCHASE_BUCKETS)
    cancellations = ", ".join(f"'{b}'" for b in CANCELLATION_BUCKETS)
    holiday = ", ".join(str(m) for m in HOLIDAY_MONTHS)
    return f"""
            WITH first AS (
                SELECT customer_id,
                    coalesce(
                        min(CAST(invoice_date AS DATE))
                            FILTER (WHERE bucket = 'kept'),
                        min(CAST(invoice_date AS DATE))
                    ) AS first_day
                FROM {lines}
                WHERE bucket IN ({purchases})
                GROUP BY customer_id
            ),
            day AS (
                SELECT l.customer_id, f.first_day, l.invoice, l.stock_code,
                    l.quantity, l.price, l.invoice_date, l.country,
                    l.quantity * l.price AS value,
                    coalesce(p.category, -1) AS category,
                    coalesce(p.reference_price, l.price) AS reference_price,
                    coalesce(
                        p.buyer_loyalty,
                        (SELECT median(buyer_loyalty) FROM {products})
                    ) AS buyer_loyalty
                FROM {lines} AS l
                JOIN first AS f
                  ON l.customer_id = f.customer_id
                 AND CAST(l.invoice_date AS DATE) = f.first_day
                LEFT JOIN {products} AS p USING (stock_code)
                WHERE l.bucket IN ({purchases})
            ),
            cancelled AS (
                SELECT l.customer_id, count(*) AS cancelled_lines,
                    {exact_sum('-l.quantity * l.price')} AS cancelled_value
                FROM {lines} AS l
                JOIN first AS f
                  ON l.customer_id = f.customer_id
                 AND CAST(l.invoice_date AS DATE) = f.first_day
                WHERE l.bucket IN ({cancellations})
                GROUP BY l.customer_id
            ),
            orders AS (
                SELECT customer_id,
                    min(invoice_date) AS first_order_at,
                    max(invoice_date) AS last_order_at,
                    {exact_sum('value')} AS order_value,
                    count(*) AS lines,
                    sum(quantity) AS units,
                    count(DISTINCT stock_code) AS products,
                    count(DISTINCT invoice) AS orders,
                    {exact_sum('price')} / count(*) AS mean_price,
                    median(price) AS median_price,
                    max(price) AS max_price,
                    max(quantity) AS max_line_quantity,
                    median(quantity) AS median_line_quantity,
                    avg(CASE WHEN quantity >= 12 THEN 1.0 ELSE 0.0 END)
                        AS dozen_line_share,
                    avg(CASE WHEN quantity >= 24 THEN 1.0 ELSE 0.0 END)
                        AS bulk_line_share,
                    {exact_sum('value')} / {exact_sum('reference_price * quantity')}
                        AS price_ratio,
                    avg(CASE WHEN price < 0.95 * reference_price THEN 1.0
                        ELSE 0.0 END) AS discount_line_share,
                    coalesce({exact_sum('value', 'price < 1')}, 0)
                        / {exact_sum('value')}
                        AS cheap_value_share,
                    count(DISTINCT category) AS categories,
                    {exact_sum('value * buyer_loyalty')} / {exact_sum('value')}
                        AS buyer_loyalty,
                    max(buyer_loyalty) AS max_buyer_loyalty,
                    {_first_line('country')} AS country,
                    {shares}
                FROM day
                GROUP BY customer_id
            )
            SELECT o.customer_id, f.first_day, o.first_order_at,
                o.order_value, o.lines, o.units, o.products,
                o.mean_price, o.orders,
                hour(o.first_order_at) AS hour,
                CASE WHEN o.country = 'United Kingdom' THEN 1 ELSE 0 END
                    AS is_uk,
                month(f.first_day) AS month,
                isodow(f.first_day) AS weekday,
                o.units / o.lines AS units_per_line,
                o.max_line_quantity, o.median_line_quantity,
                o.dozen_line_share, o.bulk_line_share,
                o.median_price, o.max_price,
                o.order_value / o.units AS unit_value,
                o.price_ratio, o.discount_line_share, o.cheap_value_share,
                {share_names},
                o.categories, o.buyer_loyalty, o.max_buyer_loyalty,
                coalesce(o.country, 'Unspecified') AS country,
                CASE WHEN month(f.first_day) IN ({holiday}) THEN 1 ELSE 0 END
                    AS holiday_season,
                day(f.first_day) AS day_of_month,
                date_diff('second', o.first_order_at, o.last_order_at) / 3600.0
                    AS day_span_hours,
                coalesce(c.cancelled_lines, 0) AS cancelled_lines,
                coalesce(c.cancelled_value, 0.0) AS cancelled_value,
                coalesce(c.cancelled_value, 0.0) / o.order_value
                    AS cancelled_share
            FROM orders AS o
            JOIN first AS f USING (customer_id)
            LEFT JOIN cancelled AS c USING (customer_id)
            ORDER BY o.customer_id
            """


def typed_features(frame):
    """Give the count columns of a feature frame their integer type."""
    frame["first_day"] = pd.to_datetime(frame["first_day"])
    counts = ["lines", "units", "products", "orders", "hour", "is_uk", "month",
              "weekday", "categories", "holiday_season", "day_of_month",
              "cancelled_lines", "max_line_quantity"]
    for column in counts:
        frame[column] = frame[column].astype(np.int64)
    return frame
