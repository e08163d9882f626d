"""The BG/NBD summary of each customer's purchases: one function, used by all.

In the literature of repeat-purchase models (Fader, Hardie and Lee 2005) a
customer is described by four numbers, counted in purchase days:

``frequency``
    distinct purchase days minus one (the number of repeat purchases);
``recency``
    last purchase day minus first purchase day (not the RFM recency, which
    counts back from the end: see ``recency_days``);
``T``
    observation end minus first purchase day;
``monetary_value``
    mean spend of the repeat purchase days, 0 when there are none.

Several orders on one day make one purchase day.
"""

import warnings
from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd

from ..exceptions import ModelInputError, ObservationEndWarning
from ._exact import exact_sum

#: Length of each supported time unit in days. A month is the fixed-length
#: mean Gregorian month (365.25 / 12 = 30.4375 days), so that conversions do
#: not depend on which calendar month a customer happened to join in.
TIME_UNITS: Mapping[str, float] = MappingProxyType(
    {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0}
)

def days_per_unit(unit: str) -> float:
    """Return the length of a time unit in days.

    Parameters
    ----------
    unit : str
        One of ``"days"``, ``"weeks"`` or ``"months"``. A month is the
        fixed-length mean Gregorian month of 30.4375 days.

    Returns
    -------
    float
        Number of days in one `unit`.

    Raises
    ------
    ModelInputError
        If `unit` is not a supported unit; the message lists the supported ones.

    Examples
    --------
    >>> days_per_unit("weeks")
    7.0
    >>> days_per_unit("months")
    30.4375
    """
    try:
        return TIME_UNITS[unit]
    except (KeyError, TypeError):
        supported = ", ".join(repr(name) for name in TIME_UNITS)
        raise ModelInputError(
            f"time unit {unit!r} is not supported; use one of {supported} "
            "(a month is a fixed 30.4375 days)"
        ) from None


def _relation(con, lines):
    """Register a DataFrame of lines, or accept a table name; return its name."""
    if isinstance(lines, str):
        return lines
    con.register("_summary_lines", lines)
    return "_summary_lines"


def observation_end_of(con, lines="clean_lines", observation_end=None):
    """Resolve the observation end: the given one, or the last purchase day.

    An end before the last purchase warns with the number of lines after it;
    those lines are then left out of every feature.
    """
    table = _relation(con, lines)
    (first, last), = con.execute(
        f"SELECT min(invoice_date), max(invoice_date) FROM {table}"
    ).fetchall()
    if last is None:
        raise ModelInputError("there are no purchase lines to summarise")
    if observation_end is None:
        return pd.Timestamp(last).normalize()
    end = pd.Timestamp(observation_end).normalize()
    if end < pd.Timestamp(first).normalize():
        raise ModelInputError(
            f"the observation end {end:%Y-%m-%d} is before the first purchase "
            f"({pd.Timestamp(first):%Y-%m-%d}); choose a day from then to the "
            f"last purchase ({pd.Timestamp(last):%Y-%m-%d})"
        )
    (after,), = con.execute(
        f"SELECT count(*) FROM {table} WHERE invoice_date >= ? + INTERVAL 1 DAY",
        [end.to_pydatetime()],
    ).fetchall()
    if after:
        warnings.warn(
            f"observation end {end:%Y-%m-%d} is before the last purchase "
            f"({pd.Timestamp(last):%Y-%m-%d}); {after:,} lines after it are left "
            "out",
            ObservationEndWarning,
            stacklevel=2,
        )
    return end


def summary_data(con, lines="clean_lines", observation_end=None, time_unit="days"):
    """Return the BG/NBD summary of each customer, computed in DuckDB.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The connection that holds or receives the lines.
    lines : str or pandas.DataFrame, default="clean_lines"
        A table name, or a frame with ``customer_id``, ``invoice_date`` and
        ``amount`` (spend of the line).
    observation_end : date-like, default=None
        End of the observation period; the last purchase day when None.
    time_unit : {"days", "weeks", "months"}, default="days"
        Unit of ``recency`` and ``T``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``frequency``, ``recency``, ``T``,
        ``monetary_value``.

    Examples
    --------
    >>> import duckdb
    >>> lines = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a"],
    ...     "invoice_date": pd.to_datetime(
    ...         ["2011-01-06 09:00", "2011-01-06 15:00", "2011-02-10 11:00"]),
    ...     "amount": [10.0, 5.0, 20.0],
    ... })
    >>> summary_data(duckdb.connect(), lines, "2011-03-01")
                 frequency  recency     T  monetary_value
    customer_id
    a                    1     35.0  54.0            20.0
    """
    unit = days_per_unit(time_unit)
    end = observation_end_of(con, lines, observation_end)
    table = _relation(con, lines)
    frame = con.execute(
        f"""
        WITH days AS (
            SELECT customer_id, CAST(invoice_date AS DATE) AS day,
                {exact_sum("amount")} AS spend
            FROM {table}
            WHERE invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
            GROUP BY ALL
        ),
        ranked AS (
            SELECT *, min(day) OVER (PARTITION BY customer_id) AS first_day
            FROM days
        )
        SELECT customer_id,
            CAST(count(*) - 1 AS INTEGER) AS frequency,
            date_diff('day', min(day), max(day)) / ? AS recency,
            date_diff('day', min(day), CAST(? AS DATE)) / ? AS T,
            CASE WHEN count(*) > 1
                THEN {exact_sum("spend", "day > first_day")} / (count(*) - 1)
                ELSE 0.0 END AS monetary_value
        FROM ranked
        GROUP BY customer_id
        ORDER BY customer_id
        """,
        [end.date(), unit, end.date(), unit],
    ).df()
    return frame.set_index("customer_id")
