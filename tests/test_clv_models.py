"""Tests of shopseg.clv: golden values from the literature and input checks."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from shopseg.clv import (
    BGNBD,
    TIME_UNITS,
    GammaGamma,
    check_summary,
    customer_lifetime_value,
    days_per_unit,
)
from shopseg.exceptions import ConvergenceWarning, ModelInputError, ShopsegError

FHL_BGNBD = "Fader, Hardie and Lee (2005), Marketing Science 24(2), 275-284"
FHL_GG = "Fader, Hardie and Lee (2005), note 'The Gamma-Gamma model of monetary value'"


def _shared_data() -> Path:
    env = os.environ.get("SHOPSEG_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _read(name: str) -> pd.DataFrame:
    path = _shared_data() / "cdnow" / name
    if not path.exists():
        pytest.skip(
            f"CDNOW sample {path} is absent; set SHOPSEG_SHARED_DATA to the folder "
            "holding cdnow/"
        )
    return pd.read_csv(path, index_col="ID")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """CDNOW summary (weeks) with monetary_value, as in FHL's spreadsheets."""
    frame = _read("cdnow_customers_summary_with_transactions.csv")
    return frame.rename(
        columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BGNBD:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return BGNBD().fit(cdnow[["frequency", "recency", "T"]])


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: pd.DataFrame) -> GammaGamma:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return GammaGamma().fit(cdnow)


def _simulate(n: int, seed: int) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma generative process with CDNOW-like parameters."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.243, 1 / 4.414, n)
    drop = rng.beta(0.793, 2.426, n)
    age = rng.uniform(27.0, 39.0, n)
    arrivals = rng.poisson(lam * age)
    x = np.minimum(arrivals, rng.geometric(drop))
    rep = x > 0
    t_x = np.zeros(n)
    # Given k arrivals in (0, T], the j-th is T * Beta(j, k - j + 1).
    t_x[rep] = age[rep] * rng.beta(x[rep], arrivals[rep] - x[rep] + 1)
    nu = rng.gamma(3.74, 1 / 15.44, n)
    spend = np.zeros(n)
    spend[rep] = rng.gamma(6.25 * x[rep], 1 / (nu[rep] * x[rep]))
    return pd.DataFrame(
        {"frequency": x, "recency": t_x, "T": age, "monetary_value": spend}
    )


# ------------------------------------------------------------ golden values
def test_cdnow_sample_files_agree() -> None:
    """The two CDNOW summaries (FHL 2005 spreadsheets) hold the same customers."""
    plain = _read("cdnow_customers_summary.csv")
    rich = _read("cdnow_customers_summary_with_transactions.csv")
    assert len(plain) == 2357
    np.testing.assert_array_equal(plain["frequency"], rich["x"])
    np.testing.assert_allclose(plain["recency"], rich["t_x"])


def test_bgnbd_reproduces_published_cdnow_fit() -> None:
    """BG/NBD on CDNOW: r, alpha, a, b and LL from Fader, Hardie and Lee (2005).

    Source: "'Counting your customers' the easy way", Marketing Science
    24(2), table of estimates: r = 0.243, alpha = 4.414, a = 0.793,
    b = 2.426, LL = -9582.4 (full likelihood, constants included).
    """
    summary = _read("cdnow_customers_summary.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = BGNBD().fit(summary)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=0.01), name
    assert model.log_likelihood_ == pytest.approx(-9582.4, rel=0.01)
    # Tighter than required: the definition of the LL matches to the decimal.
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert model.converged_ and model.status_ == "converged"
    assert model.n_customers_ == 2357


def test_gamma_gamma_reproduces_published_cdnow_fit(
    gamma_gamma: GammaGamma,
) -> None:
    """Gamma-Gamma on CDNOW repeat buyers: p, q, gamma from FHL (2005) note.

    Source: Fader, Hardie and Lee (2005), "The Gamma-Gamma model of monetary
    value": p = 6.25, q = 3.74, gamma = 15.44 on the 946 repeat customers.
    """
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert gamma_gamma.params_[name] == pytest.approx(value, rel=0.01), name
    assert gamma_gamma.n_customers_ == 946
    assert gamma_gamma.n_excluded_ == 2357 - 946
    assert gamma_gamma.converged_


def test_expected_purchases_match_eq10_directly(
    bgnbd: BGNBD, cdnow: pd.DataFrame
) -> None:
    """Stable eq. 10 equals the textbook form of FHL (2005) where that is finite.

    Source: Fader, Hardie and Lee (2005), eq. 10, evaluated literally with
    scipy.special.hyp2f1 on the CDNOW customers, where it does not overflow.
    """
    p = bgnbd.params_
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    x = cdnow["frequency"].to_numpy(float)
    t_x = cdnow["recency"].to_numpy(float)
    age = cdnow["T"].to_numpy(float)
    for t in (1.0, 39.0, 78.0):
        z = t / (alpha + age + t)
        bracket = 1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        death = (x > 0) * a / (b + x - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x)
        literal = (a + b + x - 1) / (a - 1) * bracket / (1 + death)
        ours = bgnbd.expected_purchases(t, cdnow).to_numpy()
        np.testing.assert_allclose(ours, literal, rtol=1e-8)


def test_expected_purchases_new_is_conditional_at_time_zero(bgnbd: BGNBD) -> None:
    """E[X(t)] (FHL 2005 eq. 9) is eq. 10 for x = t_x = 0 and T -> 0."""
    fresh = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [1e-12]})
    for t in (0.5, 39.0, 520.0):
        new = bgnbd.expected_purchases_new(t)
        assert new == pytest.approx(bgnbd.expected_purchases(t, fresh).iloc[0])
    values = [bgnbd.expected_purchases_new(t) for t in (0, 10, 39, 78)]
    assert values[0] == 0 and np.all(np.diff(values) > 0)


def test_cdnow_probability_alive_in_unit_interval(
    bgnbd: BGNBD, cdnow: pd.DataFrame
) -> None:
    """P(alive) (FHL 2005 eq. 13) is a probability; 1 for non-repeaters."""
    alive = bgnbd.probability_alive(cdnow)
    assert alive.between(0.0, 1.0).all()
    assert (alive[cdnow["frequency"] == 0] == 1.0).all()
    assert alive.index.equals(cdnow.index)


def test_simulated_customers_recover_parameters() -> None:
    """Fixed-seed draws from the BG/NBD and Gamma-Gamma processes (FHL 2005).

    Source: the generative processes of Fader, Hardie and Lee (2005), both
    papers; 60,000 customers recover the parameters to within 10 %.
    """
    summary = _simulate(60_000, seed=7)
    counts = BGNBD().fit(summary)
    spend = GammaGamma().fit(summary)
    truth = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in truth.items():
        assert counts.params_[name] == pytest.approx(value, rel=0.1), name
    truth = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in truth.items():
        assert spend.params_[name] == pytest.approx(value, rel=0.1), name


# -------------------------------------------------------------- stability
def test_predictions_finite_on_extreme_inputs(bgnbd: BGNBD) -> None:
    """Extreme customers where eq. 10 taken literally overflows (FHL 2005)."""
    extreme = pd.DataFrame(
        {
            "frequency": [200, 200, 200, 0, 0, 1, 5000],
            "recency": [0.0, 1e6, 5.0, 0.0, 0.0, 1e-9, 9.0],
            "T": [1e6, 1e6, 10.0, 1e6, 1e-9, 1e6, 10.0],
        }
    )
    alive = bgnbd.probability_alive(extreme)
    assert np.isfinite(alive).all() and alive.between(0, 1).all()
    for t in (0.0, 1.0, 39.0, 1e6, 1e12):
        expected = bgnbd.expected_purchases(t, extreme)
        assert np.isfinite(expected).all() and (expected >= 0).all(), t
    assert (bgnbd.expected_purchases(0.0, extreme) == 0).all()
    # A 200-purchase customer silent for a million weeks is as good as gone.
    assert bgnbd.expected_purchases(52.0, extreme).iloc[0] < 1e-100


def test_a_equal_one_is_handled() -> None:
    """Eq. 10 has a removable singularity at a = 1 (FHL 2005, (a - 1) term)."""
    summary = pd.DataFrame(
        {"frequency": [0, 3], "recency": [0.0, 20.0], "T": [30.0, 30.0]}
    )
    at_one, beside = BGNBD(), BGNBD()
    at_one.params_ = {"r": 0.5, "alpha": 5.0, "a": 1.0, "b": 2.0}
    beside.params_ = {"r": 0.5, "alpha": 5.0, "a": 1.0 + 1e-4, "b": 2.0}
    np.testing.assert_allclose(
        at_one.expected_purchases(10.0, summary),
        beside.expected_purchases(10.0, summary),
        rtol=1e-3,
    )


def test_non_convergence_warns_and_sets_status() -> None:
    """No repeat purchases at all: r runs to 0, the fit must warn, not raise."""
    summary = pd.DataFrame(
        {
            "frequency": [0] * 5,
            "recency": [0.0] * 5,
            "T": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    with pytest.warns(ConvergenceWarning, match="did not converge") as record:
        model = BGNBD().fit(summary)
    assert record[0].filename == __file__  # stacklevel points at the caller
    assert model.converged_ is False
    assert "penalizer" in model.status_ and "unit" in model.status_
    assert np.isfinite(model.probability_alive(summary)).all()


def test_predict_before_fit_says_fix() -> None:
    """An unfitted model refuses to predict with a message saying the fix."""
    summary = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [1.0]})
    with pytest.raises(ShopsegError, match=r"call fit\(summary\)"):
        BGNBD().probability_alive(summary)


# ------------------------------------------------------------- Gamma-Gamma
def test_gamma_gamma_excludes_non_repeaters() -> None:
    """Only frequency > 0 and monetary_value > 0 enter the fit (FHL 2005 note)."""
    summary = pd.DataFrame(
        {
            "frequency": [0, 0, 1, 2, 3, 4, 1, 2, 5],
            "monetary_value": [0.0, 0.0, 0.0, 10.0, 12.0, 30.0, 8.0, 21.0, 15.0],
        },
        index=[f"c{i}" for i in range(9)],
    )
    model = GammaGamma(penalizer=0.01).fit(summary)
    assert model.n_excluded_ == 3
    assert model.n_customers_ == 6


def test_expected_spend_shrinks_towards_population_mean(
    gamma_gamma: GammaGamma, cdnow: pd.DataFrame
) -> None:
    """Eq. 5 of the FHL (2005) Gamma-Gamma note: a weighted average."""
    spend = gamma_gamma.expected_spend(cdnow)
    mean = gamma_gamma.population_mean_spend()
    p = gamma_gamma.params_
    assert mean == pytest.approx(p["p"] * p["gamma"] / (p["q"] - 1))
    np.testing.assert_allclose(spend[cdnow["frequency"] == 0], mean, rtol=1e-12)
    repeat = cdnow[cdnow["frequency"] > 0]
    low = np.minimum(repeat["monetary_value"], mean)
    high = np.maximum(repeat["monetary_value"], mean)
    inner = spend[repeat.index]
    assert ((inner >= low - 1e-9) & (inner <= high + 1e-9)).all()


def test_population_mean_refused_when_q_at_most_one() -> None:
    """With q <= 1 the Gamma-Gamma mean spend is infinite: refuse, say why."""
    model = GammaGamma()
    model.params_ = {"p": 2.0, "q": 0.9, "gamma": 10.0}
    summary = pd.DataFrame({"frequency": [0, 3], "monetary_value": [0.0, 5.0]})
    with pytest.raises(ModelInputError, match=r"q = 0\.9 is <= 1"):
        model.expected_spend(summary)


def test_gamma_gamma_without_repeat_buyers_is_refused() -> None:
    """Spend is learnt from repeat purchases only (FHL 2005 note)."""
    summary = pd.DataFrame({"frequency": [0, 0], "monetary_value": [0.0, 0.0]})
    with pytest.raises(ModelInputError, match="frequency > 0 and monetary_value"):
        GammaGamma().fit(summary)


# --------------------------------------------------------------------- CLV
def test_clv_one_month_undiscounted_is_purchases_times_spend(
    bgnbd: BGNBD, gamma_gamma: GammaGamma, cdnow: pd.DataFrame
) -> None:
    """CLV sums monthly expected purchases (FHL 2005 eq. 10) times spend."""
    one = customer_lifetime_value(
        bgnbd,
        gamma_gamma,
        cdnow,
        time_unit="weeks",
        horizon_months=1,
        discount_rate=0.0,
    )
    weeks = days_per_unit("months") / days_per_unit("weeks")
    direct = bgnbd.expected_purchases(weeks, cdnow) * gamma_gamma.expected_spend(cdnow)
    np.testing.assert_allclose(one, direct, rtol=1e-12)
    year = customer_lifetime_value(bgnbd, gamma_gamma, cdnow, time_unit="weeks")
    cheap = customer_lifetime_value(
        bgnbd, gamma_gamma, cdnow, time_unit="weeks", discount_rate=0.0
    )
    assert np.isfinite(year).all() and (year >= 0).all()
    assert (year <= cheap + 1e-12).all() and (year >= one - 1e-12).all()
    assert year.name == "clv" and year.index.equals(cdnow.index)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_unit": "years"}, "time unit 'years' is not supported"),
        ({"time_unit": "weeks", "horizon_months": 0}, "horizon_months"),
        ({"time_unit": "weeks", "horizon_months": 2.5}, "horizon_months"),
        ({"time_unit": "weeks", "discount_rate": -1.0}, "discount_rate"),
    ],
    ids=["unit", "zero-horizon", "fractional-horizon", "discount"],
)
def test_clv_refuses_bad_options(
    bgnbd: BGNBD, gamma_gamma: GammaGamma, cdnow: pd.DataFrame, kwargs, match
) -> None:
    """Options outside their domain are refused with ModelInputError."""
    with pytest.raises(ModelInputError, match=match):
        customer_lifetime_value(bgnbd, gamma_gamma, cdnow, **kwargs)


# ------------------------------------------------------------- validation
def test_days_per_unit_refuses_other_units() -> None:
    """Only days, weeks and fixed 30.4375-day months are supported."""
    assert days_per_unit("days") == 1.0
    assert days_per_unit("weeks") == 7.0
    assert days_per_unit("months") == 30.4375
    assert set(TIME_UNITS) == {"days", "weeks", "months"}
    with pytest.raises(
        ModelInputError,
        match=r"time unit 'fortnights' is not supported; use one of 'days', "
        r"'weeks', 'months'",
    ):
        days_per_unit("fortnights")


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": [0, 2, 5, 1],
            "recency": [0.0, 10.0, 30.0, 2.0],
            "T": [12.0, 35.0, 35.0, 20.0],
            "monetary_value": [0.0, 12.5, 30.0, 8.0],
        },
        index=pd.Index([12345, 12346, 12347, 12348], name="customer_id"),
    )


def test_check_summary_accepts_good_summary() -> None:
    """A consistent summary passes every rule."""
    assert check_summary(_good(), require_monetary=True) is None


def _with(column: str, values: list) -> pd.DataFrame:
    frame = _good()
    frame[column] = values
    return frame


@pytest.mark.parametrize(
    ("summary", "kwargs", "match"),
    [
        (_good().drop(columns="T"), {}, r"lacks column\(s\) \['T'\]"),
        (
            _good().drop(columns="monetary_value"),
            {"require_monetary": True},
            r"lacks column\(s\) \['monetary_value'\]",
        ),
        (
            _with("recency", [0.0, float("nan"), 30.0, 2.0]),
            {},
            r"column 'recency' must be finite .* customer '12346' has recency nan "
            r"\(1 customer breaks this rule\)",
        ),
        (
            _with("frequency", [0, -2, 5, 1]),
            {},
            r"column 'frequency' must be >= 0, but customer '12346'",
        ),
        (
            _with("frequency", [0, 2.5, 5, 1]),
            {},
            r"column 'frequency' must be integer-valued, but customer '12346' "
            r"has frequency 2.5",
        ),
        (
            _with("T", [12.0, 0.0, -1.0, 20.0]),
            {},
            r"column 'T' must be > 0, but customer '12346' has T 0.0 "
            r"\(2 customers break this rule\)",
        ),
        (
            _with("recency", [0.0, 40.0, 36.0, 2.0]),
            {},
            r"column 'recency' must be <= T, but customer '12346' has recency "
            r"40.0 > T 35.0 \(2 customers break this rule\); recompute the "
            r"summary with one observation end",
        ),
        (
            _with("recency", [0.0, -1.0, 30.0, 2.0]),
            {},
            r"column 'recency' must be >= 0, but customer '12346'",
        ),
        (
            _with("recency", [3.0, 10.0, 30.0, 2.0]),
            {},
            r"column 'recency' must be 0 when frequency is 0, but customer "
            r"'12345' has frequency 0 and recency 3.0",
        ),
        (
            _with("monetary_value", [0.0, -5.0, 30.0, 8.0]),
            {"require_monetary": True},
            r"column 'monetary_value' must be >= 0, but customer '12346'",
        ),
        (
            _with("frequency", ["0", "2", "5", "1"]),
            {},
            r"column 'frequency' must be numeric",
        ),
        (_good().iloc[:0], {}, "no customers"),
        (
            _good().set_axis([1, 1, 2, 3]),
            {},
            r"unique customer ids, but customer '1' appears more than once",
        ),
        (_good().to_numpy(), {}, "must be a pandas DataFrame"),
    ],
    ids=[
        "missing-T",
        "missing-monetary",
        "nan-recency",
        "negative-frequency",
        "fractional-frequency",
        "non-positive-T",
        "recency-after-T",
        "negative-recency",
        "recency-without-repeat",
        "negative-monetary",
        "text-frequency",
        "empty",
        "duplicate-ids",
        "not-a-frame",
    ],
)
def test_check_summary_refuses(summary, kwargs, match) -> None:
    """Each broken invariant names column, rule, first customer and count."""
    with pytest.raises(ModelInputError, match=match):
        check_summary(summary, **kwargs)


def test_fits_check_their_input_first() -> None:
    """Both fit methods run check_summary before touching the optimiser."""
    bad = _with("recency", [0.0, 40.0, 36.0, 2.0])
    with pytest.raises(ModelInputError, match="must be <= T"):
        BGNBD().fit(bad)
    with pytest.raises(ModelInputError, match="must be <= T"):
        GammaGamma().fit(bad)
    with pytest.raises(ModelInputError, match="penalizer"):
        BGNBD(penalizer=-1.0).fit(_good())


def test_hyp2f1_fallback_series_matches_scipy() -> None:
    """The Gauss-series fallback for 2F1 (Abramowitz and Stegun 15.1.1)."""
    from shopseg.clv._bgnbd import _hyp2f1_series

    c = np.array([2.5, 10.0, 200.0, 3.0])
    z = np.array([0.1, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(
        _hyp2f1_series(1.7, -0.2, c, z), hyp2f1(1.7, -0.2, c, z), rtol=1e-10
    )


def test_gamma_gamma_non_convergence_warns_with_spend_advice() -> None:
    """One repeat buyer cannot identify p, q and gamma: warn, do not raise."""
    summary = pd.DataFrame({"frequency": [0, 3], "monetary_value": [0.0, 20.0]})
    with pytest.warns(ConvergenceWarning, match="monetary_value") as record:
        model = GammaGamma().fit(summary)
    assert record[0].filename == __file__
    assert model.converged_ is False and "penalizer" in model.status_
    assert np.isfinite(model.log_likelihood_)
