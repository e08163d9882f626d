"""Checks on customer summaries before a CLV model sees them, and time units.

The models in :mod:`shopseg.clv` rely on invariants of the RFM summary (for
example that the last purchase lies inside the observation window). Broken
invariants do not crash the likelihood; they silently bias it, so they are
refused up front with a message naming the customer and the fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopseg.exceptions import ModelInputError
from shopseg.features._summary import TIME_UNITS, days_per_unit

__all__ = ["TIME_UNITS", "check_summary", "days_per_unit"]

_FIX_SUMMARY = "recompute the summary with one observation end"


def _fail(
    summary: pd.DataFrame,
    bad: np.ndarray,
    column: str,
    rule: str,
    detail: str,
    fix: str,
) -> None:
    """Raise a ModelInputError for the customers flagged in `bad`, if any.

    `detail` is a format string receiving the first offending row as ``row``;
    it is only formatted when a customer breaks the rule, so the happy path
    costs one ``any()`` per rule.
    """
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    row = summary.iloc[first]
    count = int(bad.sum())
    noun = "customer breaks" if count == 1 else "customers break"
    raise ModelInputError(
        f"column {column!r} must {rule}, but customer '{summary.index[first]}' "
        f"{detail.format(row=row)} ({count} {noun} this rule); {fix}"
    )


def check_summary(
    summary: pd.DataFrame,
    require_monetary: bool = False,
    require_timing: bool = True,
) -> None:
    """Check that a per-customer summary satisfies the CLV models' invariants.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer (index = customer id) with columns
        ``frequency`` (number of repeat purchases), ``recency`` (age of the
        customer at the last purchase), ``T`` (age of the customer at the
        observation end) and, optionally, ``monetary_value`` (mean value of
        the repeat purchases). Times share one unit.
    require_monetary : bool, default False
        Also require a ``monetary_value`` column with values >= 0.
    require_timing : bool, default True
        Require the ``recency`` and ``T`` columns. When False (spend models
        need only frequency and value) they are still checked if both are
        present.

    Raises
    ------
    ModelInputError
        If a rule is broken. The message names the column, the rule, the
        first offending customer, how many customers break the rule, and a fix.

    Notes
    -----
    Rules, checked in this order: the summary is a non-empty DataFrame with
    unique customer ids; the required columns are present, numeric, finite
    (no NaN); ``frequency`` is integer-valued and >= 0; ``T`` > 0;
    0 <= ``recency`` <= ``T``; ``frequency`` == 0 implies ``recency`` == 0;
    ``monetary_value`` >= 0.

    Examples
    --------
    >>> import pandas as pd
    >>> ok = pd.DataFrame({"frequency": [0, 2], "recency": [0.0, 3.5],
    ...                    "T": [5.0, 6.0]}, index=["a", "b"])
    >>> check_summary(ok)
    >>> bad = ok.assign(recency=[0.0, 7.0])
    >>> check_summary(bad)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shopseg.exceptions.ModelInputError: column 'recency' must be <= T, ...
    """
    if not isinstance(summary, pd.DataFrame):
        raise ModelInputError(
            f"the customer summary must be a pandas DataFrame, not "
            f"{type(summary).__name__}; build one row per customer"
        )
    if len(summary) == 0:
        raise ModelInputError(
            "the customer summary has no customers; a model needs at least one"
        )
    if not summary.index.is_unique:
        dup = summary.index[summary.index.duplicated()]
        raise ModelInputError(
            f"the summary index must hold unique customer ids, but customer "
            f"'{dup[0]}' appears more than once ({len(dup.unique())} ids repeat); "
            "aggregate to one row per customer"
        )

    required = ["frequency"]
    has_timing = "recency" in summary.columns and "T" in summary.columns
    timing = ["recency", "T"] if require_timing or has_timing else []
    required += timing
    if require_monetary:
        required.append("monetary_value")
    missing = [c for c in required if c not in summary.columns]
    if missing:
        raise ModelInputError(
            f"the customer summary lacks column(s) {missing}; it has "
            f"{list(summary.columns)} and needs {required}"
        )

    values: dict[str, np.ndarray] = {}
    for column in required:
        series = summary[column]
        if not (
            pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_bool_dtype(series)
        ):
            raise ModelInputError(
                f"column {column!r} must be numeric, but it has dtype "
                f"{series.dtype}; convert it with pandas.to_numeric"
            )
        arr = series.to_numpy(dtype=float, na_value=np.nan)
        _fail(
            summary,
            ~np.isfinite(arr),
            column,
            "be finite (no NaN or infinity)",
            f"has {column} {{row[{column}]}}",
            "drop or fill the missing values",
        )
        values[column] = arr

    freq = values["frequency"]
    _fail(
        summary,
        freq < 0,
        "frequency",
        "be >= 0",
        "has frequency {row[frequency]}",
        "frequency counts repeat purchases and cannot be negative",
    )
    _fail(
        summary,
        freq != np.round(freq),
        "frequency",
        "be integer-valued",
        "has frequency {row[frequency]}",
        "frequency counts repeat purchases; do not average or rescale it",
    )

    if timing:
        rec, age = values["recency"], values["T"]
        _fail(summary, age <= 0, "T", "be > 0", "has T {row[T]}", _FIX_SUMMARY)
        _fail(
            summary,
            rec < 0,
            "recency",
            "be >= 0",
            "has recency {row[recency]}",
            _FIX_SUMMARY,
        )
        _fail(
            summary,
            rec > age,
            "recency",
            "be <= T",
            "has recency {row[recency]} > T {row[T]}",
            _FIX_SUMMARY,
        )
        _fail(
            summary,
            (freq == 0) & (rec != 0),
            "recency",
            "be 0 when frequency is 0",
            "has frequency 0 and recency {row[recency]}",
            "recency is the age at the last repeat purchase, 0 without one",
        )

    if require_monetary:
        _fail(
            summary,
            values["monetary_value"] < 0,
            "monetary_value",
            "be >= 0",
            "has monetary_value {row[monetary_value]}",
            "remove refunds or net them against purchases first",
        )
