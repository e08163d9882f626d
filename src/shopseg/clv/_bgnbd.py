"""BG/NBD model of repeat-purchase counts (Fader, Hardie and Lee 2005).

Reference: P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "'Counting your
customers' the easy way: an alternative to the Pareto/NBD model", Marketing
Science 24(2), 275-284. Equation numbers below refer to that paper.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from shopseg.clv._validation import check_summary
from shopseg.exceptions import ConvergenceWarning, ModelInputError, ShopsegError

__all__ = ["BGNBD"]

# Log-parameters are bounded so that a diverging fit stops at a recognisable
# value instead of overflowing; exp(+-12) spans 6e-6 .. 1.6e5.
_LOG_BOUND = 12.0
_ADVICE = (
    "try expressing times in a coarser unit (e.g. weeks instead of days) "
    "or set penalizer to a small positive value such as 0.001"
)


def fit_log_params(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    names: Sequence[str],
    x0: np.ndarray,
    advice: str = _ADVICE,
) -> tuple[np.ndarray, bool, str]:
    """Minimise `objective` over log-parameters; report convergence honestly.

    Parameters
    ----------
    objective : callable
        Maps log-parameters to (value, gradient); value is the penalised mean
        negative log-likelihood.
    names : sequence of str
        Parameter names, used in the status text.
    x0 : numpy.ndarray
        Starting log-parameters.
    advice : str, optional
        What to try when the fit fails, appended to the status.

    Returns
    -------
    theta : numpy.ndarray
        Best log-parameters found.
    converged : bool
        True when the optimiser reported success inside the bounds.
    status : str
        ``"converged"`` or a short explanation with advice.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    options = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8}
    with np.errstate(all="ignore"):
        res = minimize(
            objective,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options=options,
        )
        if not (res.success and np.isfinite(res.fun)):
            # Gradient methods can stall on a flat or badly scaled surface; a
            # derivative-free pass moves the start, then L-BFGS-B polishes.
            start = res.x if np.isfinite(res.fun) else x0
            nm = minimize(
                lambda th: objective(th)[0],
                start,
                method="Nelder-Mead",
                bounds=bounds,
                options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12},
            )
            res = minimize(
                objective,
                nm.x,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options=options,
            )
    theta = np.asarray(res.x, dtype=float)
    at_bound = [
        n for n, t in zip(names, theta, strict=True) if abs(t) >= _LOG_BOUND - 1e-3
    ]
    if not np.isfinite(res.fun):
        return theta, False, f"log-likelihood is not finite; {advice}"
    if at_bound:
        return (
            theta,
            False,
            (
                f"parameter(s) {', '.join(at_bound)} ran to the bound exp(+-"
                f"{_LOG_BOUND:g}), the data do not identify them; {advice}"
            ),
        )
    # L-BFGS-B reports an "abnormal" line-search stop when it cannot improve
    # a point that is already optimal to the tolerance asked; a vanishing
    # gradient says it is an optimum all the same.
    if not res.success and not _stationary(res):
        msg = res.message if isinstance(res.message, str) else str(res.message)
        return theta, False, f"optimizer stopped: {msg.lower()}; {advice}"
    flat = _flat_directions(objective, theta, names)
    if flat:
        # The optimiser can report success on a likelihood that is flat in
        # some direction (e.g. no repeat buyers: a and b are not informed);
        # the optimum is then arbitrary and must not be called converged.
        return (
            theta,
            False,
            (
                f"the likelihood is flat in parameter(s) {', '.join(flat)}, the data "
                f"do not identify them; {advice}"
            ),
        )
    return theta, True, "converged"


def _stationary(res, tolerance=1e-5):
    """Whether the gradient at an optimiser's stopping point is negligible."""
    jac = np.asarray(getattr(res, "jac", np.nan), dtype=float)
    return bool(np.all(np.isfinite(jac)) and np.max(np.abs(jac)) < tolerance)


def _flat_directions(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    names: Sequence[str],
    step: float = 1e-4,
    tol: float = 1e-6,
) -> list[str]:
    """Names of parameters along which the mean objective has no curvature.

    The Hessian is taken by forward differences of the analytic gradient
    (one extra evaluation per parameter). With the objective a per-customer
    mean, well-identified fits have eigenvalues of order 1e-3 and above.
    """
    k = theta.size
    base = objective(theta)[1]
    hess = np.empty((k, k))
    for i in range(k):
        shifted = theta.copy()
        shifted[i] += step
        hess[:, i] = (objective(shifted)[1] - base) / step
    if not np.isfinite(hess).all():
        return list(names)
    values, vectors = np.linalg.eigh(0.5 * (hess + hess.T))
    flat: set[str] = set()
    for value, vector in zip(values, vectors.T, strict=True):
        if value < tol:
            weights = np.abs(vector)
            top = 0.5 * weights.max()
            flat.update(n for n, w in zip(names, weights, strict=True) if w >= top)
    return [n for n in names if n in flat]


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Inner product of two vectors without BLAS.

    ``u @ v`` calls multi-threaded OpenBLAS; interleaved with the optimiser's
    own BLAS calls, its spinning worker threads made each likelihood
    evaluation 50x slower on a busy two-core machine. einsum (without
    ``optimize``) loops in one thread.
    """
    return float(np.einsum("i,i->", u, v))


def warn_if_not_converged(model: object) -> None:
    """Emit a ConvergenceWarning pointing at the line that called ``fit``.

    stacklevel 3 skips this helper and ``fit`` itself, the equivalent of
    stacklevel 2 from inside ``fit``.
    """
    if not getattr(model, "converged_", False):
        status = getattr(model, "status_", "")
        warnings.warn(
            f"{type(model).__name__} fit did not converge: {status}",
            ConvergenceWarning,
            stacklevel=3,
        )


def require_fitted(model: object) -> dict[str, float]:
    """Return the fitted parameters or raise a ShopsegError saying the fix."""
    params = getattr(model, "params_", None)
    if params is None:
        raise ShopsegError(
            f"this {type(model).__name__} is not fitted yet; call fit(summary) "
            "before predicting"
        )
    return params


def _check_horizon(t: float) -> float:
    """Return `t` as a float, refusing negative or non-finite horizons."""
    t = float(t)
    if not (np.isfinite(t) and t >= 0):
        raise ModelInputError(
            f"the prediction horizon t must be a finite number >= 0, not {t}"
        )
    return t


class BGNBD:
    """Beta-geometric/negative-binomial (BG/NBD) model of purchase counts.

    While alive, a customer buys at Poisson rate lambda ~ Gamma(r, alpha);
    after each repeat purchase they drop out with probability
    p ~ Beta(a, b). Parameters are fitted by maximum likelihood (eq. 6).

    Parameters
    ----------
    penalizer : float, default 0.0
        Weight of an L2 penalty on the log-parameters (it pulls every
        parameter towards 1), added to the mean negative log-likelihood. A
        small value (e.g. 0.001) tames fits that otherwise run off to
        extreme parameters on small or odd data.

    Attributes
    ----------
    params_ : dict of str to float
        Fitted ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Full log-likelihood (all constants included) at ``params_``, without
        the penalty; comparable with published values.
    converged_ : bool
        Whether the optimiser reported convergence inside the bounds.
    status_ : str
        ``"converged"`` or what went wrong, with advice.
    n_customers_ : int
        Number of customers the model was fitted on.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({
    ...     "frequency": [0, 1, 2, 0, 4, 1, 0, 3],
    ...     "recency": [0.0, 4.0, 9.0, 0.0, 20.0, 2.0, 0.0, 15.0],
    ...     "T": [30.0, 28.0, 25.0, 22.0, 30.0, 12.0, 18.0, 26.0],
    ... })
    >>> model = BGNBD(penalizer=0.01).fit(summary)
    >>> sorted(model.params_)
    ['a', 'alpha', 'b', 'r']
    >>> alive = model.probability_alive(summary)
    >>> bool(((alive >= 0) & (alive <= 1)).all())
    True
    >>> bool((model.expected_purchases(10, summary) >= 0).all())
    True
    """

    _names = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    # ----------------------------------------------------------------- fit
    def fit(self, summary: pd.DataFrame) -> BGNBD:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        summary : pandas.DataFrame
            One row per customer with ``frequency``, ``recency`` and ``T``
            (see :func:`shopseg.clv.check_summary`).

        Returns
        -------
        BGNBD
            The fitted model (``self``).

        Warns
        -----
        ConvergenceWarning
            If the optimiser did not converge; ``status_`` says why.
        """
        check_summary(summary)
        penalizer = float(self.penalizer)
        if not (np.isfinite(penalizer) and penalizer >= 0):
            raise ModelInputError(
                f"penalizer must be a finite number >= 0, not {self.penalizer!r}"
            )
        objective = _negative_log_likelihood(
            summary["frequency"].to_numpy(dtype=float),
            summary["recency"].to_numpy(dtype=float),
            summary["T"].to_numpy(dtype=float),
            penalizer,
        )
        n = len(summary)

        x0 = np.zeros(4)
        theta, converged, status = fit_log_params(objective, self._names, x0)
        value, _ = objective(theta)
        self.params_ = dict(zip(self._names, np.exp(theta).tolist(), strict=True))
        self.log_likelihood_ = float(-(value - penalizer * float(theta @ theta)) * n)
        self.converged_ = bool(converged)
        self.status_ = status
        self.n_customers_ = int(n)
        warn_if_not_converged(self)
        return self

    # ------------------------------------------------------------ predict
    def _arrays(self, summary: pd.DataFrame) -> tuple[np.ndarray, ...]:
        check_summary(summary)
        return (
            summary["frequency"].to_numpy(dtype=float),
            summary["recency"].to_numpy(dtype=float),
            summary["T"].to_numpy(dtype=float),
        )

    def _log_death_odds(
        self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray
    ) -> np.ndarray:
        """Log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x); -inf when x == 0.

        Kept in logs because the power overflows for frequent customers who
        have been silent for long (e.g. x = 200, t_x = 0, T large).
        """
        p = self.params_
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        repeat = x > 0
        x_rep = np.where(repeat, x, 1.0)
        with np.errstate(divide="ignore"):
            k = (
                np.log(a)
                - np.log(b + x_rep - 1.0)
                + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
            )
        return np.where(repeat, k, -np.inf)

    def probability_alive(self, summary: pd.DataFrame) -> pd.Series:
        """Probability that each customer is still active at ``T`` (eq. 13).

        Parameters
        ----------
        summary : pandas.DataFrame
            ``frequency``, ``recency``, ``T`` per customer.

        Returns
        -------
        pandas.Series
            Values in [0, 1], indexed like `summary`.
        """
        require_fitted(self)
        x, t_x, age = self._arrays(summary)
        # 1 / (1 + exp(k)) computed as expit(-k): no overflow for large k.
        alive = expit(-self._log_death_odds(x, t_x, age))
        assert np.isfinite(alive).all()
        return pd.Series(alive, index=summary.index, name="probability_alive")

    def expected_purchases(self, t: float, summary: pd.DataFrame) -> pd.Series:
        """Expected number of purchases in the next `t` periods (eq. 10).

        Parameters
        ----------
        t : float
            Horizon after each customer's ``T``, in the summary's time unit.
        summary : pandas.DataFrame
            ``frequency``, ``recency``, ``T`` per customer.

        Returns
        -------
        pandas.Series
            Conditional expectations E[Y(t) | x, t_x, T], indexed like `summary`.
        """
        value = self._expected_purchases_curve([t], summary)[0]
        return pd.Series(value, index=summary.index, name="expected_purchases")

    def _expected_purchases_curve(
        self, times: Sequence[float], summary: pd.DataFrame
    ) -> np.ndarray:
        """Eq. 10 at several horizons: array of shape (len(times), customers).

        Checks the summary and computes P(alive) once for all horizons, which
        is what a monthly CLV sum over a million customers needs.
        """
        require_fitted(self)
        times = [_check_horizon(t) for t in times]
        x, t_x, age = self._arrays(summary)
        alive = expit(-self._log_death_odds(x, t_x, age))
        curve = np.empty((len(times), x.size))
        for row, t in enumerate(times):
            curve[row] = _conditional_expectation(self.params_, t, x, age) * alive
        assert np.isfinite(curve).all()
        return curve

    def expected_purchases_new(self, t: float) -> float:
        """Expected number of repeat purchases by a new customer in `t` (eq. 9).

        Parameters
        ----------
        t : float
            Time since the first purchase, in the fitted data's time unit.

        Returns
        -------
        float
            Unconditional E[X(t)].
        """
        require_fitted(self)
        t = _check_horizon(t)
        zero = np.zeros(1)
        value = _conditional_expectation(self.params_, t, zero, zero)
        assert np.isfinite(value).all()
        return float(value[0])


def _negative_log_likelihood(
    x: np.ndarray, t_x: np.ndarray, age: np.ndarray, penalizer: float
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Build the penalised mean negative log-likelihood of eq. 6 and its gradient.

    Per customer, ln L = ln Gamma(r+x) - ln Gamma(r) + r ln alpha
    + ln B(a, b+x) - ln B(a, b) - (r+x) ln(alpha+T) + ln(1 + delta(x>0) e^d),
    with d = ln(a/(b+x-1)) - (r+x) ln((alpha+t_x)/(alpha+T)) the log-ratio of
    the "dropped out after the last purchase" branch to the "still alive"
    one; e^d / (1 + e^d) is that branch's weight w in the gradient.

    The returned function takes log-parameters (r, alpha, a, b).
    """
    n = x.size
    # Frequencies are integers with few distinct values: terms that depend
    # on x alone are summed as count * f(distinct x), and the per-customer
    # work is restricted to a few cheap array operations. This is what makes
    # a fit on a million customers take seconds.
    xu, counts = np.unique(x, return_counts=True)
    counts = counts.astype(float)
    x = np.ascontiguousarray(x)
    age = np.ascontiguousarray(age)
    # Repeat customers sorted by x, so per-x sums of their weights are one
    # reduceat over contiguous runs.
    repeat = np.flatnonzero(x > 0)
    order = repeat[np.argsort(x[repeat], kind="stable")]
    xr, t_xr, age_r = x[order], t_x[order], age[order]
    xru, starts, counts_r = np.unique(xr, return_index=True, return_counts=True)
    inv_r = np.repeat(np.arange(xru.size), counts_r)
    gap = age_r - t_xr
    # Work buffers reused across calls: fresh multi-megabyte temporaries
    # cost page faults that took as long as the arithmetic itself.
    nb1, nb2 = np.empty(n), np.empty(n)
    rb1, rb2, rb3, rb4, rb5 = (np.empty(xr.size) for _ in range(5))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(theta)
        psi_ab = digamma(a + b)
        psi_abx = digamma(a + b + xu)
        # Terms of x alone (weighted by how many customers share each x).
        ll = _dot(
            counts, gammaln(r + xu) - gammaln(r) + betaln(a, b + xu) - betaln(a, b)
        )
        g_r = _dot(counts, digamma(r + xu)) - n * digamma(r) + n * np.log(alpha)
        g_a = n * psi_ab - _dot(counts, psi_abx)
        g_b = _dot(counts, digamma(b + xu) - psi_abx) + n * (psi_ab - digamma(b))
        # Every customer: r ln alpha - (r+x) ln(alpha+T).
        np.add(alpha, age, out=nb1)
        np.reciprocal(nb1, out=nb2)  # 1 / (alpha+T)
        np.log(nb1, out=nb1)  # ln(alpha+T)
        sum_log_at = nb1.sum()
        ll += n * r * np.log(alpha) - r * sum_log_at - _dot(x, nb1)
        g_r -= sum_log_at
        g_alpha = n * r / alpha - r * nb2.sum() - _dot(x, nb2)
        # Repeat customers only: the second branch, through d and w.
        np.add(alpha, t_xr, out=rb1)
        np.add(alpha, age_r, out=rb2)
        np.multiply(rb1, rb2, out=rb3)
        np.divide(gap, rb3, out=rb3)  # 1/(alpha+t_x) - 1/(alpha+T)
        np.divide(rb1, rb2, out=rb1)
        np.log(rb1, out=rb1)  # dl = ln((alpha+t_x)/(alpha+T)) <= 0
        np.add(xr, r, out=rb2)  # r + x
        np.multiply(rb2, rb1, out=rb4)
        log_ratio = np.log(a) - np.log(b + xru - 1.0)  # b + x - 1 > 0 here
        np.take(log_ratio, inv_r, out=rb5)
        np.subtract(rb5, rb4, out=rb4)  # d
        # ln(1 + e^d) = max(d, 0) + ln(1 + e^-|d|), never overflows.
        np.abs(rb4, out=rb5)
        ll += 0.5 * (rb4.sum() + rb5.sum())
        np.negative(rb5, out=rb5)
        np.exp(rb5, out=rb5)
        np.log1p(rb5, out=rb5)
        ll += rb5.sum()
        expit(rb4, out=rb5)  # w, weight of "dropped out after last purchase"
        g_r -= _dot(rb5, rb1)
        np.multiply(rb2, rb5, out=rb1)
        g_alpha -= _dot(rb1, rb3)
        g_a += rb5.sum() / a
        if xr.size:
            g_b -= _dot(np.add.reduceat(rb5, starts), 1.0 / (b + xru - 1.0))
        grad = np.array([r * g_r, alpha * g_alpha, a * g_a, b * g_b])
        value = -ll / n + penalizer * float(theta @ theta)
        return float(value), -grad / n + 2.0 * penalizer * theta

    return objective


def _conditional_expectation(
    params: dict[str, float], t: float, x: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Eq. 10 without its alive-probability denominator.

    (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
    * 2F1(r+x, b+x; a+b+x-1; z)], with z = t/(alpha+T+t).

    The 2F1 term grows like (1-z)^(a-1-r-x) and overflows for large x while
    the power underflows. Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) folds the power in:
    the bracket becomes 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose
    series has a small second parameter and converges at z = 1.
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    if abs(a - 1.0) < 1e-7:
        # (a-1) cancels between prefactor and bracket; the function is smooth
        # in a, so evaluating beside the removable singularity is exact to
        # ~1e-7 relative.
        a = 1.0 + 1e-7 if a >= 1.0 else 1.0 - 1e-7
    c = a + b + x - 1.0
    log1mz = np.log(alpha + age) - np.log(alpha + age + t)  # log(1 - z)
    z = -np.expm1(log1mz)
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    bad = ~np.isfinite(hyp)
    if bad.any():
        hyp[bad] = _hyp2f1_series(a + b - 1.0 - r, a - 1.0, c[bad], z[bad])
    # 1 - (1-z)^(a-1) F, with the power kept in logs; -expm1 keeps precision
    # when the product is close to 1 (short horizons).
    with np.errstate(divide="ignore", invalid="ignore"):
        bracket = np.where(
            hyp > 0,
            -np.expm1((a - 1.0) * log1mz + np.log(np.where(hyp > 0, hyp, 1.0))),
            1.0 - np.exp((a - 1.0) * log1mz) * hyp,
        )
    return (c / (a - 1.0)) * bracket


def _hyp2f1_series(
    a: float, b: float, c: np.ndarray, z: np.ndarray, terms: int = 20000
) -> np.ndarray:
    """Gauss series for 2F1, vectorised; fallback where scipy returns inf/nan.

    Converges for 0 <= z < 1, which always holds here (z = t/(alpha+T+t));
    terms are summed until they stop changing the total in double precision.
    """
    total = np.ones_like(z)
    term = np.ones_like(z)
    active = np.ones(z.shape, dtype=bool)
    for k in range(terms):
        term = np.where(active, term * (a + k) * (b + k) / ((c + k) * (k + 1)) * z, 0)
        total += term
        active &= np.abs(term) > 1e-16 * np.abs(total)
        if not active.any():
            break
    return total
