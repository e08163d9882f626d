"""Models of a new customer's next-year spend, repeat purchase and segment.

:class:`FirstOrderModel` bundles four models fitted on first-order features:

spend
    one of :data:`SPEND_MODELS`, chosen on the latest training customers
    when ``spend_model="auto"``:

    ``"poisson"``
        gradient boosting with a Poisson loss on spend;
    ``"poisson_per_pound"``
        the same on spend per pound of the first order, weighted by the
        first order's value. That is a Poisson model with the log of the
        first order's value as offset, so forecasts grow in proportion to
        an order larger than any seen in training, where trees alone would
        stay flat;
    ``"two_part"``
        probability of any repeat purchase times expected spend given a
        repeat: the zero-inflated lognormal idea of Wang, Liu and Miao
        (2019). The probability is the calibrated repeat model below; the
        log of spend given a repeat is a ridge regression on the logged
        features, whose straight line carries on past the largest first
        orders seen, and Duan's smearing estimate turns it into a mean.

repeat
    gradient boosting, calibrated with Platt scaling over 3 folds;
segment
    gradient boosting over the segments of the training customers;
intervals
    split conformal prediction: conformalized quantile regression
    (Romano, Patterson and Candes 2019), one-sided, as ``[0, upper]``. The
    quantile model is fitted on the earlier training customers and its
    miscoverage measured on the latest ones, whose first purchases are
    nearest to those scored.

The baselines the evaluation compares against, :class:`LogLinearSpend` (the
linear regression on log spend) and :class:`ConstantSpend`, are here too.
"""

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..exceptions import ModelInputError
from ._metrics import decile_calibration_error, normalized_gini

#: The stronger spend models ``FirstOrderModel`` can use.
SPEND_MODELS = ("poisson", "poisson_per_pound", "two_part")

#: Fewest customers of each kind, who bought again and who did not, the
#: repeat classifier is fitted on: its calibration cross-validates in three
#: folds, and a handful of either kind calibrates nothing.
MIN_CLASS_CUSTOMERS = 10

#: Money and count features, taken as ``log1p`` by the linear model.
SKEWED = (
    "order_value", "lines", "units", "products", "orders", "mean_price",
    "median_price", "max_price", "unit_value", "units_per_line",
    "max_line_quantity", "median_line_quantity", "categories",
    "cancelled_lines", "cancelled_value",
)

#: Ridge penalties tried for the lognormal part of the two-part model.
RIDGE_ALPHAS = (1.0, 10.0, 100.0)

#: Columns of a feature frame that identify, not describe, the customer.
ID_COLUMNS = ("customer_id", "first_day", "first_order_at")

#: Settings of every gradient-boosting model: small trees, as the training
#: cohorts hold a few thousand customers.
BOOSTING = {
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 7,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


class FeatureEncoder:
    """Turn a first-order feature frame into a numeric matrix.

    Numeric columns pass as they are, or as ``log1p`` with ``log=True``;
    ``country`` becomes a code (countries with fewer than ``min_customers``
    training customers share the code of "Other") or, with
    ``one_hot=True``, indicator columns.

    Parameters
    ----------
    columns : list of str
        Feature columns, in order.
    log : bool, default=False
        Take ``log1p`` of the :data:`SKEWED` columns.
    one_hot : bool, default=False
        Indicator columns for the countries instead of one code.
    min_customers : int, default=10
        Training customers a country needs to keep its own code.
    """

    def __init__(self, columns, log=False, one_hot=False, min_customers=10):
        self.columns = columns
        self.log = log
        self.one_hot = one_hot
        self.min_customers = min_customers

    def fit(self, X):
        """Learn the countries to keep."""
        missing = sorted(set(self.columns) - set(X.columns))
        if missing:
            raise ModelInputError(
                f"the features lack the columns {missing}; compute them with "
                "shopseg.predict.first_order_features"
            )
        self.countries_ = []
        if "country" in self.columns:
            counts = X["country"].value_counts()
            kept = counts[counts >= self.min_customers].index
            self.countries_ = sorted(str(c) for c in kept)
        return self

    @property
    def categorical_(self):
        """Boolean mask of the categorical output columns (the country code)."""
        numeric = [c for c in self.columns if c != "country"]
        mask = [False] * len(numeric)
        if "country" in self.columns:
            mask += [False] * len(self.countries_) if self.one_hot else [True]
        return np.array(mask)

    def transform(self, X):
        """Return the numeric matrix of ``X``.

        ``X`` is a data frame, or a dict of arrays with the same columns:
        the matrix is built column by column, which costs little for the
        one customer of a service request.
        """
        numeric = [c for c in self.columns if c != "country"]
        n_rows = len(X[self.columns[0]])
        one_hot = "country" in self.columns and self.one_hot
        width = len(numeric) + (
            (len(self.countries_) if one_hot else 1) if "country" in self.columns
            else 0
        )
        matrix = np.empty((n_rows, width))
        for j, column in enumerate(numeric):
            values = np.asarray(X[column], dtype=float)
            if self.log and column in SKEWED:
                # Negative values become 0; missing values stay missing.
                values = np.log1p(np.where(values < 0, 0.0, values))
            matrix[:, j] = values
        if "country" in self.columns:
            index = {country: i for i, country in enumerate(self.countries_)}
            other = len(self.countries_)
            codes = np.array(
                [index.get(str(c), other) for c in X["country"]], dtype=int
            ).reshape(n_rows)
            if one_hot:
                matrix[:, len(numeric):] = (
                    codes[:, None] == np.arange(len(self.countries_))
                )
            else:
                matrix[:, len(numeric)] = codes
        if np.isnan(matrix).any():
            raise ModelInputError(
                "the features have missing values; compute them with "
                "shopseg.predict.first_order_features"
            )
        return matrix


def rowwise_dot(matrix, coef):
    """``matrix @ coef``, each row summed left to right.

    A BLAS product rounds differently with the number of rows, so a
    customer's forecast would change in the last bit with the other
    customers scored with them; a running sum along each row does not.

    >>> rowwise_dot(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, 0.25]))
    array([1. , 2.5])
    """
    terms = np.asarray(matrix, dtype=float) * np.asarray(coef, dtype=float)
    if terms.shape[1] == 0:
        return np.zeros(len(terms))
    return np.cumsum(terms, axis=1)[:, -1]


def _boosting(kind, encoder, random_state, **extra):
    params = {**BOOSTING, **extra, "random_state": random_state}
    categorical = encoder.categorical_
    params["categorical_features"] = categorical if categorical.any() else None
    if kind == "classifier":
        return HistGradientBoostingClassifier(**params)
    return HistGradientBoostingRegressor(**params)


class LogLinearRegression:
    """Linear regression of a log target on log features, standardised.

    Money and count features enter as ``log1p``, countries as indicators.

    Parameters
    ----------
    columns : list of str
        Feature columns.
    alphas : tuple of float or None, default=None
        Ridge penalties tried by leave-one-out (``RidgeCV``); ordinary
        least squares when None.
    """

    def __init__(self, columns, alphas=None):
        self.columns = columns
        self.alphas = alphas

    def fit(self, X, target):
        """Fit on features ``X`` and the (already logged) target."""
        target = np.asarray(target, dtype=float)
        self.target_range_ = (float(target.min()), float(target.max()))
        self.encoder_ = FeatureEncoder(self.columns, log=True, one_hot=True).fit(X)
        self.scaler_ = StandardScaler()
        matrix = self.scaler_.fit_transform(self.encoder_.transform(X))
        regression = (
            LinearRegression() if self.alphas is None else RidgeCV(self.alphas)
        )
        self.regression_ = regression.fit(matrix, target)
        return self

    def predict(self, X):
        """Return the fitted log target, within the range of the training
        targets.

        A straight line in log space extrapolates exponentially: an order
        far outside the training orders would get an astronomical forecast,
        so the fitted value is held to the targets seen in training. The
        scaling and the linear product run row by row (see
        :func:`rowwise_dot`), so a customer's value does not depend on the
        other rows of ``X``.
        """
        matrix = self.encoder_.transform(X)
        scaler = self.scaler_
        if scaler.with_mean:
            matrix = matrix - scaler.mean_
        if scaler.with_std:
            matrix = matrix / scaler.scale_
        regression = self.regression_
        fitted = rowwise_dot(matrix, regression.coef_) + regression.intercept_
        return np.clip(fitted, *self.target_range_)


class LogLinearSpend:
    """Linear regression on ``log1p(spend)``: the baseline the brief names.

    Predictions are ``expm1`` of the fitted log spend, clipped at 0: the
    median, not the mean, of a lognormal spend, which is why this baseline
    forecasts a small share of the cohort's revenue.
    """

    def __init__(self, columns):
        self.columns = columns

    def fit(self, X, spend):
        """Fit on features ``X`` and spend."""
        target = np.log1p(np.asarray(spend, dtype=float))
        self.regression_ = LogLinearRegression(self.columns).fit(X, target)
        return self

    def predict(self, X):
        """Return the forecast spend."""
        return np.expm1(np.clip(self.regression_.predict(X), 0, None))


class ConstantSpend:
    """Forecast one number for everyone: zero, or the training mean or median."""

    def __init__(self, statistic="mean"):
        self.statistic = statistic

    def fit(self, X, spend):
        """Compute the constant from the training spend."""
        spend = np.asarray(spend, dtype=float)
        self.value_ = {
            "zero": 0.0, "mean": spend.mean(), "median": np.median(spend)
        }[self.statistic]
        return self

    def predict(self, X):
        """Return the constant for every row of ``X``."""
        return np.full(len(X), self.value_)


def interval_upper(log_upper, forecast):
    """Return the upper end of the spend interval.

    ``log_upper`` is the conformal quantile forecast of ``log1p`` spend. A
    mean forecast can lie above it for an order unlike those the quantile
    model learned from (a far larger order, say); the interval is then
    raised to the point forecast, so it always holds it. Raising an upper
    end only adds coverage.
    """
    upper = np.expm1(np.clip(log_upper, 0, None))
    return np.maximum(upper, forecast)


def too_few_of_a_kind(repeat, who="customers"):
    """Why the repeat model cannot be fitted on ``repeat`` (1 for a customer
    who bought again), or ``""``: fewer than :data:`MIN_CLASS_CUSTOMERS` of
    either kind."""
    again = int(np.sum(repeat))
    never = len(repeat) - again
    if min(again, never) < MIN_CLASS_CUSTOMERS:
        return (
            f"{again} {who} bought again and {never} did not (fewer than "
            f"{MIN_CLASS_CUSTOMERS} of a kind)"
        )
    return ""


def _check_classes(repeat, who):
    """Raise :class:`ModelInputError` if :func:`too_few_of_a_kind`."""
    few = too_few_of_a_kind(repeat, who)
    if few:
        raise ModelInputError(
            f"{few}; give more data (a longer span or more customers)"
        )


class FirstOrderModel:
    """Forecast spend, repeat purchase and segment from a first order.

    Parameters
    ----------
    columns : list of str
        Feature columns (see :func:`shopseg.predict.feature_columns`).
    spend_model : {"auto", "poisson", "poisson_per_pound", "two_part"}, \
default="auto"
        The spend model; ``"auto"`` fits each on the earlier training
        customers and keeps the one with the highest normalized Gini minus
        decile calibration error on the latest ``validation_share``.
    level : float or None, default=0.9
        Nominal coverage of the spend intervals; None fits no intervals.
    validation_share : float, default=0.25
        Share of the training customers, the latest by first purchase,
        that chooses the spend model and calibrates the intervals.
    random_state : int, default=0
        Seed of every model.

    Attributes
    ----------
    spend_model_ : str
        The spend model used.
    selection_ : list of dict
        Validation scores of each spend model tried, and which was chosen.
    interval_margin_ : float
        The conformal correction added to the quantile forecasts.
    segments_ : numpy.ndarray
        The segments seen in training; ``majority_segment_`` the commonest.
    """

    def __init__(
        self,
        columns,
        spend_model="auto",
        level=0.9,
        validation_share=0.25,
        random_state=0,
    ):
        self.columns = columns
        self.spend_model = spend_model
        self.level = level
        self.validation_share = validation_share
        self.random_state = random_state

    def _check(self, X, y):
        if self.spend_model not in ("auto", *SPEND_MODELS):
            raise ModelInputError(
                f"spend_model={self.spend_model!r} is not one of "
                f"{('auto', *SPEND_MODELS)}"
            )
        if self.level is not None and not 0 < self.level < 1:
            raise ModelInputError(f"level={self.level} should be between 0 and 1")
        if len(X) != len(y):
            raise ModelInputError(
                f"X has {len(X)} customers but y has {len(y)}; give one target "
                "row per customer"
            )
        if len(X) < 50:
            raise ModelInputError(
                f"{len(X)} training customers are too few; the models need at "
                "least 50"
            )
        if self.spend_model in ("auto", "poisson_per_pound") and (
            "order_value" not in X.columns
        ):
            raise ModelInputError(
                "the poisson_per_pound spend model needs the 'order_value' "
                "column in X; add it or choose another spend_model"
            )
        if "spend" not in y.columns:
            raise ModelInputError("y needs a 'spend' column (next-year spend)")
        spend = y["spend"].to_numpy(dtype=float)
        if (spend < 0).any() or np.isnan(spend).any():
            raise ModelInputError("spend should be 0 or more for every customer")
        _check_classes(spend > 0, "training customers")
        return spend

    def fit(self, X, y):
        """Fit every model.

        Parameters
        ----------
        X : pandas.DataFrame
            First-order features, with ``first_day`` (orders the customers
            for validation and calibration) and the ``columns``.
        y : pandas.DataFrame
            ``spend`` and optionally ``segment``; a repeat purchase is
            spend above 0.

        Returns
        -------
        FirstOrderModel
        """
        spend = self._check(X, y)
        # One thread: small data, and OpenMP threads fight on shared machines.
        with threadpool_limits(limits=1):
            return self._fit(X, y, spend)

    def _fit(self, X, y, spend):
        repeat = (spend > 0).astype(int)
        X = X.reset_index(drop=True)
        self.encoder_ = FeatureEncoder(self.columns).fit(X)
        matrix = self.encoder_.transform(X)
        early, late = self._time_split(X)
        if self.spend_model == "auto":  # the models are tried on the early part
            _check_classes(repeat[early], "earlier training customers")

        self.repeat_model_ = self._repeat_model().fit(matrix, repeat)
        self.selection_ = self._select(matrix, spend, repeat, early, late, X)
        self.spend_model_ = next(
            row["spend_model"] for row in self.selection_ if row["chosen"]
        )
        self.spend_parts_ = self._fit_spend(
            self.spend_model_, matrix, spend, repeat, X, self.repeat_model_
        )
        if self.level is not None:
            self._fit_intervals(matrix, spend, early, late)
        if "segment" in y.columns:
            segment = y["segment"].to_numpy()
            values, counts = np.unique(segment, return_counts=True)
            self.segments_ = values
            self.majority_segment_ = values[np.argmax(counts)]
            self.segment_model_ = _boosting(
                "classifier", self.encoder_, self.random_state
            ).fit(matrix, segment)
        return self

    def _time_split(self, X):
        days = pd.to_datetime(X["first_day"]) if "first_day" in X else None
        order = (
            np.argsort(days.to_numpy(), kind="stable") if days is not None
            else np.arange(len(X))
        )
        n_late = max(round(self.validation_share * len(X)), 20)
        return np.sort(order[:-n_late]), np.sort(order[-n_late:])

    def _repeat_model(self):
        return CalibratedClassifierCV(
            _boosting("classifier", self.encoder_, self.random_state),
            method="sigmoid",
            cv=3,
        )

    def _fit_spend(self, name, matrix, spend, repeat, X, repeat_model):
        if name == "poisson":
            model = _boosting("regressor", self.encoder_, self.random_state,
                              loss="poisson")
            return {"spend": model.fit(matrix, spend)}
        if name == "poisson_per_pound":
            value = X["order_value"].to_numpy(dtype=float)
            model = _boosting("regressor", self.encoder_, self.random_state,
                              loss="poisson")
            return {"spend": model.fit(matrix, spend / value, sample_weight=value)}
        buyers = repeat == 1
        model = LogLinearRegression(self.columns, alphas=RIDGE_ALPHAS)
        model.fit(X[buyers], np.log(spend[buyers]))
        residuals = np.log(spend[buyers]) - model.predict(X[buyers])
        return {
            "log_spend": model,
            "smearing": float(np.mean(np.exp(residuals))),
            "repeat": repeat_model,
        }

    def _predict_spend(self, name, parts, matrix, X):
        if name == "poisson":
            return parts["spend"].predict(matrix)
        if name == "poisson_per_pound":
            value = X["order_value"].to_numpy(dtype=float)
            return value * parts["spend"].predict(matrix)
        probability = parts["repeat"].predict_proba(matrix)[:, 1]
        expected = np.exp(parts["log_spend"].predict(X)) * parts["smearing"]
        return probability * expected

    def _select(self, matrix, spend, repeat, early, late, X):
        names = SPEND_MODELS if self.spend_model == "auto" else (self.spend_model,)
        rows = []
        if len(names) > 1:
            repeat_early = self._repeat_model().fit(matrix[early], repeat[early])
        for name in names:
            row = {"spend_model": name}
            if len(names) > 1:
                parts = self._fit_spend(
                    name, matrix[early], spend[early], repeat[early],
                    X.iloc[early], repeat_early,
                )
                forecast = self._predict_spend(
                    name, parts, matrix[late], X.iloc[late]
                )
                row["normalized_gini"] = normalized_gini(spend[late], forecast)
                row["decile_calibration_error"] = decile_calibration_error(
                    spend[late], forecast
                )
                row["score"] = row["normalized_gini"] - row[
                    "decile_calibration_error"
                ]
            rows.append(row)
        best = max(range(len(rows)), key=lambda i: rows[i].get("score", 0.0))
        for i, row in enumerate(rows):
            row["chosen"] = i == best
        return rows

    def _fit_intervals(self, matrix, spend, early, late):
        """One-sided conformalized quantile regression on log spend.

        The interval is ``[0, upper]``: a third or more of new customers
        never buy again, so any interval holding ``level`` of them starts
        at 0, and a two-sided conformal score would pile up on those zeros
        and over-cover.
        """
        target = np.log1p(spend)
        self.quantile_model_ = _boosting(
            "regressor", self.encoder_, self.random_state,
            loss="quantile", quantile=self.level,
        ).fit(matrix[early], target[early])
        scores = target[late] - self.quantile_model_.predict(matrix[late])
        n = len(scores)
        rank = min(int(np.ceil((n + 1) * self.level)), n)
        self.interval_margin_ = float(np.sort(scores)[rank - 1])

    def predict(self, X):
        """Forecast for each customer of ``X``.

        Returns
        -------
        pandas.DataFrame
            ``predicted_spend``, ``spend_lower`` and ``spend_upper`` (when
            intervals were fitted), ``repeat_probability`` and ``segment``
            (when segments were fitted), on the index of ``X``.
        """
        with threadpool_limits(limits=1):
            return self._predict(X)

    def _predict(self, X):
        matrix = self.encoder_.transform(X)
        X_reset = X.reset_index(drop=True)
        out = pd.DataFrame(index=X.index)
        out["predicted_spend"] = self._predict_spend(
            self.spend_model_, self.spend_parts_, matrix, X_reset
        )
        if hasattr(self, "quantile_model_"):
            log_upper = (
                self.quantile_model_.predict(matrix) + self.interval_margin_
            )
            out["spend_lower"] = 0.0
            out["spend_upper"] = interval_upper(
                log_upper, out["predicted_spend"].to_numpy()
            )
        out["repeat_probability"] = self.repeat_model_.predict_proba(matrix)[:, 1]
        if hasattr(self, "segment_model_"):
            out["segment"] = self.segment_model_.predict(matrix)
        return out
