"""The HTML report: facts gathered from small stores, takeaways computed from
the data, notes instead of charts when data are few, a self-contained page."""

import json
import re
import shutil
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

import shopseg
from shopseg import pipeline
from shopseg.exceptions import DegenerateDataWarning
from shopseg.report import gather_facts, load_metrics, render_report
from shopseg.report._facts import (
    COUNTRY_CODES,
    MIN_TEST_CUSTOMERS,
    money,
    product_facts,
)

#: Header of the UCI Online Retail export (M/D/YYYY H:MM dates).
OR_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
    "Country"
)

#: Products of the synthetic shop: stock code, description, unit price.
PRODUCTS = [
    ("22423", "REGENCY CAKESTAND 3 TIER", 12.75),
    ("22424", "REGENCY TEA PLATE ROSES", 1.65),
    ("22425", "REGENCY TEA CUP AND SAUCER", 2.95),
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
    ("85124", "RED HANGING HEART T-LIGHT HOLDER", 2.55),
    ("85125", "PINK HANGING HEART DECORATION", 1.25),
    ("22086", "PAPER CHAIN KIT 50'S CHRISTMAS", 2.95),
    ("22087", "PAPER CHAIN KIT VINTAGE CHRISTMAS", 2.95),
    ("22088", "CHRISTMAS PAPER BUNTING", 4.95),
    ("20725", "LUNCH BAG RED RETROSPOT", 1.65),
    ("20726", "LUNCH BAG BLACK SKULL", 1.65),
    ("20727", "LUNCH BAG PINK POLKADOT", 1.65),
    ("21212", "PACK OF 72 RETROSPOT CAKE CASES", 0.55),
    ("21213", "PACK OF 60 PINK PAISLEY CAKE CASES", 0.55),
    ("21214", "PACK OF 60 DINOSAUR CAKE CASES", 0.55),
    ("47566", "PARTY BUNTING RED RETROSPOT", 4.95),
    ("47567", "PARTY BUNTING VINTAGE", 4.95),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", 1.69),
]
COUNTRIES = ["United Kingdom"] * 12 + ["EIRE", "France", "Germany", "Unspecified"]
#: Relative number of orders per calendar month: a peak in November.
SEASON = {1: 0.7, 2: 0.7, 3: 0.9, 4: 0.8, 5: 0.9, 6: 0.9, 7: 0.9, 8: 0.9,
          9: 1.3, 10: 1.5, 11: 2.2, 12: 1.0}


def synthetic_export(path, n_customers=120, seed=0):
    """Write a UCI-style export: 1 December 2010 to early December 2011 with
    a November peak, a return, a line without customer and a duplicate."""
    rng = np.random.default_rng(seed)
    months = pd.period_range("2010-12", "2011-12", freq="M")
    weights = np.array([SEASON[m.month] for m in months])
    rows = []
    invoice = 540000
    for customer in range(n_customers):
        customer_id = str(12000 + customer)
        country = COUNTRIES[customer % len(COUNTRIES)]
        first = rng.integers(0, len(months) - 1)
        n_orders = 1 + rng.poisson(2.5 if customer % 3 else 0.3)
        later = weights[first:] / weights[first:].sum()
        order_months = [first] + list(
            first + rng.choice(len(later), size=n_orders - 1, p=later)
        )
        for position in sorted(order_months):
            month = months[position]
            day = 1 + rng.integers(0, 27 if month.month != 12 or month.year
                                   == 2010 else 8)
            stamp = f"{month.month}/{day}/{month.year} {rng.integers(8, 18)}:05"
            invoice += 1
            for item in rng.choice(len(PRODUCTS), size=rng.integers(1, 5),
                                   replace=False):
                code, description, price = PRODUCTS[item]
                quantity = int(rng.integers(1, 13))
                rows.append(f"{invoice},{code},{description},{quantity},{stamp},"
                            f"{price},{customer_id},{country}")
    rows.append(f"{invoice + 3},22088,CHRISTMAS PAPER BUNTING,2,12/1/2010 9:00,"
                f"4.95,12000,{COUNTRIES[0]}")
    rows.append(rows[-2])
    rows.append(f"C{invoice + 1},22423,REGENCY CAKESTAND 3 TIER,-1,12/5/2011 "
                f"10:00,12.75,12001,{COUNTRIES[1]}")
    rows.append(f"{invoice + 2},22424,REGENCY TEA PLATE ROSES,4,6/1/2011 10:00,"
                f"1.65,,United Kingdom")
    path.write_text(OR_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The output folder of every stage but the report, on the synthetic
    export."""
    folder = tmp_path_factory.mktemp("report")
    export = synthetic_export(folder / "shop.csv")
    stages = pipeline.INGEST_STAGES + pipeline.SEGMENT_STAGES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)  # 18 products
        pipeline.run([export], folder / "out", stages=stages)
    return folder / "out"


@pytest.fixture(scope="module")
def full_store(full_run):
    con = duckdb.connect(str(full_run / "shopseg.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def full_facts(full_store):
    return gather_facts(full_store)


@pytest.fixture
def tiny_store(con, write_csv):
    """Six customers in three countries on one day: read and cleaned only."""
    path = write_csv(
        "tiny.csv",
        f"""
        {OR_HEADER}
        536365,85123A,HEART T-LIGHT HOLDER,6,12/13/2010 8:26,2.55,17850,United Kingdom
        536365,71053,WHITE METAL LANTERN,6,12/13/2010 8:26,3.39,17850,United Kingdom
        536367,84879,BIRD ORNAMENT,32,12/13/2010 8:34,1.69,13047,United Kingdom
        536369,21756,BATH BUILDING BLOCK WORD,3,12/13/2010 8:35,5.95,12583,France
        536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/13/2010 8:45,3.75,12583,France
        536371,22086,PAPER CHAIN KIT,80,12/13/2010 9:00,2.55,13748,United Kingdom
        536372,22632,HAND WARMER RED POLKA DOT,6,12/13/2010 9:01,1.85,,United Kingdom
        536373,22633,HAND WARMER UNION JACK,6,12/13/2010 9:02,1.85,14000,EIRE
        """,
    )
    shopseg.read_files([str(path)], con)
    shopseg.clean_lines(con)
    return con


def chart_facts(facts):
    """Every (section, chart) -> facts of a chart in the report."""
    for section, charts in facts.items():
        if not isinstance(charts, dict):
            continue
        for name, chart in charts.items():
            if isinstance(chart, dict) and "title" in chart:
                yield (section, name), chart


# --------------------------------------------------------------------------
# Small inputs


def test_tiny_store_gets_notes_instead_of_charts(tiny_store):
    facts = gather_facts(tiny_store)

    exploration = facts["exploration"]
    for chart in ("monthly", "customers_monthly", "retention"):
        assert exploration[chart]["note"].startswith("Not enough data")
    assert "note" not in exploration["map"]  # three countries are enough
    assert facts["products"]["categories"]["note"] == (
        "The products stage has not run on this store, so there is no product "
        "category."
    )
    assert "has not run" in facts["customers"]["rfm"]["note"]
    assert "has not run" in facts["prediction"]["gain"]["note"]
    assert "has not run" in facts["clv"]["holdout"]["note"]


def test_every_chart_has_a_title_and_a_takeaway_or_a_note(tiny_store, full_facts):
    for facts in (gather_facts(tiny_store), full_facts):
        for key, chart in chart_facts(facts):
            assert chart["title"], key
            assert chart.get("note") or chart.get("takeaway") or key[0] in (
                "prediction", "clv"
            ), key


def test_countries_the_map_does_not_know_get_a_note(con, write_csv):
    """Countries exported as codes ('GB', 'FR') draw no map: a note says
    why, and the rest of the report renders."""
    path = write_csv(
        "codes.csv",
        f"""
        {OR_HEADER}
        536365,85123A,HEART T-LIGHT HOLDER,6,12/13/2010 8:26,2.55,17850,GB
        536369,21756,BATH BUILDING BLOCK WORD,3,12/13/2010 8:35,5.95,12583,FR
        536373,22633,HAND WARMER UNION JACK,6,12/13/2010 9:02,1.85,14000,XX
        """,
    )
    shopseg.read_files([str(path)], con)
    shopseg.clean_lines(con)
    facts = gather_facts(con)
    note = facts["exploration"]["map"]["note"]
    assert "country names the map knows" in note and "'GB'" in note
    assert "Not enough data for this chart" in render_report(facts)


def test_an_empty_uncategorised_group_gets_no_card(con):
    """When every product has a category, 'Uncategorised' holds nothing and
    is left out rather than shown as an empty word cloud."""
    con.execute(
        """
        CREATE TABLE categories AS SELECT * FROM (VALUES
            (0, 'mug, tea', 'mug, tea', 3, 60.0, 0.6),
            (1, 'bag, jumbo', 'bag, jumbo', 2, 30.0, 0.3),
            (2, 'candle', 'candle', 1, 10.0, 0.1),
            (-1, 'Uncategorised', '', 0, 0.0, 0.0)
        ) AS t(category, label, top_terms, n_products, revenue, revenue_share)
        """
    )
    facts = product_facts(con, {"categories"})
    assert [r["label"] for r in facts["clouds"]["rows"]] == [
        "mug, tea", "bag, jumbo", "candle"
    ]


def test_tiny_report_renders_notes_and_ledger_totals(tiny_store):
    facts = gather_facts(tiny_store)
    html = render_report(facts)

    assert "Not enough data for this chart" in html
    assert f"{facts['data']['ledger']['lines_read']:,}" in html
    assert "lines read" in html
    assert 'class="js-plotly-plot"' not in html  # plotly adds it in the browser
    assert html.count("plotly.js v") == 1


def test_empty_store_still_renders(con):
    html = render_report(gather_facts(con))
    assert "The clean stage has not run" in html


# --------------------------------------------------------------------------
# Facts and takeaways computed from the data


def test_ledger_waterfall_accounts_for_every_line(full_store, full_facts):
    waterfall = full_facts["data"]["waterfall"]
    lines = full_store.execute("SELECT count(*) FROM lines").fetchone()[0]
    kept = full_store.execute("SELECT count(*) FROM clean_lines").fetchone()[0]

    assert waterfall["lines_read"] == lines
    assert waterfall["lines_kept"] == kept
    assert lines + sum(step["lines"] for step in waterfall["steps"]) == kept
    assert waterfall["takeaway"].startswith(
        f"{100 * kept / lines:.1f}% of the {lines:,} lines read were kept"
    )


def test_peak_month_takeaway_is_computed_from_the_data(full_store, full_facts):
    monthly = full_store.execute(
        "SELECT date_trunc('month', invoice_date) AS month, sum(amount) AS revenue "
        "FROM clean_lines GROUP BY 1 ORDER BY 1"
    ).df()
    complete = monthly.iloc[:-1]  # the data end inside December 2011
    peak = complete.loc[complete.revenue.idxmax()]
    ratio = peak.revenue / complete.revenue.median()

    takeaway = full_facts["exploration"]["monthly"]["takeaway"]
    assert takeaway.startswith(
        f"{peak.month:%B %Y} was the peak month, with {money(peak.revenue)}, "
        f"{ratio:.1f}x the monthly median"
    )
    assert full_facts["exploration"]["monthly"]["partial"] == [
        f"{monthly.month.iloc[-1]:%B %Y}"
    ]


def test_new_and_returning_customers_add_up_to_monthly_buyers(full_store, full_facts):
    buyers = full_store.execute(
        "SELECT count(DISTINCT customer_id) FROM clean_lines "
        "GROUP BY date_trunc('month', invoice_date) ORDER BY date_trunc('month', "
        "invoice_date)"
    ).fetchall()
    rows = full_facts["exploration"]["customers_monthly"]["rows"]
    assert [r["new_customers"] + r["returning_customers"] for r in rows] == [
        b[0] for b in buyers
    ]
    first_buyers = sum(r["new_customers"] for r in rows)
    customers = full_store.execute(
        "SELECT count(DISTINCT customer_id) FROM clean_lines"
    ).fetchone()[0]
    assert first_buyers == customers


def test_cohort_retention_shares_are_fractions_of_the_cohort(full_facts):
    retention = full_facts["exploration"]["retention"]
    assert len(retention["shares"]) == len(retention["cohorts"])
    for row, counts, size in zip(retention["shares"], retention["counts"],
                                 retention["sizes"]):
        for share, count in zip(row, counts):
            if share is not None:
                assert 0 <= share <= 1
                assert share == pytest.approx(count / size)
    last = retention["shares"][-1]
    assert all(value is None for value in last)  # not observed yet

    # The takeaway averages the cohorts after the first, weighted by size.
    later = [(row[0], size) for row, size in zip(retention["shares"][1:],
                                                retention["sizes"][1:])
             if row[0] is not None]
    next_month = sum(s * n for s, n in later) / sum(n for _, n in later)
    assert retention["takeaway"].startswith(
        f"On average {100 * next_month:.0f}% of a month's new customers buy "
        "again in the next month"
    )


def test_country_names_of_the_exports_map_to_iso_codes(full_facts):
    map_facts = full_facts["exploration"]["map"]
    codes = {row["country"]: row["iso3"] for row in map_facts["areas"]}

    assert codes["EIRE"] == "IRL"
    assert codes["United Kingdom"] == "GBR"
    assert [row["country"] for row in map_facts["unmapped"]] == ["Unspecified"]
    assert "United Kingdom brings" in map_facts["takeaway"]


@pytest.mark.parametrize(
    "name, code",
    [("EIRE", "IRL"), ("RSA", "ZAF"), ("USA", "USA"), ("Korea", "KOR"),
     ("Channel Islands", None), ("European Community", None)],
    ids=["eire", "rsa", "usa", "korea", "channel-islands", "european-community"],
)
def test_country_table_spellings(name, code):
    assert COUNTRY_CODES[name][0] == code


def test_segments_and_products_facts(full_store, full_facts):
    customers = full_facts["customers"]
    n_customers = full_store.execute("SELECT count(*) FROM customers").fetchone()[0]

    assert sum(r["customers"] for r in customers["rfm"]["rows"]) == n_customers
    assert sum(r["revenue_share"] for r in customers["rfm"]["rows"]) == (
        pytest.approx(1.0)
    )
    scan = customers["scan"]
    assert scan["chosen"] in scan["k"]
    assert f"k={scan['chosen']} has the highest silhouette" in scan["takeaway"]

    categories = full_facts["products"]["categories"]["rows"]
    assert sum(r["products"] for r in categories) == full_store.execute(
        "SELECT count(*) FROM product_categories"
    ).fetchone()[0]
    for row in categories:
        weights = [w["weight"] for w in row["words"]]
        assert weights == sorted(weights, reverse=True)
        assert not weights or weights[0] == 1.0


@pytest.mark.parametrize(
    "value, text",
    [(1_460_000, "£1.46M"), (567_150, "£567k"), (1234.5, "£1,234"), (0, "£0"),
     (-3210, "-£3.21k"), (float("nan"), "-")],
    ids=["millions", "thousands", "pounds", "zero", "negative", "nan"],
)
def test_money(value, text):
    assert money(value) == text


# --------------------------------------------------------------------------
# The prediction and CLV sections read their stages' tables when present


def add_prediction_tables(con, n=200, seed=0, metrics_form="wide"):
    """Stand-in tables of the prediction stage, with known answers."""
    rng = np.random.default_rng(seed)
    actual = np.where(rng.random(n) < 0.4, rng.lognormal(6, 1, n), 0.0)
    predicted = actual * rng.uniform(0.5, 1.5, n) + rng.uniform(10, 100, n)
    probability = np.clip(0.4 + 0.5 * (actual > 0) - 0.2 * rng.random(n), 0, 1)
    test = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "actual_spend": actual,
        "predicted_spend": predicted,
        "repeat_probability": probability,
        "repeated": (actual > 0).astype(int),
        "lower": predicted * 0.2,
        "upper": predicted * 3,
        "level": 0.8,
    })
    metrics = pd.DataFrame({
        "model": ["gradient boosting", "linear regression", "constant (mean)"],
        "mae": [300.0, 350.0, 420.0],
        "normalized_gini": [0.62, 0.41, 0.0],
    })
    if metrics_form != "wide":
        metrics = metrics.melt(id_vars="model", var_name="metric")
    if metrics_form == "task":  # as the prediction stage stores them
        metrics = pd.concat([
            metrics.assign(task="spend"),
            pd.DataFrame({"task": "repeat", "model": ["first_order_model"] * 2,
                          "metric": ["auc", "brier"], "value": [0.71, 0.18]}),
        ])[["task", "model", "metric", "value"]]
    for name, frame in (("prediction_test", test), ("prediction_metrics", metrics)):
        con.register("_frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _frame")
        con.unregister("_frame")
    return test


@pytest.mark.parametrize("metrics_form", ["wide", "long", "task"])
def test_prediction_facts_from_stored_tables(tiny_store, metrics_form):
    test = add_prediction_tables(tiny_store, metrics_form=metrics_form)
    prediction = gather_facts(tiny_store)["prediction"]

    assert prediction["ran"]
    table = prediction["metrics"]
    assert [row["model"] for row in table["rows"]] == [
        "gradient boosting", "linear regression", "constant (mean)"
    ]
    assert table["takeaway"] == (
        "On the test cohort, gradient boosting has Normalized Gini 0.620 against "
        "0.410 for the best baseline (linear regression)."
    )
    if metrics_form == "task":
        (repeat,) = table["extras"]
        assert repeat["rows"] == [
            {"model": "shopseg model", "auc": 0.71, "brier": 0.18}
        ]

    gain = prediction["gain"]
    assert gain["model"][0] == 0 and gain["model"][-1] == pytest.approx(1)
    assert np.all(np.diff(gain["model"]) >= 0)
    assert np.all(np.array(gain["perfect"]) >= np.array(gain["model"]) - 1e-12)
    top = test.nlargest(20, "predicted_spend").actual_spend.sum()
    assert gain["top_decile_capture"] == pytest.approx(top / test.actual_spend.sum())

    inside = (test.actual_spend >= test.lower) & (test.actual_spend <= test.upper)
    assert prediction["coverage"]["rows"][0]["coverage"] == pytest.approx(
        inside.mean()
    )
    calibration = prediction["calibration"]["rows"]
    assert sum(row["customers"] for row in calibration) == len(test)
    assert all(0 <= row["observed_rate"] <= 1 for row in calibration)


def test_too_few_test_customers_give_notes(tiny_store):
    add_prediction_tables(tiny_store, n=MIN_TEST_CUSTOMERS - 1)
    prediction = gather_facts(tiny_store)["prediction"]
    assert prediction["gain"]["note"].startswith("Not enough data")
    assert prediction["scatter"]["note"].startswith("Not enough data")


def test_clv_facts_from_stored_tables(tiny_store):
    holdout = pd.DataFrame({
        "model": ["bgnbd", "naive"], "customers": [10, 10],
        "purchases_mae": [0.5, 0.7], "spend_mae": [40.0, 55.0],
    })
    by_frequency = pd.DataFrame({
        "frequency": ["0", "1", "2"], "customers": [5, 3, 2],
        "actual": [0.2, 0.8, 1.5], "bgnbd": [0.25, 0.7, 1.4],
        "naive": [0.0, 1.0, 2.0],
    })
    for name, frame in (("clv_holdout", holdout), ("clv_by_frequency", by_frequency)):
        tiny_store.register("_frame", frame)
        tiny_store.execute(f"CREATE TABLE {name} AS SELECT * FROM _frame")
    clv = gather_facts(tiny_store)["clv"]

    assert clv["holdout"]["takeaway"] == (
        "On the holdout, BG/NBD forecasts each customer's purchases with the "
        "lowest mean absolute error (0.50, against 0.70 for naive (past rate))."
    )
    assert clv["by_frequency"]["takeaway"].startswith(
        "Across past-frequency groups, BG/NBD stays closest"
    )


def test_load_metrics_reads_the_first_metrics_file(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.json").write_text(json.dumps({"clv": {"x": 1}}))
    assert load_metrics(tmp_path / "a", tmp_path / "b") == {"clv": {"x": 1}}
    assert load_metrics(tmp_path / "a") == {}


# --------------------------------------------------------------------------
# The page


def test_page_is_self_contained_and_shows_the_ledger(full_store, full_facts):
    html = render_report(full_facts)

    assert not re.search(r"""<(script|img|iframe)[^>]+src=["']?(https?:)?//""", html)
    assert not re.search(r"""<link[^>]+href=["']?(https?:)?//""", html)
    assert not re.search(r"@import\s+url\(", html)
    assert html.count("plotly.js v") == 1
    assert 'PlotlyGeoAssets.topojson["world_110m"]' in html

    ledger = full_facts["data"]["ledger"]
    assert f"{ledger['lines_read']:,}" in html
    assert f"{ledger['lines_kept']:,}" in html
    for row in ledger["rows"]:
        assert f">{row['bucket']}<" in html
    for sha in full_store.execute("SELECT sha256 FROM inputs").fetchall():
        assert sha[0] in html


def test_every_chart_with_data_gets_a_figure(full_facts):
    from shopseg.report._figures import FIGURES, build_figures, figure_id

    figures = build_figures(full_facts)
    for section, chart in FIGURES:
        facts = full_facts[section][chart]
        assert ((section, chart) in figures) == (not facts.get("note"))
    for (section, chart), html in figures.items():
        assert f'id="{figure_id(section, chart)}"' in html
        assert "Plotly.newPlot" in html


def test_report_command_writes_the_page_from_a_stored_run(full_run, tmp_path):
    from shopseg.cli import main

    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(full_run / "shopseg.duckdb", out / "shopseg.duckdb")

    main(["report", "--out", str(out)])

    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Time per stage" in html
    assert ">segments<" in html  # the stored run's stages, not just 'report'
    con = duckdb.connect(str(out / "shopseg.duckdb"), read_only=True)
    commands = [row[0] for row in con.execute(
        "SELECT command FROM runs ORDER BY started_at"
    ).fetchall()]
    con.close()
    assert commands == ["run", "report"]


def test_report_command_needs_a_store(tmp_path, capsys):
    from shopseg.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--out", str(tmp_path / "empty")])
    assert exit_info.value.code == 2
    assert "holds no shopseg store" in capsys.readouterr().err


def test_calibration_takeaway_names_no_bin_of_a_few_customers():
    """A bin of one customer is far off by chance; the takeaway names the
    widest gap among bins of 20 customers or more."""
    from shopseg.report._facts import _calibration_facts

    rng = np.random.default_rng(0)
    probability = np.concatenate([[0.45], rng.uniform(0.6, 0.8, 300)])
    repeated = np.concatenate([[0], rng.random(300) < 0.5]).astype(int)
    test = pd.DataFrame({"probability": probability, "repeated": repeated})
    facts = _calibration_facts(None, set(), test, "not run")
    assert "0.4-0.5" not in facts["takeaway"]
    assert "bin of 20 customers or more" in facts["takeaway"]


@pytest.mark.parametrize(
    "countries, sentence",
    [
        ([("United Kingdom", 900.0, 40), ("France", 100.0, 5)],
         "United Kingdom is first by both revenue (90%) and customers (40)"),
        ([("United Kingdom", 900.0, 4), ("France", 100.0, 50)],
         "United Kingdom is first by revenue (90%) and France by customers (50)"),
    ],
    ids=["same-leader", "two-leaders"],
)
def test_country_takeaway_names_a_leader_of_both_once(countries, sentence):
    from shopseg.report._facts import _country_bar_facts

    rows = [{"name": name, "revenue": revenue, "customers": customers}
            for name, revenue, customers in countries]
    facts = _country_bar_facts(rows)
    assert facts["takeaway"].startswith(sentence)


def test_segment_chart_and_table_name_the_same_order_value(full_facts):
    """The chart's panels and the table's columns are medians over the
    segment's customers; a customer's order value is their mean order."""
    panels = full_facts["customers"]["features"]["panels"]
    labels = {panel["feature"]: panel["label"] for panel in panels}
    assert labels["mean_order_value"] == "Order value"

    html = render_report(full_facts)
    assert "Mean order value" not in html
    assert "median order value (a customer's mean)" in html
    assert "mean of their orders" in html


def test_figures_have_no_toolbar_and_a_narrow_layout(full_facts):
    """The toolbar covered legends and titles; a narrow chart stacks its
    panels."""
    from shopseg.report._figures import CONFIG, FIGURES, build_figures

    assert CONFIG["displayModeBar"] is False
    figures = build_figures(full_facts)
    for html in figures.values():
        assert '"displayModeBar": false' in html
        assert "shopseg.fit(" in html

    features = FIGURES[("customers", "features")](
        full_facts["customers"]["features"])
    narrow = features.layout.meta["narrow"]
    assert narrow["xaxis.domain"] == narrow["xaxis3.domain"]  # one column
    assert narrow["yaxis.domain"] != narrow["yaxis3.domain"]  # two rows


def test_every_rfm_tile_is_named():
    """A tile too small for its shares shows its name alone, a word a line;
    no tile's text is hidden for being small."""
    from shopseg.report._figures import SMALL_TILE, rfm_figure

    sizes = {"Champions": 600, "Loyal": 380, "Cannot lose them": 11, "New": 9}
    total = sum(sizes.values())
    rows = [{"segment": name, "customers": n, "customer_share": n / total,
             "revenue": 10.0 * n, "revenue_share": n / total}
            for name, n in sizes.items()]
    trace = rfm_figure({"rows": rows}).data[0]

    templates = dict(zip(trace.labels, trace.texttemplate))
    texts = dict(zip(trace.labels, trace.text))
    assert templates["Champions"] == templates["Loyal"]
    assert "of customers" in templates["Loyal"]
    for name in ("Cannot lose them", "New"):
        assert sizes[name] / total < SMALL_TILE
        assert templates[name] == "<b>%{text}</b>"
    assert texts["Cannot lose them"] == "Cannot<br>lose<br>them"
    assert rfm_figure({"rows": rows}).layout.uniformtext.mode is None


def test_narrow_map_stacks_europe_above_the_world(full_facts):
    """On a phone the two maps take the chart's whole width, one above the
    other, in a taller chart."""
    from shopseg.report._figures import map_figure

    layout = map_figure(full_facts["exploration"]["map"]).layout
    narrow = layout.meta["narrow"]
    europe, world = narrow["geo.domain"], narrow["geo2.domain"]
    assert europe["x"] == world["x"] == [0.0, 1.0]
    assert world["y"][1] < europe["y"][0]
    assert layout.geo.domain.x[1] <= layout.geo2.domain.x[0]  # wide: a row
    assert narrow["height"] > layout.height
