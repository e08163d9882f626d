"""Stage 5: one row of features per customer, computed in DuckDB."""

import re

from ._exact import exact_sum
from ._summary import observation_end_of, summary_data

#: Money and count features; models take their logarithm.
SKEWED = (
    "orders",
    "spend",
    "mean_order_value",
    "min_order_value",
    "max_order_value",
    "lines_per_order",
    "units_per_order",
    "distinct_products",
    "recency_days",
    "tenure_days",
    "mean_days_between_orders",
)

#: Shares, between 0 and 1; models take them as they are.
SHARES = ("q4_order_share", "return_share")


def share_column(category, label):
    """Name the spend-share column of a product category.

    >>> share_column(3, "bag, lunch, jumbo")
    'share_03_bag_lunch'
    >>> share_column(-1, "Uncategorised")
    'share_uncategorised'
    """
    if int(category) < 0:
        return "share_uncategorised"
    words = re.findall(r"[a-z0-9]+", str(label).lower())[:2]
    return "_".join([f"share_{int(category):02d}", *words])


def customer_features(con, observation_end=None):
    """Create the table ``customers``: features of every customer.

    Uses ``clean_lines`` and ``lines`` (for cancelled value) and, when
    present, ``product_categories`` and ``categories`` for the spend share of
    each product category.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A store after cleaning.
    observation_end : date-like, default=None
        The day the features are computed for; the last purchase day when
        None. Lines after it are left out.

    Returns
    -------
    pandas.DataFrame
        The ``customers`` table, one row per customer.
    """
    end = observation_end_of(con, "clean_lines", observation_end)
    until = [end.date()]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _orders AS
        SELECT customer_id, invoice, min(invoice_date) AS ordered_at,
            {exact_sum("amount")} AS value, count(*) AS lines,
            sum(quantity_net) AS units
        FROM clean_lines
        WHERE invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
        GROUP BY ALL
        """,
        until,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _base AS
        SELECT customer_id,
            date_diff('day', CAST(max(ordered_at) AS DATE), CAST(? AS DATE))
                AS recency_days,
            count(*) AS orders,
            {exact_sum("value")} AS spend,
            {exact_sum("value")} / count(*) AS mean_order_value,
            min(value) AS min_order_value,
            max(value) AS max_order_value,
            avg(lines) AS lines_per_order,
            avg(units) AS units_per_order,
            CAST(min(ordered_at) AS DATE) AS first_purchase,
            CAST(max(ordered_at) AS DATE) AS last_purchase,
            date_diff('day', CAST(min(ordered_at) AS DATE), CAST(? AS DATE))
                AS tenure_days,
            CASE WHEN count(*) > 1 THEN
                date_diff('second', min(ordered_at), max(ordered_at))
                / 86400.0 / (count(*) - 1)
            ELSE 0 END AS mean_days_between_orders,
            avg(CASE WHEN month(ordered_at) >= 10 THEN 1.0 ELSE 0.0 END)
                AS q4_order_share
        FROM _orders
        GROUP BY customer_id
        """,
        until * 2,
    )
    # The country is the one of most of the customer's kept lines, the first
    # in alphabetical order on a tie: the same in every order of the lines,
    # and on Spark.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _extra AS
        WITH countries AS (
            SELECT customer_id, country, count(*) AS n
            FROM lines
            WHERE bucket = 'kept' AND country IS NOT NULL
              AND invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
            GROUP BY customer_id, country
        ),
        ranked AS (
            SELECT customer_id, country,
                row_number() OVER (
                    PARTITION BY customer_id ORDER BY n DESC, country
                ) AS rank
            FROM countries
        )
        SELECT l.customer_id,
            count(DISTINCT l.stock_code) FILTER (WHERE l.bucket = 'kept')
                AS distinct_products,
            coalesce(
                {exact_sum("l.quantity_cancelled * l.price")}
                / {exact_sum("l.quantity * l.price")}, 0
            ) AS return_share,
            any_value(r.country) AS country
        FROM lines AS l
        LEFT JOIN ranked AS r ON r.customer_id = l.customer_id AND r.rank = 1
        WHERE l.bucket IN ('kept', 'purchase_reversed')
          AND l.invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
        GROUP BY l.customer_id
        """,
        until * 2,
    )
    shares = _category_shares(con, until)
    summary = summary_data(con, "clean_lines", end)
    con.register("_summary", summary.reset_index())
    con.execute(
        f"""
        CREATE OR REPLACE TABLE customers AS
        SELECT b.customer_id, e.country, b.recency_days, b.orders, b.spend,
            b.mean_order_value, b.min_order_value, b.max_order_value,
            b.lines_per_order, b.units_per_order, e.distinct_products,
            b.first_purchase, b.last_purchase, b.tenure_days,
            b.mean_days_between_orders, b.q4_order_share, e.return_share
            {shares["select"]},
            s.frequency, s.recency, s.T, s.monetary_value,
            CAST(? AS DATE) AS observation_end
        FROM _base AS b
        JOIN _extra AS e USING (customer_id)
        JOIN _summary AS s USING (customer_id)
        {shares["join"]}
        ORDER BY b.customer_id
        """,
        until,
    )
    con.unregister("_summary")
    for table in ("_orders", "_base", "_extra", "_shares"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return con.execute("SELECT * FROM customers").df()


def _category_shares(con, until):
    """Create ``_shares`` (spend share per category) if categories exist."""
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    if not {"product_categories", "categories"} <= tables:
        return {"select": "", "join": ""}
    categories = con.execute(
        "SELECT category, label FROM categories ORDER BY category"
    ).fetchall()
    columns = [(c, share_column(c, label)) for c, label in categories]
    sums = ",\n".join(
        f"coalesce({exact_sum('l.amount', f'p.category = {c}')}, 0) "
        f"/ {exact_sum('l.amount')} AS {name}"
        for c, name in columns
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _shares AS
        SELECT l.customer_id, {sums}
        FROM clean_lines AS l
        LEFT JOIN product_categories AS p USING (stock_code)
        WHERE l.invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
        GROUP BY l.customer_id
        """,
        until,
    )
    select = "".join(f", sh.{name}" for _, name in columns)
    return {"select": select, "join": "JOIN _shares AS sh USING (customer_id)"}
