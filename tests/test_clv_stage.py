"""Tests of the CLV stage: holdout split, forecasts, baselines and metrics."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

import shopseg
from shopseg.clv import (
    FREQUENCY_GROUPS,
    HOLDOUT_MODELS,
    calibration_holdout,
    clv_stage,
    evaluate_holdout,
    fit_clv_models,
    holdout_metrics,
    holdout_table,
    holdout_window,
    predict_customers,
    run_clv,
    update_metrics,
)
from shopseg.exceptions import (
    ConvergenceWarning,
    DegenerateDataWarning,
    ModelInputError,
    ObservationEndWarning,
    ShopsegError,
)
from shopseg.features import summary_data

PREDICTION_COLUMNS = [
    "expected_purchases",
    "probability_alive",
    "expected_spend",
    "clv_12m",
]


def make_store(purchases, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A connection whose ``clean_lines`` holds (customer, invoice, time, amount).

    With ``threads=1`` DuckDB adds in one fixed order, so sums (and every fit
    on them) are reproducible to the last bit.
    """
    frame = pd.DataFrame(
        purchases, columns=["customer_id", "invoice", "invoice_date", "amount"]
    )
    frame["invoice_date"] = pd.to_datetime(frame["invoice_date"])
    con = duckdb.connect()
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    con.register("_frame", frame)
    con.execute("CREATE TABLE clean_lines AS SELECT * FROM _frame")
    con.unregister("_frame")
    return con


def simulate_lines(n: int = 300, seed: int = 11) -> list[tuple]:
    """Purchase lines of `n` customers over 2010-2011 from a BG/NBD process.

    Each customer joins in the first 300 days, buys at a Gamma(0.8, 1/40)
    daily rate and drops out after each purchase with a Beta(1, 4)
    probability; spend is Gamma-distributed around a customer mean.
    """
    rng = np.random.default_rng(seed)
    start, days = pd.Timestamp("2010-01-01"), 730
    rows = []
    for i in range(n):
        rate = rng.gamma(0.8, 1 / 40)
        drop = rng.beta(1.0, 4.0)
        mean_spend = rng.gamma(4.0, 10.0)
        t = float(rng.uniform(0, 300))
        k = 0
        while t < days:
            when = start + pd.Timedelta(days=t)
            amount = round(float(rng.gamma(5.0, mean_spend / 5.0)) + 0.01, 2)
            rows.append((f"c{i:04d}", f"{i}-{k}", when, amount))
            k += 1
            if rng.uniform() < drop:
                break
            t += rng.exponential(1 / rate)
    return rows


@pytest.fixture
def toy():
    """Four customers around a cut-off on 2011-03-31 with a 30-day holdout."""
    con = make_store(
        [
            # a: two calibration days (two orders on 2011-02-07), two holdout
            # days (two orders on 2011-04-05), one line after the holdout.
            ("a", "1", "2011-01-03 10:00", 10.0),
            ("a", "2", "2011-02-07 09:00", 20.0),
            ("a", "3", "2011-02-07 16:00", 5.0),
            ("a", "4", "2011-04-05 10:00", 30.0),
            ("a", "5", "2011-04-05 18:00", 7.0),
            ("a", "6", "2011-04-30 23:59", 8.0),
            ("a", "7", "2011-05-01 00:01", 100.0),
            # b: first seen late on the cut-off day, so T = 0.
            ("b", "8", "2011-03-31 23:00", 12.0),
            # c: first seen in the holdout, so not a calibration customer.
            ("c", "9", "2011-04-10 10:00", 50.0),
            # d: two calibration days, nothing in the holdout.
            ("d", "10", "2011-01-15 10:00", 40.0),
            ("d", "11", "2011-03-01 10:00", 60.0),
        ]
    )
    yield con
    con.close()


@pytest.fixture(scope="module")
def simulated():
    """A connection holding ~300 simulated customers' lines."""
    con = make_store(simulate_lines())
    yield con
    con.close()


# ------------------------------------------------------------ the split
def test_holdout_split_is_hand_computed(toy) -> None:
    """Purchases after the cut-off stay out of the calibration summary."""
    split = calibration_holdout(
        toy, cutoff="2011-03-31", holdout_days=30, time_unit="days"
    )
    assert list(split.index) == ["a", "b", "d"]  # c starts in the holdout

    a = split.loc["a"]
    assert a["frequency"] == 1  # 2011-01-03 and 2011-02-07
    assert a["recency"] == 35
    assert a["T"] == 87
    assert a["monetary_value"] == pytest.approx(25.0)  # not 30 + 7 of April
    assert a["spend"] == pytest.approx(35.0)
    assert a["orders"] == 3
    assert a["recency_days"] == 52
    # 2011-04-05 (two orders) and 2011-04-30 23:59; 2011-05-01 is after.
    assert a["holdout_purchases"] == 2
    assert a["holdout_spend"] == pytest.approx(45.0)

    b = split.loc["b"]
    assert (b["frequency"], b["recency"], b["T"]) == (0, 0, 0)
    assert (b["holdout_purchases"], b["holdout_spend"]) == (0, 0)

    d = split.loc["d"]
    assert (d["frequency"], d["recency"], d["T"]) == (1, 45, 75)
    assert (d["holdout_purchases"], d["holdout_spend"]) == (0, 0)


def test_holdout_counts_are_summary_frequency_differences(simulated) -> None:
    """Holdout purchases = repeat purchases gained between cut-off and end."""
    split = calibration_holdout(simulated, holdout_days=90)
    cutoff, end = holdout_window(simulated, holdout_days=90)
    after = summary_data(simulated, observation_end=end).loc[split.index]
    gained = after["frequency"] - split["frequency"]
    np.testing.assert_array_equal(gained, split["holdout_purchases"])
    assert split["holdout_purchases"].sum() > 0
    assert end - cutoff == pd.Timedelta(days=90)


def test_holdout_split_in_weeks(toy) -> None:
    split = calibration_holdout(
        toy, cutoff="2011-03-31", holdout_days=30, time_unit="weeks"
    )
    assert split.loc["a", "T"] == pytest.approx(87 / 7)
    assert split.loc["a", "recency"] == pytest.approx(35 / 7)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"cutoff": "2011-04-15", "holdout_days": 30}, "after the last day"),
        ({"cutoff": "2010-12-01", "holdout_days": 30}, "before the first"),
        ({"holdout_days": 0}, "holdout_days must be"),
        ({"holdout_days": 7.5}, "holdout_days must be"),
        ({"cutoff": "not a day"}, "cutoff must be a date"),
    ],
    ids=["holdout-past-end", "cutoff-before-data", "zero-days", "float", "bad"],
)
def test_holdout_window_refuses_bad_options(toy, options, match) -> None:
    with pytest.raises(ModelInputError, match=match):
        holdout_window(toy, **options)


def test_default_cutoff_is_end_minus_holdout(toy) -> None:
    cutoff, end = holdout_window(toy, holdout_days=30)
    assert end == pd.Timestamp("2011-05-01")
    assert cutoff == pd.Timestamp("2011-04-01")


# ------------------------------------------------------------ the metrics
def test_holdout_metrics_on_toy_example() -> None:
    """errors (0.5, 0, -1) against actual (0, 1, 3), computed by hand."""
    scores = holdout_metrics([0, 1, 3], [0.5, 1, 2])
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["rmse"] == pytest.approx(np.sqrt(1.25 / 3))
    assert scores["total_rel_error"] == pytest.approx(-0.125)
    assert np.isnan(holdout_metrics([0, 0], [1, 0])["total_rel_error"])
    with pytest.raises(ModelInputError, match="one length"):
        holdout_metrics([1, 2], [1])


def test_evaluation_tables_follow_their_definitions(simulated) -> None:
    """The table is holdout_metrics of the per-customer columns; naive is
    frequency / T times the holdout; groups are 0..6 and 7+."""
    result = evaluate_holdout(simulated, holdout_days=90, time_unit="weeks")
    customers, table = result["customers"], result["table"]
    assert list(table["model"]) == list(HOLDOUT_MODELS)

    for row in table.itertuples():
        for target in ("purchases", "spend"):
            expected = holdout_metrics(
                customers[f"actual_{target}"], customers[f"{row.model}_{target}"]
            )
            for name, value in expected.items():
                assert getattr(row, f"{target}_{name}") == pytest.approx(value)

    split = calibration_holdout(simulated, holdout_days=90, time_unit="weeks")
    rate = np.where(split["T"] > 0, split["frequency"] / split["T"], 0.0)
    np.testing.assert_allclose(customers["naive_purchases"], rate * 90 / 7)
    np.testing.assert_allclose(
        customers["naive_spend"], rate * 90 / 7 * split["mean_day_spend"]
    )

    groups = result["by_frequency"]
    assert list(groups["frequency"]) == list(FREQUENCY_GROUPS)
    assert groups["customers"].sum() == len(customers)
    top = customers[customers["frequency"] >= 7]
    last = groups.iloc[-1]
    assert last["customers"] == len(top)
    assert last["actual"] == pytest.approx(top["actual_purchases"].mean())
    assert last["bgnbd"] == pytest.approx(top["bgnbd_purchases"].mean())


# -------------------------------------------------------- no leakage
def _holdout_changed(rows: list[tuple], cutoff: pd.Timestamp) -> list[tuple]:
    """Every holdout line 100 times dearer, and a new purchase each week."""
    changed = [
        (c, i, t, a * 100 if t >= cutoff + pd.Timedelta(days=1) else a)
        for c, i, t, a in rows
    ]
    for customer in sorted({c for c, _, t, _ in rows if t < cutoff}):
        for week in range(12):
            when = cutoff + pd.Timedelta(days=1 + 7 * week, hours=12)
            changed.append((customer, f"x{customer}{week}", when, 1_000.0))
    return changed


def test_no_model_sees_the_holdout() -> None:
    """Rewriting the holdout changes the actuals, never a forecast."""
    rows = simulate_lines(seed=5)
    original = make_store(rows, threads=1)
    end = pd.Timestamp(max(t for _, _, t, _ in rows)).normalize()
    cutoff = end - pd.Timedelta(days=90)
    changed = make_store(_holdout_changed(rows, cutoff), threads=1)
    options = {"cutoff": cutoff, "holdout_days": 90, "random_state": 3}

    before = evaluate_holdout(original, **options)["customers"]
    after = evaluate_holdout(changed, **options)["customers"]

    assert (after["actual_purchases"] >= 12).all()  # the holdout did change
    assert not np.allclose(before["actual_spend"], after["actual_spend"])
    for model in HOLDOUT_MODELS:
        for target in ("purchases", "spend"):
            column = f"{model}_{target}"
            np.testing.assert_array_equal(before[column], after[column], column)


def test_calibration_lines_do_move_the_forecasts() -> None:
    """The check above is not vacuous: lines three times dearer in (cutoff -
    90 days, cutoff], the gradient-boosting training targets, move every spend
    forecast."""
    rows = simulate_lines(seed=5)
    end = pd.Timestamp(max(t for _, _, t, _ in rows)).normalize()
    cutoff = end - pd.Timedelta(days=90)
    window = (cutoff - pd.Timedelta(days=89), cutoff + pd.Timedelta(days=1))
    dearer = [
        (c, i, t, a * 3 if window[0] <= t < window[1] else a) for c, i, t, a in rows
    ]
    options = {"cutoff": cutoff, "holdout_days": 90, "random_state": 3}
    before = evaluate_holdout(make_store(rows, threads=1), **options)["customers"]
    after = evaluate_holdout(make_store(dearer, threads=1), **options)["customers"]
    for model in HOLDOUT_MODELS:
        column = f"{model}_spend"
        assert after[column].sum() > 1.2 * before[column].sum(), column


# ------------------------------------------------------------ forecasts
@pytest.mark.parametrize("time_unit", ["days", "weeks", "months"])
def test_forecasts_are_finite_and_probabilities_in_unit_interval(
    simulated, time_unit
) -> None:
    summary = summary_data(simulated, time_unit=time_unit)
    counts, spend, report = fit_clv_models(summary)
    frame = predict_customers(counts, spend, summary, time_unit=time_unit)
    assert list(frame.columns) == PREDICTION_COLUMNS
    assert frame.index.equals(summary.index)
    assert np.isfinite(frame.to_numpy()).all()
    assert frame["probability_alive"].between(0, 1).all()
    assert (frame[["expected_purchases", "expected_spend", "clv_12m"]] >= 0).all(
        axis=None
    )
    assert report["bgnbd"]["converged"] and report["gamma_gamma"]["converged"]
    repeat = ((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum()
    assert report["gamma_gamma"]["customers"] == repeat
    assert report["gamma_gamma"]["excluded"] == len(summary) - repeat


def test_forecasts_do_not_depend_on_the_time_unit(simulated) -> None:
    """The BG/NBD likelihood is scale-free: days, weeks, months agree."""
    frames = []
    for unit in ("days", "weeks", "months"):
        summary = summary_data(simulated, time_unit=unit)
        counts, spend, _ = fit_clv_models(summary)
        frames.append(predict_customers(counts, spend, summary, time_unit=unit))
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, rtol=1e-3)


def test_new_customer_gets_unconditional_forecast(toy) -> None:
    """T = 0 (first purchase on the observation end): alive, eq. 9 purchases."""
    with pytest.warns(ObservationEndWarning, match="5 lines after it"):
        summary = summary_data(toy, observation_end="2011-03-31", time_unit="days")
    assert summary.loc["b", "T"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 2 fitted customers
        counts, spend, report = fit_clv_models(summary)
    frame = predict_customers(counts, spend, summary, time_unit="days")
    assert report["bgnbd"]["excluded_new"] == 1
    assert frame.loc["b", "probability_alive"] == 1.0
    months_in_days = 12 * 30.4375
    assert frame.loc["b", "expected_purchases"] == pytest.approx(
        counts.expected_purchases_new(months_in_days)
    )
    assert frame.loc["b", "expected_spend"] == pytest.approx(
        spend.population_mean_spend()
    )
    assert np.isfinite(frame.to_numpy()).all()


def test_discounting_lowers_value(simulated) -> None:
    summary = summary_data(simulated, time_unit="weeks")
    counts, spend, _ = fit_clv_models(summary)
    low = predict_customers(counts, spend, summary, time_unit="weeks")
    high = predict_customers(
        counts, spend, summary, time_unit="weeks", discount_rate=0.05
    )
    assert (high["clv_12m"] < low["clv_12m"]).all()
    longer = predict_customers(
        counts, spend, summary, time_unit="weeks", horizon_months=24
    )
    assert "clv_24m" in longer.columns
    assert (longer["expected_purchases"] > low["expected_purchases"]).all()
    with pytest.raises(ModelInputError, match="horizon_months must be"):
        predict_customers(counts, spend, summary, time_unit="weeks", horizon_months=0)


def test_non_convergence_is_reported_and_refitted() -> None:
    """Three identical repeat buyers do not identify alpha (nor q): the fit
    is redone with a small penalty and the status says why."""
    summary = pd.DataFrame(
        {
            "frequency": [1, 1, 1, 0, 0],
            "recency": [10.0, 10, 10, 0, 0],
            "T": [10.0, 10, 10, 10, 10],
            "monetary_value": [5.0, 6, 7, 0, 0],
        },
        index=list("abcde"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # refit converges
        counts, spend, report = fit_clv_models(summary)
    status = report["bgnbd"]["status"]
    assert status.startswith("converged with penalizer 0.001; without it:")
    assert "alpha ran to the bound" in status and "penalizer" in status
    assert report["bgnbd"]["penalizer"] == 0.001
    frame = predict_customers(counts, spend, summary, time_unit="weeks")
    assert np.isfinite(frame.to_numpy()).all()


def test_failed_refit_is_reported_with_advice() -> None:
    """One repeat buyer cannot identify Gamma-Gamma even with the penalty."""
    summary = pd.DataFrame(
        {
            "frequency": [1, 0, 0, 0],
            "recency": [5.0, 0, 0, 0],
            "T": [10.0, 10, 10, 10],
            "monetary_value": [5.0, 0, 0, 0],
        }
    )
    with pytest.warns(ConvergenceWarning, match="GammaGamma fit did not converge"):
        counts, spend, report = fit_clv_models(summary)
    fit = report["gamma_gamma"]
    assert not fit["converged"]
    assert "ran to the bound" in fit["status"] and "outliers" in fit["status"]
    frame = predict_customers(counts, spend, summary, time_unit="weeks")
    assert np.isfinite(frame.to_numpy()).all()


def test_inputs_are_checked_before_any_fit() -> None:
    summary = pd.DataFrame(
        {
            "frequency": [1, 2],
            "recency": [12.0, 3.0],
            "T": [10.0, 10.0],
            "monetary_value": [5.0, 6.0],
        },
        index=["a", "b"],
    )
    with pytest.raises(ModelInputError, match=r"'recency' must be <= T.*'a'"):
        fit_clv_models(summary)
    with pytest.raises(ModelInputError, match="monetary_value' must be >= 0"):
        fit_clv_models(summary.assign(recency=[1.0, 3.0], monetary_value=[-1, 6]))


# ------------------------------------------------------------ the stage
def test_run_clv_merges_metrics_and_joins_customers(simulated, tmp_path) -> None:
    con = duckdb.connect()
    con.register("_lines", simulated.execute("SELECT * FROM clean_lines").df())
    con.execute("CREATE TABLE clean_lines AS SELECT * FROM _lines")
    con.execute(
        "CREATE TABLE customers AS SELECT DISTINCT customer_id, 1 AS segment "
        "FROM clean_lines UNION ALL SELECT 'ghost', 2"
    )
    con.execute("COPY customers TO '" + str(tmp_path / "customers.csv") + "'")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"segments": {"k": 4}, "clv": {"old": 1}}))

    result = run_clv(con, tmp_path, holdout_days=60, random_state=1)
    result = run_clv(con, tmp_path, holdout_days=60, random_state=1)  # rerun

    stored = json.loads(metrics.read_text())
    assert stored["segments"] == {"k": 4}
    assert "old" not in stored["clv"]
    assert stored["clv"]["holdout"]["holdout_days"] == 60
    assert [row["model"] for row in stored["clv"]["clv_holdout"]] == list(
        HOLDOUT_MODELS
    )
    assert len(stored["clv"]["clv_by_frequency"]) == len(FREQUENCY_GROUPS)

    customers = con.execute("SELECT * FROM customers ORDER BY customer_id").df()
    assert list(customers.columns) == ["customer_id", "segment", *PREDICTION_COLUMNS]
    ghost = customers.set_index("customer_id").loc["ghost"]
    assert ghost[PREDICTION_COLUMNS].isna().all()  # no lines, no forecast
    assert len(customers) == len(result["predictions"]) + 1
    on_disk = pd.read_csv(tmp_path / "customers.csv")
    assert list(on_disk.columns) == list(customers.columns)

    table = holdout_table(con)
    pd.testing.assert_frame_equal(table, result["holdout"], check_dtype=False)
    assert result["summary"].startswith("BG/NBD on ")
    con.close()


def test_update_metrics_keeps_other_keys_and_refuses_broken_files(tmp_path) -> None:
    path = tmp_path / "metrics.json"
    update_metrics(path, "clv", {"mae": float("nan"), "n": np.int64(3)})
    update_metrics(path, "other", {"x": 1})
    assert json.loads(path.read_text()) == {
        "clv": {"mae": None, "n": 3},
        "other": {"x": 1},
    }
    path.write_text("{not json")
    with pytest.raises(ShopsegError, match="not valid JSON"):
        update_metrics(path, "clv", {})
    path.write_text("[1, 2]")
    with pytest.raises(ShopsegError, match="not an object"):
        update_metrics(path, "clv", {})


def test_holdout_table_needs_the_stage(con) -> None:
    with pytest.raises(ShopsegError, match="run the clv stage first"):
        holdout_table(con)


def test_clv_stage_uses_the_context(simulated, tmp_path) -> None:
    con = duckdb.connect()
    con.register("_lines", simulated.execute("SELECT * FROM clean_lines").df())
    con.execute("CREATE TABLE clean_lines AS SELECT * FROM _lines")
    ctx = SimpleNamespace(
        con=con,
        staging=tmp_path,
        options=SimpleNamespace(random_state=0, observation_end=None),
        results={},
    )
    line = clv_stage(ctx)
    assert "holdout purchase MAE" in line and "\n" not in line
    assert set(ctx.results["clv"]) >= {"predictions", "holdout", "metrics"}
    assert (tmp_path / "metrics.json").exists()
    con.close()


# ------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def real_store(shared_data):
    """Both shared Online Retail files, read and cleaned in memory."""
    folder = shared_data
    files = [
        folder / "online_retail.csv.gz",
        folder / "online_retail_ii_year_2009_2010.csv.gz",
    ]
    if not all(path.exists() for path in files):
        pytest.skip(f"shared data files not found in {folder}")
    con = duckdb.connect()
    shopseg.read_files([str(path) for path in files], con)
    shopseg.clean_lines(con)
    yield con
    con.close()


@pytest.mark.slow
def test_real_data_holdout(real_store, tmp_path) -> None:
    """Online Retail 2009-2011, cut-off 2011-09-10, holdout of 90 days."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = run_clv(real_store, tmp_path)
    metrics = result["metrics"]
    assert metrics["holdout"]["cutoff"] == "2011-09-10"
    assert metrics["holdout"]["holdout_end"] == "2011-12-09"
    for fits in (metrics["fits"], metrics["holdout"]["fits"]):
        assert fits["bgnbd"]["status"] == "converged"
        assert fits["gamma_gamma"]["status"] == "converged"

    predictions = result["predictions"]
    assert len(predictions) == metrics["customers"] > 5_000
    assert np.isfinite(predictions.to_numpy()).all()
    assert predictions["probability_alive"].between(0, 1).all()

    table = result["holdout"].set_index("model")
    bgnbd = table.loc["bgnbd"]
    best_baseline = table.drop(index="bgnbd")["purchases_mae"].min()
    # Honest bounds: within 5 % of the better baseline, clearly better than
    # forecasting no purchase at all, and the Q4 holdout total within 30 %.
    assert bgnbd["purchases_mae"] <= 1.05 * best_baseline
    groups = result["by_frequency"]
    zero_mae = (groups["actual"] * groups["customers"]).sum() / groups[
        "customers"
    ].sum()
    assert bgnbd["purchases_mae"] < 0.9 * zero_mae
    assert abs(bgnbd["purchases_total_rel_error"]) < 0.3
    # The standard check: forecasts rise with the calibration frequency.
    assert groups["bgnbd"].is_monotonic_increasing


def test_short_history_skips_the_holdout_check(tmp_path) -> None:
    """Four months cannot hold a 90-day holdout and a 90-day training window
    before it: the forecasts are made, the check is skipped with the reason."""
    first_months = [r for r in simulate_lines() if r[2] < pd.Timestamp("2010-05-01")]
    con = make_store(first_months)
    result = run_clv(con, tmp_path)
    assert result["holdout"] is None and result["by_frequency"] is None
    assert "before the first purchase" in result["metrics"]["holdout"]["skipped"]
    assert "holdout check skipped" in result["summary"]
    assert np.isfinite(result["predictions"].to_numpy()).all()
    assert json.loads((tmp_path / "metrics.json").read_text())["clv"]["holdout"]
    with pytest.raises(ModelInputError, match="before the first purchase"):
        run_clv(con, tmp_path, cutoff="2010-01-29")
    con.close()


def test_negative_age_is_not_taken_for_a_new_customer() -> None:
    summary = pd.DataFrame(
        {
            "frequency": [1, 2, 0],
            "recency": [5.0, 3.0, 0.0],
            "T": [10.0, 10.0, -1.0],
            "monetary_value": [5.0, 6.0, 0.0],
        },
        index=["a", "b", "c"],
    )
    with pytest.raises(ModelInputError, match=r"'T' must be > 0.*'c'"):
        fit_clv_models(summary)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"holdout_days": 0}, "holdout_days must be"),
        ({"time_unit": "fortnights"}, "time unit 'fortnights' is not supported"),
        ({"horizon_months": 1.5}, "horizon_months must be"),
    ],
    ids=["holdout-days", "time-unit", "horizon"],
)
def test_run_clv_refuses_bad_options(simulated, tmp_path, options, match) -> None:
    with pytest.raises(ModelInputError, match=match):
        run_clv(simulated, tmp_path, **options)


def test_clv_stage_skips_data_the_models_cannot_fit(tmp_path) -> None:
    """Every customer seen on one day only: the stage warns and says why in
    metrics.json instead of stopping the run."""
    one_day = [r for r in simulate_lines() if r[2] < pd.Timestamp("2010-01-02")]
    con = make_store(one_day)
    ctx = SimpleNamespace(
        con=con,
        staging=tmp_path,
        options=SimpleNamespace(random_state=0, observation_end=None),
        results={},
    )
    with pytest.warns(DegenerateDataWarning, match="lifetime-value stage was skipped"):
        line = clv_stage(ctx)
    assert line.startswith("skipped (every customer made their first purchase")
    assert "clv" not in ctx.results
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert "longer span" in stored["clv"]["skipped"]
    con.close()


def test_clv_stage_values_the_customers_on_their_own_day(tmp_path) -> None:
    """After ``segment --observation-end``, ``clv`` forecasts from that day,
    so every customer of the table gets a value, and no one later."""
    con = make_store(simulate_lines())
    con.execute(
        "CREATE TABLE customers AS SELECT DISTINCT customer_id, "
        "DATE '2010-09-30' AS observation_end FROM clean_lines "
        "WHERE invoice_date < DATE '2010-10-01'"
    )
    ctx = SimpleNamespace(
        con=con,
        staging=tmp_path,
        options=SimpleNamespace(random_state=0, observation_end=None),
        results={},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ObservationEndWarning)  # later lines
        clv_stage(ctx)
    predictions = ctx.results["clv"]["predictions"]
    (customers,), = con.execute("SELECT count(*) FROM customers").fetchall()
    assert len(predictions) == customers
    (valued,), = con.execute(
        "SELECT count(*) FROM customers WHERE expected_purchases IS NOT NULL"
    ).fetchall()
    assert valued == customers
    con.close()
