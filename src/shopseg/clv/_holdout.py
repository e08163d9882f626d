"""Calibration and holdout: how well the CLV models forecast unseen months.

The purchase lines are cut at a cut-off day. Every model learns from the
calibration period, which ends with the cut-off day, and forecasts the
holdout period ``(cutoff, cutoff + holdout_days]`` for the customers already
known at the cut-off. A holdout purchase is a purchase day, as in
:func:`shopseg.features.summary_data`: several orders on one day count once.

Three forecasters are compared on the same customers:

``bgnbd``
    BG/NBD purchases times Gamma-Gamma spend per purchase (Fader, Hardie and
    Lee 2005).
``naive``
    The customer's historical repeat rate, ``frequency / T``, times the
    holdout length; spend is that times the mean spend of a purchase day.
``gradient_boosting``
    Histogram gradient boosting with a Poisson loss on a few customer
    features. It is trained one holdout length earlier, on features at
    ``cutoff - holdout_days`` with targets in ``(cutoff - holdout_days,
    cutoff]``, and then applied to the features at the cut-off: it never sees
    a line of the holdout.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from shopseg.clv._bgnbd import BGNBD
from shopseg.clv._gamma_gamma import GammaGamma, customer_lifetime_value
from shopseg.clv._validation import check_summary, days_per_unit
from shopseg.exceptions import (
    ConvergenceWarning,
    ModelInputError,
    ObservationEndWarning,
)
from shopseg.features import exact_sum, observation_end_of, summary_data

__all__ = [
    "FREQUENCY_GROUPS",
    "HOLDOUT_MODELS",
    "calibration_holdout",
    "customer_state",
    "evaluate_holdout",
    "fit_clv_models",
    "holdout_metrics",
    "holdout_window",
    "predict_customers",
    "window_purchases",
]

#: Forecasters compared on the holdout, in the order of the tables.
HOLDOUT_MODELS = ("bgnbd", "naive", "gradient_boosting")

#: Calibration-frequency groups of the by-frequency check; the last is open.
FREQUENCY_GROUPS = ("0", "1", "2", "3", "4", "5", "6", "7+")

#: Features of the gradient-boosting forecaster, all known at its cut-off.
GB_FEATURES = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "recency_days",
    "orders",
    "spend",
    "mean_day_spend",
    "recent_purchases",
    "recent_spend",
)

#: Penalty of the second fit when the first does not converge; the models'
#: own advice on non-convergence.
FALLBACK_PENALIZER = 0.001


# ------------------------------------------------------------ the windows
def _day(value: object, name: str) -> pd.Timestamp:
    """Read a date-like option as a day, naming the option when it fails."""
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ModelInputError(
            f"{name} must be a date such as '2011-09-10', not {value!r}"
        ) from None
    if pd.isna(day):
        raise ModelInputError(f"{name} must be a date such as '2011-09-10'")
    return day.normalize()


def _check_days(holdout_days: object) -> int:
    if (
        isinstance(holdout_days, bool)
        or not isinstance(holdout_days, (int, np.integer))
        or holdout_days < 1
    ):
        raise ModelInputError(
            f"holdout_days must be a whole number of days >= 1, not {holdout_days!r}"
        )
    return int(holdout_days)


def holdout_window(
    con,
    lines: str = "clean_lines",
    *,
    cutoff: object = None,
    holdout_days: int = 90,
    observation_end: object = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Resolve the cut-off day and the last day of the holdout.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the lines.
    lines : str, default="clean_lines"
        Table with ``customer_id``, ``invoice``, ``invoice_date``, ``amount``.
    cutoff : date-like, default=None
        Last day of the calibration period; ``observation_end -
        holdout_days`` when None.
    holdout_days : int, default=90
        Length of the holdout in days.
    observation_end : date-like, default=None
        Last day of data used; the last purchase day when None.

    Returns
    -------
    cutoff, holdout_end : pandas.Timestamp
        The holdout is the days after `cutoff` up to and including
        `holdout_end`.

    Raises
    ------
    ModelInputError
        If the holdout would end after the observation end, or the cut-off
        lies before the first purchase.
    """
    holdout_days = _check_days(holdout_days)
    end = observation_end_of(con, lines, observation_end)
    span = pd.Timedelta(days=holdout_days)
    cutoff = end - span if cutoff is None else _day(cutoff, "cutoff")
    holdout_end = cutoff + span
    if holdout_end > end:
        raise ModelInputError(
            f"cutoff {cutoff:%Y-%m-%d} plus holdout_days={holdout_days} ends on "
            f"{holdout_end:%Y-%m-%d}, after the last day of data "
            f"{end:%Y-%m-%d}; choose a cutoff on or before "
            f"{end - span:%Y-%m-%d} or a shorter holdout"
        )
    ((first,),) = con.execute(f"SELECT min(invoice_date) FROM {lines}").fetchall()
    first = pd.Timestamp(first).normalize()
    if cutoff < first:
        raise ModelInputError(
            f"cutoff {cutoff:%Y-%m-%d} is before the first purchase "
            f"{first:%Y-%m-%d}, so no customer is known at the cut-off; choose "
            "a later cutoff or a shorter holdout"
        )
    return cutoff, holdout_end


def window_purchases(
    con, lines: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Purchase days and spend of each customer in the days ``(start, end]``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the lines.
    lines : str
        Table with ``customer_id``, ``invoice_date``, ``amount``.
    start, end : pandas.Timestamp
        The window excludes the day `start` and includes the day `end`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``purchases`` (distinct purchase days)
        and ``spend``; customers without a purchase in the window are absent.
    """
    frame = con.execute(
        f"""
        SELECT customer_id,
            count(DISTINCT CAST(invoice_date AS DATE)) AS purchases,
            {exact_sum("amount")} AS spend
        FROM {lines}
        WHERE invoice_date >= CAST(? AS DATE) + INTERVAL 1 DAY
          AND invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
        GROUP BY customer_id
        ORDER BY customer_id
        """,
        [start.date(), end.date()],
    ).df()
    return frame.set_index("customer_id").astype(float)


def customer_state(
    con,
    lines: str = "clean_lines",
    observation_end: object = None,
    time_unit: str = "weeks",
    window_days: int = 90,
) -> pd.DataFrame:
    """Summary and a few plain features of each customer on one day.

    Only lines up to and including `observation_end` are read, so the frame
    can serve as model input at any past cut-off.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the lines.
    lines : str, default="clean_lines"
        Table with ``customer_id``, ``invoice``, ``invoice_date``, ``amount``.
    observation_end : date-like, default=None
        The day described; the last purchase day when None.
    time_unit : {"days", "weeks", "months"}, default="weeks"
        Unit of ``recency`` and ``T``.
    window_days : int, default=90
        Length of the recent window of ``recent_purchases`` and
        ``recent_spend``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: the columns of
        :func:`shopseg.features.summary_data` (``frequency``, ``recency``,
        ``T``, ``monetary_value``) and ``recency_days`` (days since the last
        purchase), ``orders`` (invoices), ``spend``, ``mean_day_spend``
        (spend per purchase day), ``recent_purchases`` and ``recent_spend``
        (purchase days and spend in the last `window_days` days).
    """
    with warnings.catch_warnings():
        # A past cut-off leaves later lines out on purpose.
        warnings.simplefilter("ignore", ObservationEndWarning)
        end = observation_end_of(con, lines, observation_end)
        summary = summary_data(con, lines, end, time_unit)
    recent_start = end - pd.Timedelta(days=_check_days(window_days))
    extra = con.execute(
        f"""
        WITH days AS (
            SELECT customer_id, CAST(invoice_date AS DATE) AS day,
                {exact_sum("amount")} AS spend,
                count(DISTINCT invoice) AS orders
            FROM {lines}
            WHERE invoice_date < CAST(? AS DATE) + INTERVAL 1 DAY
            GROUP BY ALL
        )
        SELECT customer_id,
            date_diff('day', max(day), CAST(? AS DATE)) AS recency_days,
            sum(orders) AS orders,
            {exact_sum("spend")} AS spend,
            {exact_sum("spend")} / count(*) AS mean_day_spend,
            count(*) FILTER (WHERE day > ?) AS recent_purchases,
            coalesce({exact_sum("spend", "day > ?")}, 0.0) AS recent_spend
        FROM days
        GROUP BY customer_id
        """,
        [end.date(), end.date(), recent_start.date(), recent_start.date()],
    ).df()
    extra = extra.set_index("customer_id").astype(float)
    return summary.join(extra, how="left")


def calibration_holdout(
    con,
    lines: str = "clean_lines",
    *,
    cutoff: object = None,
    holdout_days: int = 90,
    time_unit: str = "weeks",
    observation_end: object = None,
) -> pd.DataFrame:
    """Customers known at the cut-off, with what they did in the holdout.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the lines.
    lines : str, default="clean_lines"
        Table with ``customer_id``, ``invoice``, ``invoice_date``, ``amount``.
    cutoff : date-like, default=None
        Last day of the calibration period; see :func:`holdout_window`.
    holdout_days : int, default=90
        Length of the holdout in days.
    time_unit : {"days", "weeks", "months"}, default="weeks"
        Unit of ``recency`` and ``T``.
    observation_end : date-like, default=None
        Last day of data used; the last purchase day when None.

    Returns
    -------
    pandas.DataFrame
        :func:`customer_state` at the cut-off (calibration lines only) plus
        ``holdout_purchases`` (purchase days in the holdout) and
        ``holdout_spend``, 0 for customers who did not buy. Customers whose
        first purchase falls in the holdout are not included.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute(
    ...     "CREATE TABLE clean_lines AS SELECT * FROM (VALUES "
    ...     "('a', '1', TIMESTAMP '2011-01-03 10:00', 10.0), "
    ...     "('a', '2', TIMESTAMP '2011-02-07 10:00', 20.0), "
    ...     "('a', '3', TIMESTAMP '2011-03-01 10:00', 30.0), "
    ...     "('b', '4', TIMESTAMP '2011-02-20 10:00', 5.0)) "
    ...     "AS t(customer_id, invoice, invoice_date, amount)")
    >>> split = calibration_holdout(con, cutoff="2011-02-10", holdout_days=19,
    ...                             time_unit="days")
    >>> split[["frequency", "T", "holdout_purchases", "holdout_spend"]]
                 frequency     T  holdout_purchases  holdout_spend
    customer_id
    a                    1  38.0                1.0           30.0
    """
    cutoff, holdout_end = holdout_window(
        con,
        lines,
        cutoff=cutoff,
        holdout_days=holdout_days,
        observation_end=observation_end,
    )
    state = customer_state(con, lines, cutoff, time_unit, holdout_days)
    actual = window_purchases(con, lines, cutoff, holdout_end)
    actual = actual.reindex(state.index, fill_value=0.0)
    return state.assign(
        holdout_purchases=actual["purchases"], holdout_spend=actual["spend"]
    )


# ------------------------------------------------------------- the models
def _fit_one(model_class, summary: pd.DataFrame) -> tuple[object, dict]:
    """Fit a model; when it fails to converge, refit once with a penalty.

    Returns the model kept and a plain report of the fit for metrics.json.
    """
    with warnings.catch_warnings():
        # A first failure is reported in the status, not as a warning: the
        # penalised refit below is the advice the warning would give.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = model_class().fit(summary)
    first_status = model.status_
    if not model.converged_:
        model = model_class(penalizer=FALLBACK_PENALIZER).fit(summary)
    status = model.status_
    if model.penalizer:
        status = (
            f"{status} with penalizer {FALLBACK_PENALIZER:g}; without it: "
            f"{first_status}"
        )
    report = {
        "params": {name: float(value) for name, value in model.params_.items()},
        "converged": bool(model.converged_),
        "status": status,
        "penalizer": float(model.penalizer),
        "log_likelihood": float(model.log_likelihood_),
        "customers": int(model.n_customers_),
    }
    return model, report


def fit_clv_models(summary: pd.DataFrame) -> tuple[BGNBD, GammaGamma, dict]:
    """Check a summary, then fit BG/NBD and Gamma-Gamma on it.

    Customers first seen on the observation end (``T`` = 0) carry no
    information about their rates and are left out of the fits; Gamma-Gamma
    uses only customers with repeat purchases and positive spend. A fit that
    does not converge is redone once with ``penalizer=0.001``; the status
    says so.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``frequency``, ``recency``, ``T`` and ``monetary_value`` per customer.

    Returns
    -------
    bgnbd : BGNBD
        The purchase-count model.
    gamma_gamma : GammaGamma
        The spend model.
    report : dict
        ``{"bgnbd": {...}, "gamma_gamma": {...}}``: parameters, convergence,
        status with advice, and the customers used and excluded.

    Raises
    ------
    ModelInputError
        If the summary breaks an invariant (see
        :func:`shopseg.clv.check_summary`) or no customer has ``T`` > 0.
    """
    aged = _aged(summary)
    if not aged.any():
        raise ModelInputError(
            "every customer made their first purchase on the observation end "
            "(T = 0); the models need customers observed for some time: give "
            "data over a longer span, or choose a later observation end"
        )
    fitted = summary[aged]
    check_summary(fitted, require_monetary=True)
    counts, counts_report = _fit_one(BGNBD, fitted)
    spend, spend_report = _fit_one(GammaGamma, fitted)
    counts_report["excluded_new"] = int((~aged).sum())
    spend_report["excluded"] = int(len(summary) - spend.n_customers_)
    return counts, spend, {"bgnbd": counts_report, "gamma_gamma": spend_report}


def _aged(summary: pd.DataFrame) -> np.ndarray:
    """False for customers first seen on the observation end, True otherwise.

    Those have ``T`` = ``recency`` = ``frequency`` = 0. Every other row,
    valid or not, is left to check_summary, which names what is wrong.
    """
    missing = [c for c in ("frequency", "recency", "T") if c not in summary]
    if missing:
        raise ModelInputError(
            f"the customer summary lacks column(s) {missing}; it has "
            f"{list(summary.columns)}; build it with shopseg.features.summary_data"
        )
    new = np.ones(len(summary), dtype=bool)
    for column in ("frequency", "recency", "T"):
        values = pd.to_numeric(summary[column], errors="coerce")
        new &= values.to_numpy(dtype=float, na_value=np.nan) == 0
    return ~new


def _expected_purchases(counts: BGNBD, summary: pd.DataFrame, t: float) -> np.ndarray:
    """Eq. 10 for customers with T > 0, eq. 9 (a new customer) for the rest."""
    aged = _aged(summary)
    values = np.full(len(summary), counts.expected_purchases_new(t))
    if aged.any():
        values[aged] = counts.expected_purchases(t, summary[aged]).to_numpy()
    return values


def predict_customers(
    bgnbd: BGNBD,
    gamma_gamma: GammaGamma,
    summary: pd.DataFrame,
    *,
    time_unit: str,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
) -> pd.DataFrame:
    """Forecasts of each customer's purchases, survival, spend and value.

    Parameters
    ----------
    bgnbd : BGNBD
        Fitted purchase-count model.
    gamma_gamma : GammaGamma
        Fitted spend model.
    summary : pandas.DataFrame
        ``frequency``, ``recency``, ``T``, ``monetary_value`` per customer,
        in `time_unit`. Customers with ``T`` = 0 (first purchase on the
        observation end) get the forecasts of a new customer: alive, the
        unconditional purchases of eq. 9 and the population mean spend.
    time_unit : {"days", "weeks", "months"}
        Unit of ``recency`` and ``T``; a month is a fixed 30.4375 days.
    horizon_months : int, default=12
        Horizon of ``expected_purchases`` and of the value.
    discount_rate : float, default=0.01
        Discount rate per month.

    Returns
    -------
    pandas.DataFrame
        Indexed like `summary`: ``expected_purchases`` (purchase days in the
        next `horizon_months` months), ``probability_alive``,
        ``expected_spend`` (per purchase day) and ``clv_<horizon_months>m``
        (discounted value over the horizon). Every value is finite.
    """
    if (
        isinstance(horizon_months, bool)
        or not isinstance(horizon_months, (int, np.integer))
        or horizon_months < 1
    ):
        raise ModelInputError(
            f"horizon_months must be a whole number of months >= 1, not "
            f"{horizon_months!r}"
        )
    if not (np.isfinite(float(discount_rate)) and float(discount_rate) > -1.0):
        raise ModelInputError(
            f"discount_rate must be a finite rate per month > -1, not "
            f"{discount_rate!r} (0.01 means 1 % a month)"
        )
    aged = _aged(summary)
    step = days_per_unit("months") / days_per_unit(time_unit)
    months = np.arange(int(horizon_months) + 1)
    spend = gamma_gamma.expected_spend(summary[["frequency", "monetary_value"]])
    spend = spend.to_numpy()

    alive = np.ones(len(summary))
    clv = np.empty(len(summary))
    purchases = _expected_purchases(bgnbd, summary, horizon_months * step)
    if aged.any():
        old = summary[aged]
        alive[aged] = bgnbd.probability_alive(old).to_numpy()
        clv[aged] = customer_lifetime_value(
            bgnbd,
            gamma_gamma,
            old,
            time_unit=time_unit,
            horizon_months=horizon_months,
            discount_rate=discount_rate,
        ).to_numpy()
    if not aged.all():
        # Same discounted monthly sum as customer_lifetime_value, on eq. 9.
        curve = np.array([bgnbd.expected_purchases_new(k * step) for k in months])
        discount = (1.0 + float(discount_rate)) ** -months[1:]
        clv[~aged] = float(discount @ np.diff(curve)) * spend[~aged]

    frame = pd.DataFrame(
        {
            "expected_purchases": purchases,
            "probability_alive": alive,
            "expected_spend": spend,
            f"clv_{int(horizon_months)}m": clv,
        },
        index=summary.index,
    )
    if not np.isfinite(frame.to_numpy()).all():
        raise ModelInputError(
            "some forecasts are not finite; refit the models with a penalizer "
            "or express times in a coarser unit"
        )
    return frame


# ------------------------------------------------------------ the holdout
def holdout_metrics(actual: object, predicted: object) -> dict[str, float]:
    """Errors of per-customer forecasts against what customers did.

    Parameters
    ----------
    actual, predicted : array-like
        One value per customer, in the same order.

    Returns
    -------
    dict
        ``mae`` (mean absolute error), ``rmse`` (root mean squared error)
        and ``total_rel_error``, (sum predicted - sum actual) / sum actual:
        the error on the total, NaN when the actual total is 0.

    Examples
    --------
    >>> scores = holdout_metrics([0, 2, 4], [1, 2, 1])
    >>> {name: round(value, 4) for name, value in scores.items()}
    {'mae': 1.3333, 'rmse': 1.8257, 'total_rel_error': -0.3333}
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if actual.shape != predicted.shape or actual.ndim != 1 or actual.size == 0:
        raise ModelInputError(
            f"actual and predicted must be two non-empty vectors of one length, "
            f"not shapes {actual.shape} and {predicted.shape}"
        )
    error = predicted - actual
    total = actual.sum()
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "total_rel_error": float(error.sum() / total) if total else float("nan"),
    }


def _naive(state: pd.DataFrame, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Historical repeat rate times the holdout length; spend at the mean."""
    age = state["T"].to_numpy(dtype=float)
    rate = np.divide(
        state["frequency"].to_numpy(dtype=float),
        age,
        out=np.zeros(len(state)),
        where=age > 0,
    )
    purchases = rate * length
    return purchases, purchases * state["mean_day_spend"].to_numpy(dtype=float)


def _training_end(
    con, lines: str, cutoff: pd.Timestamp, holdout_days: int
) -> pd.Timestamp:
    """Day of the gradient-boosting training features, one holdout earlier."""
    train_end = cutoff - pd.Timedelta(days=holdout_days)
    ((first,),) = con.execute(f"SELECT min(invoice_date) FROM {lines}").fetchall()
    if train_end < pd.Timestamp(first).normalize():
        raise ModelInputError(
            f"the gradient-boosting baseline trains on features at "
            f"{train_end:%Y-%m-%d} (cutoff - holdout_days), before the first "
            f"purchase {pd.Timestamp(first):%Y-%m-%d}; the holdout check needs "
            f"2 * holdout_days of history, so choose a later cutoff or a "
            "shorter holdout"
        )
    return train_end


def _gradient_boosting(
    con,
    lines: str,
    apply_state: pd.DataFrame,
    *,
    cutoff: pd.Timestamp,
    holdout_days: int,
    time_unit: str,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray, pd.Timestamp]:
    """Train on the window before the cut-off, forecast the holdout.

    Features are computed at ``train_end = cutoff - holdout_days`` and the
    targets are the purchase days and spend in ``(train_end, cutoff]``, so
    neither reads a line after the cut-off.
    """
    train_end = _training_end(con, lines, cutoff, holdout_days)
    train = customer_state(con, lines, train_end, time_unit, holdout_days)
    target = window_purchases(con, lines, train_end, cutoff)
    target = target.reindex(train.index, fill_value=0.0)
    if not (target["purchases"] > 0).any() or not (target["spend"] > 0).any():
        raise ModelInputError(
            f"no customer known on {train_end:%Y-%m-%d} bought in the "
            f"{holdout_days} days after it, so the gradient-boosting baseline "
            "has nothing to learn; choose a later cutoff or a longer holdout"
        )

    features = list(GB_FEATURES)
    predictions = []
    # One OpenMP thread: on a few thousand customers the split search is
    # quick, and worker threads spinning for work on a busy machine made
    # each fit 20x slower. threadpoolctl comes with scikit-learn.
    with threadpool_limits(limits=1, user_api="openmp"):
        for column in ("purchases", "spend"):
            model = HistGradientBoostingRegressor(
                loss="poisson", random_state=random_state
            )
            model.fit(train[features].to_numpy(), target[column].to_numpy())
            predictions.append(model.predict(apply_state[features].to_numpy()))
    return predictions[0], predictions[1], train_end


def _by_frequency(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean actual and forecast holdout purchases per calibration frequency."""
    top = len(FREQUENCY_GROUPS) - 1
    group = frame["frequency"].clip(upper=top).astype(int)
    columns = {"actual": frame["actual_purchases"]}
    for name in HOLDOUT_MODELS:
        columns[name] = frame[f"{name}_purchases"]
    means = pd.DataFrame(columns).groupby(group).mean()
    counts = group.value_counts()
    table = pd.DataFrame({"frequency": list(FREQUENCY_GROUPS)})
    codes = range(len(FREQUENCY_GROUPS))
    table["customers"] = [int(counts.get(code, 0)) for code in codes]
    for column in means.columns:
        table[column] = [means[column].get(code, np.nan) for code in codes]
    return table


def evaluate_holdout(
    con,
    lines: str = "clean_lines",
    *,
    cutoff: object = None,
    holdout_days: int = 90,
    time_unit: str = "weeks",
    observation_end: object = None,
    random_state: int = 0,
) -> dict:
    """Compare BG/NBD, the naive rate and gradient boosting on a holdout.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the lines.
    lines : str, default="clean_lines"
        Table with ``customer_id``, ``invoice``, ``invoice_date``, ``amount``.
    cutoff : date-like, default=None
        Last calibration day; ``observation_end - holdout_days`` when None.
    holdout_days : int, default=90
        Length of the holdout in days.
    time_unit : {"days", "weeks", "months"}, default="weeks"
        Unit the BG/NBD model is fitted in.
    observation_end : date-like, default=None
        Last day of data used; the last purchase day when None.
    random_state : int, default=0
        Seed of the gradient-boosting baseline.

    Returns
    -------
    dict
        ``cutoff``, ``holdout_end`` and ``training_cutoff`` (the day the
        gradient-boosting features are taken to train it), ``fits`` (report
        of the calibration fits), ``customers`` (per customer: calibration
        ``frequency``, ``actual_purchases``, ``actual_spend`` and
        ``<model>_purchases``, ``<model>_spend`` for each model of
        :data:`HOLDOUT_MODELS`), ``table`` (one row per model: MAE, RMSE and
        total relative error of purchases and spend) and ``by_frequency``.
    """
    days_per_unit(time_unit)  # refuse an unknown unit before any work
    holdout_days = _check_days(holdout_days)
    cutoff, holdout_end = holdout_window(
        con,
        lines,
        cutoff=cutoff,
        holdout_days=holdout_days,
        observation_end=observation_end,
    )
    _training_end(con, lines, cutoff, holdout_days)  # refuse before any fit
    split = calibration_holdout(
        con, lines, cutoff=cutoff, holdout_days=holdout_days, time_unit=time_unit
    )
    length = holdout_days / days_per_unit(time_unit)

    summary = split[["frequency", "recency", "T", "monetary_value"]]
    counts, spend, fits = fit_clv_models(summary)
    bg_purchases = _expected_purchases(counts, summary, length)
    bg_spend = (
        bg_purchases
        * spend.expected_spend(summary[["frequency", "monetary_value"]]).to_numpy()
    )
    naive_purchases, naive_spend = _naive(split, length)
    gb_purchases, gb_spend, train_end = _gradient_boosting(
        con,
        lines,
        split,
        cutoff=cutoff,
        holdout_days=holdout_days,
        time_unit=time_unit,
        random_state=random_state,
    )

    customers = pd.DataFrame(
        {
            "frequency": split["frequency"],
            "actual_purchases": split["holdout_purchases"],
            "actual_spend": split["holdout_spend"],
            "bgnbd_purchases": bg_purchases,
            "bgnbd_spend": bg_spend,
            "naive_purchases": naive_purchases,
            "naive_spend": naive_spend,
            "gradient_boosting_purchases": gb_purchases,
            "gradient_boosting_spend": gb_spend,
        },
        index=split.index,
    )
    rows = []
    for name in HOLDOUT_MODELS:
        row = {"model": name, "customers": len(customers)}
        for target in ("purchases", "spend"):
            scores = holdout_metrics(
                customers[f"actual_{target}"], customers[f"{name}_{target}"]
            )
            row.update({f"{target}_{key}": value for key, value in scores.items()})
        rows.append(row)
    return {
        "cutoff": cutoff,
        "holdout_end": holdout_end,
        "training_cutoff": train_end,
        "fits": fits,
        "customers": customers,
        "table": pd.DataFrame(rows),
        "by_frequency": _by_frequency(customers),
    }
