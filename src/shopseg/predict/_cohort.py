"""The cohort of new customers, their targets and the time splits.

A customer's first purchase day ``D`` is the first day with a kept line
(see :mod:`shopseg.predict._features`). A customer is *new* and in the
cohort when ``D`` falls

- at least ``burn_in_days`` after the first day of the data: customers
  first seen in the first weeks may be old customers whose earlier orders
  are missing from the export;
- at least ``horizon_days`` before the last day of the data, so that the
  whole target window ``D + 1 .. D + horizon_days`` is observed.

The targets are measured on the kept lines of the target window (the first
day excluded): ``spend`` (net of cancellations, as everywhere in shopseg),
``repeat_orders`` (distinct invoices) and ``repeat`` (any repeat order). The
year's features (``orders``, ``spend``, ... as in
:func:`shopseg.features.customer_features`, over ``D .. D + horizon_days``)
give the behavioural segment after the year.
"""

import dataclasses
import warnings

import pandas as pd

from ..exceptions import DegenerateDataWarning, EmptyResultError, ModelInputError
from ..features import exact_sum, share_column
from ._features import _with_uncategorised, one_thread

#: Shorter horizons tried, in this order, when the data are too short for
#: the one asked for.
SHORTER_HORIZONS = (182, 91)

#: Fewest days of eligible first purchases a cohort needs.
MIN_COHORT_DAYS = 120


@dataclasses.dataclass(frozen=True)
class CohortWindow:
    """The calendar of a cohort: data span, eligible first days, test split.

    Attributes
    ----------
    data_start, data_end : pandas.Timestamp
        First and last day with a kept line.
    burn_in_days : int
        Days at the start of the data whose first purchases are skipped.
    horizon_days : int
        Length of the target window after the first purchase day.
    requested_horizon_days : int
        The horizon asked for; larger than ``horizon_days`` when the data
        were too short for it.
    first_eligible, last_eligible : pandas.Timestamp
        First and last first-purchase day of the cohort.
    test_start : pandas.Timestamp
        First purchases from this day on form the test cohort; earlier ones
        train.
    """

    data_start: pd.Timestamp
    data_end: pd.Timestamp
    burn_in_days: int
    horizon_days: int
    requested_horizon_days: int
    first_eligible: pd.Timestamp
    last_eligible: pd.Timestamp
    test_start: pd.Timestamp

    @property
    def horizon_shortened(self):
        """Whether the data forced a shorter horizon than requested."""
        return self.horizon_days < self.requested_horizon_days

    def as_dict(self):
        """Return the window as plain data (dates as ISO strings)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = (
                value.strftime("%Y-%m-%d") if isinstance(value, pd.Timestamp)
                else value
            )
        out["horizon_shortened"] = self.horizon_shortened
        return out


def cohort_window(
    con, burn_in_days=90, horizon_days=365, test_months=3, shorten_horizon=True
):
    """Work out the cohort's calendar from the kept lines.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A store holding ``clean_lines``.
    burn_in_days : int, default=90
        First purchases within this many days of the data start are skipped.
    horizon_days : int, default=365
        Days after the first purchase day over which the targets are measured.
    test_months : int, default=3
        The test cohort is the first purchases from the first day of the
        month ``test_months`` months before the last eligible day.
    shorten_horizon : bool, default=True
        When the data are too short for ``horizon_days`` (one year of data,
        say), use the longest of :data:`SHORTER_HORIZONS` that fits, with a
        warning, instead of failing.

    Returns
    -------
    CohortWindow
    """
    for name, value in (("burn_in_days", burn_in_days), ("horizon_days",
                        horizon_days), ("test_months", test_months)):
        if int(value) != value or value < (0 if name == "burn_in_days" else 1):
            raise ModelInputError(
                f"{name}={value!r} should be a positive whole number"
            )
    # fetchall: a result left half-read blocks the connection's next register.
    (start, end), = con.execute(
        "SELECT min(invoice_date)::DATE, max(invoice_date)::DATE FROM clean_lines"
    ).fetchall()
    if start is None:
        raise EmptyResultError("clean_lines holds no purchase; nothing to predict")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    first = start + pd.Timedelta(days=burn_in_days)

    candidates = [horizon_days]
    if shorten_horizon:
        candidates += [h for h in SHORTER_HORIZONS if h < horizon_days]
    for horizon in candidates:
        last = end - pd.Timedelta(days=horizon)
        if (last - first).days + 1 >= MIN_COHORT_DAYS:
            break
    else:
        span = (end - start).days + 1
        raise ModelInputError(
            f"the data span {span} days ({start:%Y-%m-%d} to {end:%Y-%m-%d}); "
            f"a burn-in of {burn_in_days} days, a horizon of {horizon} days and "
            f"{MIN_COHORT_DAYS} days of first purchases do not fit. Give more "
            "data or a shorter burn-in or horizon"
        )
    if horizon < horizon_days:
        warnings.warn(
            f"the data ({start:%Y-%m-%d} to {end:%Y-%m-%d}) are too short for a "
            f"{horizon_days}-day horizon; targets are measured over {horizon} "
            "days instead",
            DegenerateDataWarning,
            stacklevel=2,
        )
    months_back = last - pd.DateOffset(months=test_months)
    test_start = months_back.to_period("M").to_timestamp()
    test_start = max(test_start, first + pd.Timedelta(days=1))
    return CohortWindow(
        data_start=start,
        data_end=end,
        burn_in_days=int(burn_in_days),
        horizon_days=int(horizon),
        requested_horizon_days=int(horizon_days),
        first_eligible=first,
        last_eligible=last,
        test_start=test_start,
    )


def product_table(con, until=None, established_before=None):
    """Return what the models know of each product.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A store holding ``product_categories`` and ``clean_lines``.
    until : date-like, default=None
        Only lines before this day enter; all lines when None.
    established_before : date-like, default=None
        Customers first seen before this day are the *established* ones
        whose loyalty ``buyer_loyalty`` measures; the data start plus 90
        days when None. Cohort customers are never among them, so no
        customer's own future enters the features.

    Returns
    -------
    pandas.DataFrame
        ``stock_code``, ``description``, ``category``, ``category_label``,
        ``reference_price`` (median unit price before ``until``) and
        ``buyer_loyalty`` (mean log number of purchase days, before
        ``until``, of the established customers who bought the product;
        NaN for products without such buyers).
    """
    with one_thread(con):
        return _product_table(con, until, established_before)


def _product_table(con, until, established_before):
    until = pd.Timestamp(until or "2262-01-01").to_pydatetime()
    if established_before is None:
        (start,), = con.execute(
            "SELECT min(invoice_date) FROM clean_lines"
        ).fetchall()
        established_before = pd.Timestamp(start).normalize() + pd.Timedelta(days=90)
    established_before = pd.Timestamp(established_before).to_pydatetime()
    return con.execute(
        f"""
        WITH before AS (
            SELECT * FROM clean_lines WHERE invoice_date < $until
        ),
        established AS (
            SELECT customer_id, ln(count(DISTINCT invoice_date::DATE)) AS loyalty
            FROM before
            GROUP BY customer_id
            HAVING min(invoice_date) < $established
        ),
        prices AS (
            SELECT stock_code, median(price) AS reference_price
            FROM before
            GROUP BY stock_code
        ),
        loyalty AS (
            SELECT stock_code, {exact_sum("e.loyalty")} / count(*) AS buyer_loyalty
            FROM (SELECT DISTINCT stock_code, customer_id FROM before)
            JOIN established AS e USING (customer_id)
            GROUP BY stock_code
        )
        SELECT p.stock_code, p.description, p.category, p.category_label,
            r.reference_price, l.buyer_loyalty
        FROM product_categories AS p
        LEFT JOIN prices AS r USING (stock_code)
        LEFT JOIN loyalty AS l USING (stock_code)
        ORDER BY p.stock_code
        """,
        {"until": until, "established": established_before},
    ).df()


def cohort_targets(con, window, categories):
    """Return the targets and the year's features of every cohort customer.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A store holding ``clean_lines``, ``lines`` and ``product_categories``.
    window : CohortWindow
        The calendar of the cohort.
    categories : pandas.DataFrame
        ``category`` and ``label`` of the product categories.

    Returns
    -------
    pandas.DataFrame
        One row per customer whose first purchase day is eligible, sorted
        by ``customer_id``: ``first_day``, ``target_spend``,
        ``target_repeat_orders``, ``target_repeat`` and the year's features
        (``orders``, ``spend``, ``recency_days``, ... and category shares).
    """
    with one_thread(con):
        return _cohort_targets(con, window, categories)


def _cohort_targets(con, window, categories):
    shares = ",\n".join(
        f"coalesce({exact_sum('l.amount', f'p.category = {c}')}, 0) "
        f"/ {exact_sum('l.amount')} AS {share_column(c, label)}"
        for c, label in _with_uncategorised(categories)
    )
    horizon = window.horizon_days
    params = {
        "first": window.first_eligible.date(),
        "last": window.last_eligible.date(),
        "after": horizon + 1,
    }
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _cohort AS
        SELECT customer_id, first_day,
            first_day + CAST($after AS INTEGER) AS window_end
        FROM (
            SELECT customer_id, min(invoice_date)::DATE AS first_day
            FROM clean_lines
            GROUP BY customer_id
        )
        WHERE first_day BETWEEN $first AND $last
        """,
        params,
    )
    frame = con.execute(
        f"""
        WITH year_lines AS (
            SELECT l.*, c.first_day, c.window_end
            FROM clean_lines AS l
            JOIN _cohort AS c USING (customer_id)
            WHERE l.invoice_date < c.window_end
        ),
        orders AS (
            SELECT customer_id, invoice, first_day,
                min(invoice_date) AS ordered_at, {exact_sum("amount")} AS value,
                count(*) AS lines, sum(quantity_net) AS units
            FROM year_lines
            GROUP BY ALL
        ),
        per_order AS (
            SELECT customer_id,
                coalesce({exact_sum("value", "ordered_at::DATE > first_day")},
                         0.0) AS target_spend,
                count(*) FILTER (WHERE ordered_at::DATE > first_day)
                    AS target_repeat_orders,
                count(*) AS orders,
                {exact_sum("value")} AS spend,
                {exact_sum("value")} / count(*) AS mean_order_value,
                min(value) AS min_order_value,
                max(value) AS max_order_value,
                avg(lines) AS lines_per_order,
                avg(units) AS units_per_order,
                $horizon - date_diff('day', min(first_day), max(ordered_at)::DATE)
                    AS recency_days,
                CAST($horizon AS INTEGER) AS tenure_days,
                CASE WHEN count(*) > 1 THEN
                    date_diff('second', min(ordered_at), max(ordered_at))
                    / 86400.0 / (count(*) - 1)
                ELSE 0 END AS mean_days_between_orders,
                avg(CASE WHEN month(ordered_at) >= 10 THEN 1.0 ELSE 0.0 END)
                    AS q4_order_share
            FROM orders
            GROUP BY customer_id
        ),
        per_line AS (
            SELECT l.customer_id,
                count(DISTINCT l.stock_code) AS distinct_products,
                coalesce({exact_sum("l.quantity_cancelled * l.price")}
                         / {exact_sum("l.quantity * l.price")}, 0) AS return_share,
                {shares}
            FROM year_lines AS l
            LEFT JOIN product_categories AS p USING (stock_code)
            GROUP BY l.customer_id
        )
        SELECT c.customer_id, c.first_day, o.target_spend,
            o.target_repeat_orders,
            CAST(o.target_repeat_orders > 0 AS INTEGER) AS target_repeat,
            o.* EXCLUDE (customer_id, target_spend, target_repeat_orders),
            pl.* EXCLUDE (customer_id)
        FROM _cohort AS c
        JOIN per_order AS o USING (customer_id)
        JOIN per_line AS pl USING (customer_id)
        ORDER BY c.customer_id
        """,
        {"horizon": horizon},
    ).df()
    con.execute("DROP TABLE _cohort")
    frame["first_day"] = pd.to_datetime(frame["first_day"])
    return frame


def time_split(first_days, test_start, test_end=None, train_start=None):
    """Split customers by first purchase day: before ``test_start`` trains.

    Parameters
    ----------
    first_days : pandas.Series
        First purchase day of each customer (one entry per customer).
    test_start : date-like
        First day of the test cohort.
    test_end : date-like, default=None
        Last day of the test cohort; no limit when None.
    train_start : date-like, default=None
        First day of the training cohort; no limit when None.

    Returns
    -------
    train, test : numpy.ndarray of bool
        Masks over ``first_days``; no customer is in both.

    Examples
    --------
    >>> days = pd.Series(pd.to_datetime(["2010-03-02", "2010-09-01"]))
    >>> train, test = time_split(days, "2010-09-01")
    >>> train.tolist(), test.tolist()
    ([True, False], [False, True])
    """
    days = pd.to_datetime(first_days)
    test_start = pd.Timestamp(test_start)
    test = (days >= test_start).to_numpy().copy()
    if test_end is not None:
        test &= (days <= pd.Timestamp(test_end)).to_numpy()
    train = (days < test_start).to_numpy().copy()
    if train_start is not None:
        train &= (days >= pd.Timestamp(train_start)).to_numpy()
    assert not (train & test).any(), "a customer is on both sides of the split"
    return train, test
