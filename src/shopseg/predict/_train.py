"""Train and evaluate the first-order models over time.

:func:`train_first_order_model` builds the cohort from a store, fits the
models on the customers with earlier first purchases, scores them on the
latest cohort beside the baselines, runs a rolling-origin backtest and a
feature-group ablation, and returns everything in a
:class:`PredictionReport`.

Every split is by first purchase day, so no customer is on both sides. The
training customers' target windows run past the test cohort's first day in
calendar time (a customer first seen in August is followed until next
August): the targets are about customers, not calendar months, which is
usual for cohort models. The backtest adds the stricter variant, in which
every training target ends before the test cohort's first purchase; with
two years of data that only fits a shorter horizon.
"""

import dataclasses
import hashlib
import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..exceptions import DegenerateDataWarning, EmptyResultError, ModelInputError
from ..segments import CustomerSegmenter, default_features, profile_segments
from ._cohort import cohort_targets, cohort_window, product_table, time_split
from ._features import (
    FEATURE_GROUPS,
    feature_columns,
    first_order_features,
    one_thread,
)
from ._metrics import (
    calibration_table,
    interval_metrics,
    repeat_metrics,
    segment_metrics,
    spend_metrics,
)
from ._models import (
    SPEND_MODELS,
    ConstantSpend,
    FirstOrderModel,
    LogLinearSpend,
    too_few_of_a_kind,
)

#: Name of our model in the metric tables.
OUR_MODEL = "first_order_model"

#: The baselines, as (name, factory of an estimator given the columns).
BASELINES = (
    ("linear_regression_log", LogLinearSpend),
    ("constant_zero", lambda columns: ConstantSpend("zero")),
    ("constant_mean", lambda columns: ConstantSpend("mean")),
    ("constant_median", lambda columns: ConstantSpend("median")),
)

#: Fewest training customers a backtest fold needs.
MIN_TRAIN_CUSTOMERS = 200

MAE_NOTE = (
    "MAE rewards forecasting the median, which is 0 or close to it for most "
    "new customers; a forecast of zero for everyone scores well on it while "
    "ranking nobody and forecasting no revenue."
)


@dataclasses.dataclass
class PredictionReport:
    """Everything a training run produced.

    Attributes
    ----------
    window : CohortWindow
        The cohort's calendar and split.
    model : FirstOrderModel
        Fitted on the training cohort; the model whose metrics are reported.
    columns : list of str
        Its feature columns.
    products, categories : pandas.DataFrame
        The product table and categories the features were computed with.
    segmenter : CustomerSegmenter
        Fitted on the training customers' year.
    segment_names : dict
        Name of each segment.
    metrics : dict
        Plain data, as written to ``metrics.json``.
    metrics_table, calibration, backtest, ablation : pandas.DataFrame
        The tables stored as ``prediction_metrics``,
        ``prediction_calibration``, ``prediction_backtest`` and
        ``prediction_ablation``.
    test_predictions : pandas.DataFrame
        Forecasts and outcomes of the test cohort (``actual_spend``,
        ``predicted_spend``, ``repeated``, ``repeat_probability``,
        ``spend_lower``, ``spend_upper``, ``level``, ``segment``,
        ``actual_segment``, ...), stored as ``prediction_test``.
    fingerprint : str
        SHA-256 of the data the model was trained on (see
        :func:`data_fingerprint`).
    """

    window: object
    model: FirstOrderModel
    columns: list
    products: pd.DataFrame
    categories: pd.DataFrame
    segmenter: CustomerSegmenter
    segment_names: dict
    metrics: dict
    metrics_table: pd.DataFrame
    calibration: pd.DataFrame
    backtest: pd.DataFrame
    ablation: pd.DataFrame
    test_predictions: pd.DataFrame
    fingerprint: str


def data_fingerprint(con):
    """Return a SHA-256 over the input files' checksums and the kept lines.

    The kept lines enter as their count, customers, revenue and first and
    last timestamps, so a store rebuilt from the same files gives the same
    fingerprint.
    """
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    parts = []
    if "inputs" in tables:
        parts += [r[0] for r in con.execute(
            "SELECT sha256 FROM inputs ORDER BY source_id"
        ).fetchall()]
    with one_thread(con):
        summary = con.execute(
            """
            SELECT count(*), count(DISTINCT customer_id),
                round(sum(amount), 2), min(invoice_date), max(invoice_date)
            FROM clean_lines
            """
        ).fetchall()[0]
    parts += [str(value) for value in summary]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _categories(con):
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    missing = {"product_categories", "categories", "clean_lines", "lines"} - tables
    if missing:
        raise ModelInputError(
            f"the store lacks the tables {sorted(missing)}; run 'shopseg run' "
            "(or the products stage) before training the first-order models"
        )
    return con.execute(
        "SELECT category, label FROM categories ORDER BY category"
    ).df()


def _cohort_frame(con, window, categories, until):
    """Features (with products known before ``until``) joined to targets.

    Returns the frame of first-order features and targets, the year's
    features of the same customers in the same order (kept apart: their
    names, such as ``orders``, are those of first-order features too), and
    the product table.
    """
    products = product_table(con, until, window.first_eligible)
    features = first_order_features(con, products, categories)
    cohort = cohort_targets(con, window, categories)
    targets = ["customer_id", "first_day", "target_spend",
               "target_repeat_orders", "target_repeat"]
    frame = cohort[targets].merge(
        features, on="customer_id", how="left", suffixes=("", "_features")
    )
    mismatch = frame["first_day"] != frame["first_day_features"]
    assert not mismatch.any(), "features and targets disagree on the first day"
    year = cohort.drop(columns=targets[2:])
    year["country"] = frame["country"].to_numpy()
    return frame.drop(columns="first_day_features"), year, products


def _segment_features(year):
    return [c for c in default_features(year) if c != "tenure_days"]


def train_first_order_model(
    con,
    burn_in_days=90,
    horizon_days=365,
    test_months=3,
    level=0.9,
    n_origins=4,
    strict_horizon_days=182,
    n_strict_origins=2,
    ablation=True,
    spend_model=None,
    random_state=0,
):
    """Fit the first-order models on a store and evaluate them over time.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A store after the products stage (``clean_lines``, ``lines``,
        ``product_categories`` and ``categories``).
    burn_in_days : int, default=90
        Customers first seen within this many days of the data start are
        not taken as new: their earlier orders may be missing.
    horizon_days : int, default=365
        Days after the first purchase day over which the targets count;
        shortened, with a warning, when the data are too short.
    test_months : int, default=3
        The test cohort is the first purchases from the first day of the
        month ``test_months`` months before the last eligible day; the
        earlier ones train.
    level : float, default=0.9
        Nominal coverage of the spend intervals.
    n_origins : int, default=4
        Cut-offs of the rolling-origin backtest, a month apart, the last
        being the test split; 0 skips the backtest.
    strict_horizon_days : int or None, default=182
        Horizon of the strict backtest variant (every training target ends
        before the test cohort starts); None skips it.
    n_strict_origins : int, default=2
        Cut-offs of the strict variant, a month apart, the last being the
        latest whose three-month test cohort is observed for the horizon.
    ablation : bool, default=True
        Measure what each feature group adds.
    spend_model : str, default=None
        One of :data:`SPEND_MODELS`, or None to fit them all at the backtest
        origins before the test cohort and keep the one with the highest
        mean normalized Gini minus decile calibration error (without such
        origins, :class:`FirstOrderModel` chooses on its latest training
        customers).
    random_state : int, default=0
        Seed of every model.

    Returns
    -------
    PredictionReport
    """
    categories = _categories(con)
    window = cohort_window(con, burn_in_days, horizon_days, test_months)
    frame, year, products = _cohort_frame(
        con, window, categories, window.test_start
    )
    columns = feature_columns(categories)
    train, test = time_split(
        frame.first_day, window.test_start, window.last_eligible
    )
    for name, mask in (("training", train), ("test", test)):
        if mask.sum() < 50:
            raise EmptyResultError(
                f"the {name} cohort holds {int(mask.sum())} customers; at least "
                "50 are needed. Give more data or a shorter burn-in"
            )
    few = too_few_of_a_kind(frame.target_spend[train] > 0, "training customers")
    if few:
        raise EmptyResultError(f"{few}; give more data or a shorter burn-in")
    fit = frame[train].reset_index(drop=True)
    held = frame[test].reset_index(drop=True)

    candidates = SPEND_MODELS if spend_model is None else (spend_model,)
    backtest = _backtest(
        con, window, categories, columns, n_origins, level, random_state,
        candidates,
    )
    chosen, selection = _choose_spend_model(backtest, window.test_start)
    if spend_model is not None:
        chosen, selection = spend_model, []

    segmenter, names, segments = _segments(
        year[train].reset_index(drop=True), year[test].reset_index(drop=True),
        random_state,
    )
    targets = pd.DataFrame({"spend": fit.target_spend, "segment": segments[0]})
    model = FirstOrderModel(
        columns, spend_model=chosen or "auto", level=level,
        random_state=random_state,
    )
    model.fit(fit, targets)
    predicted = model.predict(held)
    backtest = _with_our_model(backtest, model.spend_model_)
    if not selection:
        selection = [
            {**row, "chosen_on": "latest 25% of the training customers"}
            for row in model.selection_
        ]

    spend_rows = _spend_rows(model, fit, held, predicted, columns, random_state)
    repeat = {
        OUR_MODEL: repeat_metrics(held.target_repeat, predicted.repeat_probability),
        "constant_training_rate": repeat_metrics(
            held.target_repeat, np.full(len(held), fit.target_repeat.mean())
        ),
    }
    calibration = calibration_table(
        held.target_repeat, predicted.repeat_probability
    )
    segment = segment_metrics(
        segments[1], predicted.segment, model.majority_segment_
    )
    segment["majority_segment"] = int(model.majority_segment_)
    segment["majority_segment_name"] = names[int(model.majority_segment_)]
    interval = interval_metrics(
        held.target_spend, predicted.spend_lower, predicted.spend_upper, level
    )

    if strict_horizon_days:
        strict = _strict_backtest(
            con, window, categories, columns, strict_horizon_days,
            n_strict_origins, level, random_state, model.spend_model_,
        )
        backtest = pd.concat(
            [backtest, _with_our_model(strict, model.spend_model_)],
            ignore_index=True,
        )
    ablation_table = (
        _ablation(categories, fit, held, model.spend_model_, random_state)
        if ablation else pd.DataFrame()
    )

    test_predictions = pd.concat(
        [held[["customer_id", "first_day", "target_spend",
               "target_repeat_orders", "target_repeat"]].rename(
            columns={"target_spend": "actual_spend",
                     "target_repeat_orders": "actual_repeat_orders",
                     "target_repeat": "repeated"}),
         predicted.reset_index(drop=True)],
        axis=1,
    )
    test_predictions["level"] = level
    test_predictions["actual_segment"] = segments[1]
    metrics = _metrics_dict(
        window, fit, held, model, selection, spend_rows, repeat, segment,
        interval, backtest, ablation_table,
    )
    return PredictionReport(
        window=window,
        model=model,
        columns=columns,
        products=products,
        categories=categories,
        segmenter=segmenter,
        segment_names=names,
        metrics=metrics,
        metrics_table=_long_table(spend_rows, repeat, segment, interval),
        calibration=calibration,
        backtest=backtest,
        ablation=ablation_table,
        test_predictions=test_predictions,
        fingerprint=data_fingerprint(con),
    )


def _segments(year_train, year_test, random_state):
    """Segment the training customers' year; assign the test customers."""
    features = _segment_features(year_train)
    segmenter = CustomerSegmenter(features=features, random_state=random_state)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # A small cohort may allow fewer segments than the scan asks for.
        warnings.simplefilter("ignore", DegenerateDataWarning)
        segmenter.fit(year_train)
    train_labels = segmenter.labels_
    test_labels = segmenter.predict(year_test)
    profiles = profile_segments(year_train, train_labels)
    names = {int(s): str(n) for s, n in zip(profiles.segment, profiles.name)}
    return segmenter, names, (train_labels, test_labels)


def _spend_rows(model, fit, held, predicted, columns, random_state):
    """Spend metrics of our model, each candidate and every baseline."""
    y = held.target_spend.to_numpy()
    rows = {OUR_MODEL: spend_metrics(y, predicted.predicted_spend)}
    rows[OUR_MODEL]["spend_model"] = model.spend_model_
    for name in SPEND_MODELS:
        if name == model.spend_model_:
            rows[f"candidate_{name}"] = dict(rows[OUR_MODEL])
            del rows[f"candidate_{name}"]["spend_model"]
            continue
        candidate = FirstOrderModel(
            columns, spend_model=name, level=None, random_state=random_state
        ).fit(fit, pd.DataFrame({"spend": fit.target_spend}))
        rows[f"candidate_{name}"] = spend_metrics(
            y, candidate.predict(held).predicted_spend
        )
    for name, factory in BASELINES:
        baseline = factory(columns).fit(fit, fit.target_spend)
        rows[name] = spend_metrics(y, baseline.predict(held))
    return rows


def _fold_metrics(model_name, y, forecast, repeat=None, probability=None):
    row = {"model": model_name}
    metrics = spend_metrics(y, forecast)
    for key in ("normalized_gini", "decile_calibration_error",
                "top_decile_capture", "rmse", "mae", "revenue_ratio"):
        row[key] = metrics[key]
    if probability is not None:
        row["repeat_auc"] = repeat_metrics(repeat, probability)["auc"]
    return row


def _fold(fit, held, columns, level, random_state, spend_models):
    """Fit each spend model and the baselines on one fold; a row per model."""
    y = held.target_spend.to_numpy()
    rows = []
    for name in spend_models:
        model = FirstOrderModel(
            columns, spend_model=name, level=level, random_state=random_state
        ).fit(fit, pd.DataFrame({"spend": fit.target_spend}))
        predicted = model.predict(held)
        row = _fold_metrics(
            f"candidate_{model.spend_model_}", y, predicted.predicted_spend,
            held.target_repeat, predicted.repeat_probability,
        )
        row["spend_model"] = model.spend_model_
        if level is not None:
            row["interval_coverage"] = interval_metrics(
                y, predicted.spend_lower, predicted.spend_upper, level
            )["coverage"]
        rows.append(row)
    for name, factory in BASELINES:
        baseline = factory(columns).fit(fit, fit.target_spend)
        rows.append(_fold_metrics(name, y, baseline.predict(held)))
    return rows


def _choose_spend_model(backtest, test_start):
    """The spend model with the best mean Gini minus decile calibration error
    over the backtest origins before the test cohort; None without any."""
    if backtest.empty or "spend_model" not in backtest:
        return None, []
    earlier = backtest[
        backtest.spend_model.notna()
        & (pd.to_datetime(backtest.origin) < test_start)
    ]
    if earlier.empty:
        return None, []
    scores = earlier.groupby("spend_model", sort=False).agg(
        normalized_gini=("normalized_gini", "mean"),
        decile_calibration_error=("decile_calibration_error", "mean"),
        origins=("origin", "nunique"),
    )
    scores["score"] = scores.normalized_gini - scores.decile_calibration_error
    chosen = scores.score.idxmax()
    scores["chosen"] = scores.index == chosen
    return chosen, scores.reset_index().to_dict("records")


def _with_our_model(backtest, spend_model):
    """Add the chosen candidate's rows again, as our model's."""
    if backtest.empty or "model" not in backtest:
        return backtest
    ours = backtest[backtest.model == f"candidate_{spend_model}"].assign(
        model=OUR_MODEL
    )
    return pd.concat([backtest, ours], ignore_index=True).sort_values(
        ["variant", "origin"], kind="stable", ignore_index=True
    )


def _origins(last_origin, n_origins):
    return [
        (last_origin - pd.DateOffset(months=k)).to_period("M").to_timestamp()
        for k in range(n_origins - 1, -1, -1)
    ]


def _backtest(con, window, categories, columns, n_origins, level, random_state,
              spend_models):
    """Rolling origins a month apart, each testing the next test_months."""
    rows = []
    months = pd.DateOffset(months=_window_months(window))
    for origin in _origins(window.test_start, n_origins):
        end = min(origin + months - pd.Timedelta(days=1), window.last_eligible)
        fold, _, _ = _cohort_frame(con, window, categories, origin)
        train, test = time_split(fold.first_day, origin, end)
        note = _too_small(fold.target_spend[train], test.sum())
        base = {
            "variant": "standard",
            "horizon_days": window.horizon_days,
            "origin": origin.date(),
            "test_end": end.date(),
            "train_customers": int(train.sum()),
            "test_customers": int(test.sum()),
        }
        if note:
            rows.append({**base, "note": note})
            continue
        for row in _fold(fold[train], fold[test], columns, level, random_state,
                         spend_models):
            rows.append({**base, **row})
    return pd.DataFrame(rows)


def _window_months(window):
    """Months between the test cohort's first day and the last eligible day."""
    delta = window.last_eligible.to_period("M") - window.test_start.to_period("M")
    return delta.n + 1


def _too_small(train_spend, n_test):
    """Why a fold is too small to fit and test on, or ``""``."""
    n_train = len(train_spend)
    if n_train < MIN_TRAIN_CUSTOMERS:
        return f"{n_train} training customers (fewer than {MIN_TRAIN_CUSTOMERS})"
    if n_test < 50:
        return f"{n_test} test customers (fewer than 50)"
    return too_few_of_a_kind(np.asarray(train_spend) > 0, "training customers")


def _strict_backtest(con, window, categories, columns, horizon, n_origins,
                     level, random_state, spend_model):
    """Training targets end before the test cohort's first purchase day."""
    rows = []
    gap = pd.Timedelta(days=window.horizon_days)
    latest_train = window.test_start - gap - pd.Timedelta(days=1)
    rows.append({
        "variant": "strict",
        "horizon_days": window.horizon_days,
        "origin": window.test_start.date(),
        "train_customers": 0,
        "test_customers": 0,
        "note": (
            f"infeasible: training first purchases would have to end by "
            f"{latest_train:%Y-%m-%d}, before the eligible window starts "
            f"({window.first_eligible:%Y-%m-%d})"
        ) if latest_train < window.first_eligible else "not run",
    })
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateDataWarning)
            strict = cohort_window(
                con, window.burn_in_days, horizon, 3, shorten_horizon=False
            )
    except ModelInputError as exc:
        rows.append({"variant": "strict", "horizon_days": horizon,
                     "note": f"infeasible: {exc}"})
        return pd.DataFrame(rows)
    step = pd.DateOffset(months=3)
    last_origin = (strict.last_eligible - step + pd.Timedelta(days=1))
    last_origin = last_origin.to_period("M").to_timestamp()
    if last_origin + step - pd.Timedelta(days=1) > strict.last_eligible:
        last_origin = (last_origin - pd.DateOffset(months=1))
    for origin in _origins(last_origin, n_origins):
        end = origin + step - pd.Timedelta(days=1)
        fold, _, _ = _cohort_frame(con, strict, categories, origin)
        train_end = origin - pd.Timedelta(days=horizon + 1)
        train = (fold.first_day <= train_end).to_numpy()
        _, test = time_split(fold.first_day, origin, end)
        base = {
            "variant": "strict",
            "horizon_days": horizon,
            "origin": origin.date(),
            "test_end": end.date(),
            "train_customers": int(train.sum()),
            "test_customers": int(test.sum()),
        }
        note = _too_small(fold.target_spend[train], test.sum())
        if note:
            rows.append({**base, "note": note})
            continue
        for row in _fold(fold[train], fold[test], columns, level, random_state,
                         (spend_model,)):
            rows.append({**base, **row})
    return pd.DataFrame(rows)


def _ablation(categories, fit, held, spend_model, random_state):
    """Add the feature groups one at a time, in :data:`FEATURE_GROUPS` order."""
    rows = []
    groups = []
    y = held.target_spend.to_numpy()
    for group in FEATURE_GROUPS:
        groups.append(group)
        columns = feature_columns(categories, groups)
        model = FirstOrderModel(
            columns, spend_model=spend_model, level=None, random_state=random_state
        ).fit(fit, pd.DataFrame({"spend": fit.target_spend}))
        predicted = model.predict(held)
        row = _fold_metrics(
            spend_model, y, predicted.predicted_spend, held.target_repeat,
            predicted.repeat_probability,
        )
        rows.append({"added_group": group, "features": len(columns), **row})
    table = pd.DataFrame(rows)
    for key in ("normalized_gini", "decile_calibration_error", "repeat_auc"):
        table[f"{key}_change"] = table[key].diff()
    return table


def _cohort_facts(frame):
    return {
        "customers": len(frame),
        "first_purchase_from": f"{frame.first_day.min():%Y-%m-%d}",
        "first_purchase_to": f"{frame.first_day.max():%Y-%m-%d}",
        "repeat_rate": float(frame.target_repeat.mean()),
        "revenue": float(frame.target_spend.sum()),
    }


def _metrics_dict(window, fit, held, model, selection, spend_rows, repeat,
                  segment, interval, backtest, ablation):
    notes = [MAE_NOTE]
    if window.horizon_shortened:
        notes.append(
            f"The data are too short for a {window.requested_horizon_days}-day "
            f"horizon: targets count {window.horizon_days} days after the "
            "first purchase day."
        )
    return _plain({
        "window": window.as_dict(),
        "split": {"train": _cohort_facts(fit), "test": _cohort_facts(held)},
        "spend_model": model.spend_model_,
        "spend_model_selection": selection,
        "spend": spend_rows,
        "repeat": repeat,
        "segment": segment,
        "interval": {**interval, "interval": "one-sided: 0 to spend_upper"},
        "backtest": backtest.to_dict("records"),
        "ablation": ablation.to_dict("records"),
        "notes": notes,
    })


def _plain(value):
    """Make numpy, pandas and date values JSON-ready; NaN becomes None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    if value is pd.NaT:
        return None
    return str(value)


def _long_table(spend_rows, repeat, segment, interval):
    rows = []
    for model, metrics in spend_rows.items():
        for metric, value in metrics.items():
            if isinstance(value, (int, float)):
                rows.append(("spend", model, metric, float(value)))
    for model, metrics in repeat.items():
        for metric, value in metrics.items():
            rows.append(("repeat", model, metric, float(value)))
    for metric, value in segment.items():
        if isinstance(value, (int, float)):
            rows.append(("segment", OUR_MODEL, metric, float(value)))
    for metric, value in interval.items():
        rows.append(("interval", OUR_MODEL, metric, float(value)))
    return pd.DataFrame(rows, columns=["task", "model", "metric", "value"])
