"""Gamma-Gamma model of spend per purchase, and discounted customer value.

Reference: P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "The Gamma-Gamma
model of monetary value", note at brucehardie.com. Equation numbers below
refer to that note.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from shopseg.clv._bgnbd import (
    BGNBD,
    _dot,
    fit_log_params,
    require_fitted,
    warn_if_not_converged,
)
from shopseg.clv._validation import check_summary, days_per_unit
from shopseg.exceptions import ModelInputError

__all__ = ["GammaGamma", "customer_lifetime_value"]

_ADVICE = (
    "check monetary_value for extreme outliers or set penalizer to a small "
    "positive value such as 0.001"
)


class GammaGamma:
    """Gamma-Gamma model of the mean value of a customer's repeat purchases.

    Each purchase value is Gamma(p, nu) with a customer-specific rate
    nu ~ Gamma(q, gamma); the mean of x purchases is then Gamma(px, nu x).
    The model assumes spend is independent of purchase frequency.

    Parameters
    ----------
    penalizer : float, default 0.0
        Weight of an L2 penalty on the log-parameters (it pulls every
        parameter towards 1), added to the mean negative log-likelihood.

    Attributes
    ----------
    params_ : dict of str to float
        Fitted ``p``, ``q``, ``gamma``.
    log_likelihood_ : float
        Log-likelihood of the mean spends (density of the mean, constants
        included) at ``params_``, without the penalty.
    converged_ : bool
        Whether the optimiser reported convergence inside the bounds.
    status_ : str
        ``"converged"`` or what went wrong, with advice.
    n_customers_ : int
        Number of customers the model was fitted on.
    n_excluded_ : int
        Customers left out of the fit because their frequency or
        monetary_value is 0 (no repeat purchase to learn spend from).

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({
    ...     "frequency": [0, 1, 2, 3, 1, 4, 2, 5],
    ...     "monetary_value": [0.0, 20.0, 35.5, 18.0, 42.0, 25.0, 30.0, 22.0],
    ... })
    >>> model = GammaGamma(penalizer=0.01).fit(summary)
    >>> model.n_excluded_
    1
    >>> spend = model.expected_spend(summary)
    >>> bool((spend > 0).all())
    True
    """

    _names = ("p", "q", "gamma")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, summary: pd.DataFrame) -> GammaGamma:
        """Fit the model by maximum likelihood on repeat customers.

        Parameters
        ----------
        summary : pandas.DataFrame
            One row per customer with ``frequency`` and ``monetary_value``
            (``recency`` and ``T`` are checked if present). Only customers
            with frequency > 0 and monetary_value > 0 enter the fit.

        Returns
        -------
        GammaGamma
            The fitted model (``self``).

        Warns
        -----
        ConvergenceWarning
            If the optimiser did not converge; ``status_`` says why.
        """
        check_summary(summary, require_monetary=True, require_timing=False)
        penalizer = float(self.penalizer)
        if not (np.isfinite(penalizer) and penalizer >= 0):
            raise ModelInputError(
                f"penalizer must be a finite number >= 0, not {self.penalizer!r}"
            )
        x_all = summary["frequency"].to_numpy(dtype=float)
        m_all = summary["monetary_value"].to_numpy(dtype=float)
        keep = (x_all > 0) & (m_all > 0)
        if not keep.any():
            raise ModelInputError(
                "no customer has frequency > 0 and monetary_value > 0; the "
                "Gamma-Gamma model learns spend from repeat purchases only"
            )
        x, m = x_all[keep], m_all[keep]
        n = x.size
        objective = _negative_log_likelihood(x, m, penalizer)

        # With p = 2, q = 3 the population mean p * gamma / (q - 1) is gamma;
        # setting gamma to the observed mean spend starts near the basin.
        mean_spend = float(np.average(m, weights=x))
        x0 = np.log(np.array([2.0, 3.0, max(mean_spend, 1e-6)]))
        theta, converged, status = fit_log_params(
            objective, self._names, x0, advice=_ADVICE
        )
        value, _ = objective(theta)
        self.params_ = dict(zip(self._names, np.exp(theta).tolist(), strict=True))
        self.log_likelihood_ = float(-(value - penalizer * float(theta @ theta)) * n)
        self.converged_ = bool(converged)
        self.status_ = status
        self.n_customers_ = int(n)
        self.n_excluded_ = int((~keep).sum())
        warn_if_not_converged(self)
        return self

    def population_mean_spend(self) -> float:
        """Mean spend per purchase across customers, p * gamma / (q - 1).

        Returns
        -------
        float
            The mean, finite only when q > 1.

        Raises
        ------
        ModelInputError
            If the fitted q <= 1: the spend distribution then has no mean.
        """
        params = require_fitted(self)
        p, q, gam = params["p"], params["q"], params["gamma"]
        if q <= 1.0:
            raise ModelInputError(
                f"the fitted q = {q:.4g} is <= 1, so the mean spend of a customer "
                "without repeat purchases is infinite; remove extreme "
                "monetary_value outliers or refit with a penalizer"
            )
        return p * gam / (q - 1.0)

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Conditional expected mean spend per purchase (note, eq. 5).

        p (gamma + x m) / (p x + q - 1): a weighted average of the population
        mean and the customer's observed mean spend m over x repeat purchases.
        Customers with frequency 0 get the population mean p gamma / (q - 1).

        Parameters
        ----------
        summary : pandas.DataFrame
            ``frequency`` and ``monetary_value`` per customer.

        Returns
        -------
        pandas.Series
            Expected spend per purchase, indexed like `summary`.

        Raises
        ------
        ModelInputError
            If some customer has frequency 0 and the fitted q <= 1.
        """
        params = require_fitted(self)
        check_summary(summary, require_monetary=True, require_timing=False)
        p, q, gam = params["p"], params["q"], params["gamma"]
        x = summary["frequency"].to_numpy(dtype=float)
        m = np.where(x > 0, summary["monetary_value"].to_numpy(dtype=float), 0.0)
        if (x == 0).any():
            self.population_mean_spend()  # raises with advice when q <= 1
        denom = p * x + q - 1.0
        if (denom <= 0).any():
            raise ModelInputError(
                f"the fitted p = {p:.4g}, q = {q:.4g} give no finite expected "
                "spend for some customers; refit with a penalizer"
            )
        spend = p * (gam + x * m) / denom
        assert np.isfinite(spend).all()
        return pd.Series(spend, index=summary.index, name="expected_spend")


def _negative_log_likelihood(
    x: np.ndarray, m: np.ndarray, penalizer: float
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Build the penalised mean negative log-likelihood and its gradient.

    Per customer, the density of the mean spend m of x purchases gives
    ln f = ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln gamma
    + (px-1) ln m + px ln x - (px+q) ln(gamma + x m).
    The returned function takes log-parameters (p, q, gamma).
    """
    n = x.size
    # Sums that do not depend on the parameters are taken once; terms of x
    # alone are evaluated per distinct x and weighted by its count.
    xu, counts = np.unique(x, return_counts=True)
    counts = counts.astype(float)
    x = np.ascontiguousarray(x)
    xm = x * m
    sum_log_m = float(np.log(m).sum())
    sum_x_log_mx = _dot(x, np.log(m) + np.log(x))
    # Work buffers reused across calls: fresh multi-megabyte temporaries
    # cost page faults that took as long as the arithmetic itself.
    log_gxm, inv_gxm = np.empty(n), np.empty(n)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gam = np.exp(theta)
        psi_pxq = digamma(p * xu + q)
        np.add(gam, xm, out=log_gxm)
        np.reciprocal(log_gxm, out=inv_gxm)
        np.log(log_gxm, out=log_gxm)
        sum_log_gxm = log_gxm.sum()
        sum_x_log_gxm = _dot(x, log_gxm)
        ll = (
            _dot(counts, gammaln(p * xu + q) - gammaln(p * xu))
            + n * (q * np.log(gam) - gammaln(q))
            + p * sum_x_log_mx
            - sum_log_m
            - p * sum_x_log_gxm
            - q * sum_log_gxm
        )
        g_p = (
            _dot(counts * xu, psi_pxq - digamma(p * xu)) + sum_x_log_mx - sum_x_log_gxm
        )
        g_q = _dot(counts, psi_pxq) + n * (np.log(gam) - digamma(q)) - sum_log_gxm
        g_g = n * q / gam - p * _dot(x, inv_gxm) - q * inv_gxm.sum()
        grad = np.array([p * g_p, q * g_q, gam * g_g])
        value = -ll / n + penalizer * float(theta @ theta)
        return float(value), -grad / n + 2.0 * penalizer * theta

    return objective


def customer_lifetime_value(
    bgnbd: BGNBD,
    gamma_gamma: GammaGamma,
    summary: pd.DataFrame,
    *,
    time_unit: str,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
) -> pd.Series:
    """Discounted value of each customer's purchases over the next months.

    CLV = sum over months k = 1..H of
    (E[purchases by month k] - E[purchases by month k-1]) * E[spend]
    / (1 + d)^k, with expectations from the fitted BG/NBD and Gamma-Gamma
    models, conditional on each customer's history.

    Parameters
    ----------
    bgnbd : BGNBD
        Fitted purchase-count model.
    gamma_gamma : GammaGamma
        Fitted spend model.
    summary : pandas.DataFrame
        ``frequency``, ``recency``, ``T``, ``monetary_value`` per customer.
    time_unit : {"days", "weeks", "months"}
        Unit of ``recency`` and ``T`` (the unit the BG/NBD was fitted in).
        A month is a fixed 30.4375 days.
    horizon_months : int, default 12
        Number of monthly steps to sum.
    discount_rate : float, default 0.01
        Discount rate per month (0.01 = 1 % a month).

    Returns
    -------
    pandas.Series
        Customer lifetime value in the currency of ``monetary_value``,
        indexed like `summary`.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({
    ...     "frequency": [0, 1, 2, 3, 1, 4, 2, 5],
    ...     "recency": [0.0, 4.0, 9.0, 15.0, 2.0, 20.0, 11.0, 24.0],
    ...     "T": [30.0, 28.0, 25.0, 26.0, 12.0, 30.0, 18.0, 26.0],
    ...     "monetary_value": [0.0, 20.0, 35.5, 18.0, 42.0, 25.0, 30.0, 22.0],
    ... })
    >>> counts = BGNBD(penalizer=0.01).fit(summary)
    >>> spend = GammaGamma(penalizer=0.01).fit(summary)
    >>> clv = customer_lifetime_value(counts, spend, summary, time_unit="weeks")
    >>> bool((clv >= 0).all())
    True
    """
    check_summary(summary, require_monetary=True)
    if (
        isinstance(horizon_months, bool)
        or not isinstance(horizon_months, (int, np.integer))
        or horizon_months < 1
    ):
        raise ModelInputError(
            f"horizon_months must be a whole number of months >= 1, not "
            f"{horizon_months!r}"
        )
    discount_rate = float(discount_rate)
    if not (np.isfinite(discount_rate) and discount_rate > -1.0):
        raise ModelInputError(
            f"discount_rate must be a finite rate per month > -1, not "
            f"{discount_rate!r} (0.01 means 1 % a month)"
        )
    step = days_per_unit("months") / days_per_unit(time_unit)
    spend = gamma_gamma.expected_spend(summary).to_numpy()
    months = np.arange(int(horizon_months) + 1)
    cumulative = bgnbd._expected_purchases_curve(months * step, summary)
    per_month = np.diff(cumulative, axis=0)  # purchases within each month
    discount = (1.0 + discount_rate) ** -months[1:]
    clv = (discount @ per_month) * spend
    assert np.isfinite(clv).all()
    return pd.Series(clv, index=summary.index, name="clv")
