"""Metrics of spend forecasts, repeat probabilities, segments and intervals.

The ranking and calibration metrics sort customers by prediction. Tied
predictions are treated as one group (their customers in any order), so a
constant forecast ranks nobody: its normalized Gini is 0.
"""

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from ..exceptions import ModelInputError


def _check(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ModelInputError(
            f"y_true and y_pred should be 1-d and of one length; got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    if len(y_true) == 0:
        raise ModelInputError("y_true is empty; there is nothing to score")
    return y_true, y_pred


def _sorted_by_prediction(y_true, y_pred):
    """Actuals sorted by prediction, highest first, tied groups averaged."""
    order = np.argsort(-y_pred, kind="stable")
    pred, true = y_pred[order], y_true[order]
    groups = np.r_[0, np.cumsum(pred[1:] != pred[:-1])]
    means = np.bincount(groups, weights=true) / np.bincount(groups)
    return means[groups]


def _gini(y_true, y_pred):
    true = _sorted_by_prediction(y_true, y_pred)
    n = len(true)
    lorenz = np.cumsum(true) / true.sum()
    return lorenz.sum() / n - (n + 1) / (2 * n)


def normalized_gini(y_true, y_pred):
    """Gini of the predicted ranking divided by the Gini of the perfect one.

    Customers are sorted by prediction, highest first; the Gini coefficient
    measures how much faster than at random the cumulative share of actual
    spend grows. Dividing by the Gini of sorting by actual spend gives 1 for
    a perfect ranking, -1 for the reversed one and 0 for a random one.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)

    Returns
    -------
    float

    Examples
    --------
    >>> normalized_gini([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> normalized_gini([1, 2, 3, 4], [40, 30, 20, 10])
    -1.0
    >>> normalized_gini([1, 2, 3, 4], [5, 5, 5, 5])
    0.0
    """
    y_true, y_pred = _check(y_true, y_pred)
    if y_true.sum() <= 0:
        raise ModelInputError("normalized Gini needs a positive total of y_true")
    return float(_gini(y_true, y_pred) / _gini(y_true, y_true))


def decile_table(y_true, y_pred, n_groups=10):
    """Mean prediction and mean actual of customers in groups by prediction.

    Customers are sorted by prediction (lowest first, ties in input order)
    and cut into ``n_groups`` groups of equal size (the first groups take
    one customer more when the size does not divide).

    Returns
    -------
    pandas.DataFrame
        ``group`` (1 = lowest predictions), ``customers``, ``mean_predicted``
        and ``mean_actual``.
    """
    y_true, y_pred = _check(y_true, y_pred)
    order = np.argsort(y_pred, kind="stable")
    rows = []
    for group, index in enumerate(np.array_split(order, n_groups), start=1):
        if len(index):
            rows.append({
                "group": group,
                "customers": len(index),
                "mean_predicted": float(y_pred[index].mean()),
                "mean_actual": float(y_true[index].mean()),
            })
    return pd.DataFrame(rows)


def decile_calibration_error(y_true, y_pred, n_groups=10):
    """Mean absolute percentage error of the groups' mean predictions.

    Customers are cut into ``n_groups`` groups by prediction (see
    :func:`decile_table`); the error of a group is ``|mean predicted - mean
    actual| / mean actual``, and the result is the mean over groups. A
    group with no actual spend counts as an error of 1 when predicted
    something, 0 when predicted nothing.

    Examples
    --------
    >>> y_true = [0, 0, 10, 10]
    >>> decile_calibration_error(y_true, [0, 1, 8, 12], n_groups=2)
    0.5
    >>> decile_calibration_error(y_true, [0, 0, 10, 10], n_groups=2)
    0.0
    """
    table = decile_table(y_true, y_pred, n_groups)
    actual = table.mean_actual.to_numpy()
    diff = np.abs(table.mean_predicted.to_numpy() - actual)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.where(actual > 0, diff / actual, np.where(diff > 0, 1.0, 0.0))
    return float(errors.mean())


def top_decile_capture(y_true, y_pred, share=0.1):
    """Share of the actual total captured by the top ``share`` by prediction.

    The top group holds ``ceil(share * n)`` customers; tied predictions at
    its edge count with their group's mean actual value.

    Examples
    --------
    >>> top_decile_capture([50, 0, 0, 0, 0, 0, 0, 0, 0, 50], list(range(10)))
    0.5
    """
    y_true, y_pred = _check(y_true, y_pred)
    n_top = int(np.ceil(share * len(y_true)))
    true = _sorted_by_prediction(y_true, y_pred)
    return float(true[:n_top].sum() / y_true.sum())


def spend_metrics(y_true, y_pred):
    """Return every spend metric of one forecast as a dict.

    Keys: ``mae``, ``rmse``, ``r2``, ``spearman``, ``normalized_gini``,
    ``decile_calibration_error``, ``top_decile_capture``,
    ``predicted_revenue``, ``actual_revenue`` and ``revenue_ratio``
    (predicted over actual).
    """
    y_true, y_pred = _check(y_true, y_pred)
    rho = spearmanr(y_true, y_pred).statistic if np.ptp(y_pred) > 0 else 0.0
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": float(r2_score(y_true, y_pred)),
        "spearman": float(rho),
        "normalized_gini": normalized_gini(y_true, y_pred),
        "decile_calibration_error": decile_calibration_error(y_true, y_pred),
        "top_decile_capture": top_decile_capture(y_true, y_pred),
        "predicted_revenue": float(y_pred.sum()),
        "actual_revenue": float(y_true.sum()),
        "revenue_ratio": float(y_pred.sum() / y_true.sum()),
    }


def calibration_table(y_true, probability, n_bins=10):
    """Observed rate against mean predicted probability, in equal-width bins.

    Returns
    -------
    pandas.DataFrame
        ``bin`` (e.g. "0.5-0.6"), ``customers``, ``mean_predicted`` and
        ``observed_rate`` for each non-empty bin.
    """
    y_true, probability = _check(y_true, probability)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(probability, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = index == b
        if inside.any():
            rows.append({
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "customers": int(inside.sum()),
                "mean_predicted": float(probability[inside].mean()),
                "observed_rate": float(y_true[inside].mean()),
            })
    return pd.DataFrame(rows)


def repeat_metrics(y_true, probability):
    """AUC, Brier score and the base rate of repeat-purchase probabilities."""
    y_true, probability = _check(y_true, probability)
    if np.any((probability < 0) | (probability > 1)):
        raise ModelInputError("repeat probabilities should lie in [0, 1]")
    return {
        "auc": float(roc_auc_score(y_true, probability)),
        "brier": float(brier_score_loss(y_true, probability)),
        "base_rate": float(y_true.mean()),
        "mean_probability": float(probability.mean()),
    }


def segment_metrics(y_true, y_pred, majority):
    """Accuracy and macro-F1 of segments, beside the majority-class baseline.

    Parameters
    ----------
    y_true, y_pred : array-like
        Actual and predicted segments.
    majority : int
        The most frequent segment among the training customers.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    baseline = np.full_like(y_true, majority)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "majority_accuracy": float(accuracy_score(y_true, baseline)),
        "majority_macro_f1": float(
            f1_score(y_true, baseline, average="macro", zero_division=0)
        ),
        "segments": len(np.unique(y_true)),
    }


def interval_metrics(y_true, lower, upper, level):
    """Coverage and mean width of prediction intervals."""
    y_true = np.asarray(y_true, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    inside = (y_true >= lower) & (y_true <= upper)
    return {
        "level": float(level),
        "coverage": float(inside.mean()),
        "mean_width": float((upper - lower).mean()),
        "median_width": float(np.median(upper - lower)),
    }
