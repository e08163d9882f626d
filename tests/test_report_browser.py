"""The report in a real browser: headless Chromium with the network cut off.

The report is built from a slice of the shared data (every 8th invoice of
the 2009-2010 export: a year of seasons, countries and segments in about 30
seconds). Debian's ``chromium`` package provides the browser and Playwright
drives it (no ``playwright install``). Screenshots of the whole page and of
each section go to ``test-artifacts/report/``.
"""

import gzip
import os
import shutil
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from shopseg import pipeline
from shopseg.report import load_metrics, write_report

CHROMIUM = Path(os.environ.get("SHOPSEG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "report"
SECTIONS = ("data", "exploration", "products", "customers", "prediction", "clv",
            "run")
#: A laptop screen.
VIEWPORT = {"width": 1366, "height": 768}
#: A phone.
PHONE = {"width": 400, "height": 800}

pytestmark = pytest.mark.slow


def _skip_loudly(reason):
    """Skip, and say so in the warnings summary too, so that a run without a
    browser cannot pass for a run that checked the page. In CI, fail."""
    if os.environ.get("CI"):
        pytest.fail(f"report browser test cannot run in CI: {reason}")
    warnings.warn(f"report browser test NOT RUN: {reason}", UserWarning,
                  stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _skip_loudly(
            f"{CHROMIUM} not found; install Debian's chromium package "
            "(apt-get install -y chromium) or set SHOPSEG_CHROMIUM"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_loudly("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def data_slice(shared_data, path, every=8):
    """Every ``every``-th invoice of the 2009-2010 export, cancellations too."""
    source = shared_data / "online_retail_ii_year_2009_2010.csv.gz"
    if not source.exists():
        pytest.skip(f"{source} not found")
    with gzip.open(source, "rt", encoding="utf-8", newline="") as lines:
        header = next(lines)
        kept = [
            line for line in lines
            if (number := line.split(",", 1)[0].lstrip("CA")).isdigit()
            and int(number) % every == 0
        ]
    path.write_text(header + "".join(kept), encoding="utf-8")
    return path


def add_stand_in_tables(con, seed=0):
    """Tables of the prediction and CLV stages, where those stages have not
    run, so that every figure of the page is drawn.

    The values are random around the real first-year spend of the slice's
    late customers; they exercise the drawing, not the models.
    """
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    rng = np.random.default_rng(seed)
    if "prediction_test" not in tables:
        test = con.execute(
            """
            WITH firsts AS (
                SELECT customer_id, min(invoice_date) AS first_day
                FROM clean_lines GROUP BY customer_id
            )
            SELECT customer_id,
                coalesce(sum(amount) FILTER (
                    WHERE invoice_date::DATE > first_day::DATE), 0)
                    AS actual_spend,
                sum(amount) FILTER (WHERE invoice_date::DATE = first_day::DATE)
                    AS first_spend
            FROM clean_lines JOIN firsts USING (customer_id)
            WHERE first_day >= '2010-03-01'
            GROUP BY customer_id
            """
        ).df()
        n = len(test)
        test["predicted_spend"] = test.first_spend * rng.lognormal(0, 0.7, n)
        test["repeated"] = (test.actual_spend > 0).astype(int)
        test["repeat_probability"] = 1 / (1 + np.exp(
            -(np.log1p(test.first_spend) - 5 + rng.normal(0, 1, n))
        ))
        test["lower"] = test.predicted_spend * 0.1
        test["upper"] = test.predicted_spend * 4
        test["level"] = 0.8
        _save(con, "prediction_test", test)
    if "prediction_metrics" not in tables:
        _save(con, "prediction_metrics", pd.DataFrame({
            "model": ["gradient boosting", "linear regression", "constant"],
            "mae": [410.0, 455.0, 520.0],
            "normalized_gini": [0.45, 0.38, 0.0],
        }))
    if "clv_holdout" not in tables:
        _save(con, "clv_holdout", pd.DataFrame({
            "model": ["bgnbd", "naive"], "customers": [900, 900],
            "purchases_mae": [0.61, 0.66], "spend_mae": [210.0, 230.0],
        }))
    if "clv_by_frequency" not in tables:
        _save(con, "clv_by_frequency", pd.DataFrame({
            "frequency": ["0", "1", "2", "3+"], "customers": [400, 200, 150, 150],
            "actual": [0.2, 0.6, 0.9, 2.1], "bgnbd": [0.25, 0.55, 0.95, 1.9],
            "naive": [0.0, 0.7, 1.1, 2.4],
        }))


def _save(con, table, frame):
    con.register("_frame", frame)
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM _frame")
    con.unregister("_frame")


@pytest.fixture(scope="module")
def report(shared_data, tmp_path_factory):
    """The report of the data slice: (path of the page, ledger totals)."""
    folder = tmp_path_factory.mktemp("browser")
    export = data_slice(shared_data, folder / "slice.csv")
    out = folder / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = pipeline.run([export], out)
    if any(name == "report" for name, _ in pipeline.ALL_STAGES):
        assert (out / "report.html").stat().st_size > 1_000_000

    con = duckdb.connect(str(out / "shopseg.duckdb"))
    try:
        add_stand_in_tables(con)
        path = write_report(con, folder / "report.html",
                            metrics=load_metrics(out))
        lines_read, lines_kept = con.execute(
            "SELECT sum(lines), sum(lines) FILTER (WHERE bucket = 'kept') "
            "FROM ledger"
        ).fetchone()
    finally:
        con.close()
    del context
    return path, int(lines_read), int(lines_kept)


@pytest.fixture(scope="module")
def page(browser, report):
    """The report on a laptop screen."""
    yield from _open(browser, report, VIEWPORT)


@pytest.fixture(scope="module")
def phone_page(browser, report):
    """The report on a phone."""
    yield from _open(browser, report, PHONE)


def _open(browser, report, viewport):
    """The report opened offline; every request leaving the file is refused
    and recorded, and so is every console error."""
    path, _, _ = report
    context = browser.new_context(viewport=viewport)
    context.set_offline(True)
    page = context.new_page()
    page.problems = {"console": [], "requests": []}

    def on_console(message):
        if message.type == "error":
            page.problems["console"].append(message.text)

    def on_request(route):
        url = route.request.url
        if url.startswith(("file://", "data:", "blob:")):
            route.continue_()
        else:
            page.problems["requests"].append(url)
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.problems["console"].append(str(error)))
    page.route("**/*", on_request)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.plotly-graph-div')].every(
               el => el.querySelector('svg.main-svg'))""",
        timeout=60_000,
    )
    page.wait_for_timeout(500)
    yield page
    context.close()


def test_page_loads_without_errors_or_requests(page):
    assert page.problems["console"] == []
    assert page.problems["requests"] == []


def test_every_figure_has_rendered_content(page):
    figures = page.evaluate(
        """() => [...document.querySelectorAll('.plotly-graph-div')].map(el => {
            const box = el.getBoundingClientRect();
            const marks = el.querySelectorAll(
                'g.trace, g.slice, path.choroplethlocation, image, path.point');
            return {id: el.id, width: box.width, height: box.height,
                    marks: marks.length, traces: (el._fullData || []).length};
        })"""
    )
    always = {
        "fig-data-waterfall", "fig-exploration-map", "fig-exploration-countries",
        "fig-exploration-monthly", "fig-exploration-customers-monthly",
        "fig-exploration-retention", "fig-products-categories",
        "fig-customers-rfm", "fig-customers-profiles", "fig-customers-features",
        "fig-customers-scan", "fig-customers-stability", "fig-prediction-gain",
        "fig-prediction-scatter", "fig-prediction-calibration",
        "fig-prediction-coverage", "fig-clv-by-frequency",
    }
    assert always <= {figure["id"] for figure in figures}
    for figure in figures:
        assert figure["width"] > 300 and figure["height"] > 150, figure
        assert figure["traces"] > 0 and figure["marks"] > 0, figure

    countries = page.locator("#fig-exploration-map path.choroplethlocation").count()
    assert countries >= 10  # the shapes came from the page, not the network
    assert page.locator("#fig-products-clouds .cloud span").count() >= 20


def test_page_shows_the_ledger_totals(page, report):
    _, lines_read, lines_kept = report
    text = page.inner_text("body")
    assert f"{lines_read:,}" in text
    assert f"{lines_kept:,}" in text
    assert "Not enough data" not in text


def test_page_fits_a_laptop_screen(page):
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0


def test_screenshots(page):
    """Saved for people to look at: the whole page and each section."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
    page.add_style_tag(content="nav.toc { position: static; }")
    for section in SECTIONS:
        page.locator(f"#{section}").screenshot(
            path=str(ARTIFACTS / f"report-{section}.png")
        )
    assert len(list(ARTIFACTS.glob("*.png"))) == len(SECTIONS) + 1


def test_page_fits_a_phone(phone_page):
    """Nothing wider than the screen, every chart inside its card, and the
    menu on one line."""
    assert phone_page.problems["console"] == []
    overflow = phone_page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0
    too_wide = phone_page.evaluate(
        """() => [...document.querySelectorAll('.plotly-graph-div')].filter(el => {
            const card = el.closest('.card').getBoundingClientRect();
            return el.getBoundingClientRect().right > card.right;
        }).map(el => el.id)"""
    )
    assert too_wide == []
    assert phone_page.locator("nav.toc").bounding_box()["height"] < 60


def test_phone_stacks_the_segment_panels(phone_page):
    """The four panel titles of the segment features do not run into each
    other: two columns, two rows."""
    boxes = phone_page.evaluate(
        """() => [...document.querySelectorAll(
                '#fig-customers-features .annotation-text')]
            .slice(0, 4).map(t => t.getBoundingClientRect().toJSON())"""
    )
    assert len(boxes) == 4
    for first, box in enumerate(boxes):
        for other in boxes[first + 1:]:
            apart = (box["right"] <= other["left"] or other["right"] <= box["left"]
                     or box["bottom"] <= other["top"]
                     or other["bottom"] <= box["top"])
            assert apart, (box, other)
    tops = sorted({round(box["top"]) for box in boxes})
    assert len(tops) == 2


@pytest.mark.parametrize("which", ["laptop", "phone"])
def test_no_chart_shows_a_toolbar(which, page, phone_page):
    """The toolbar sat on legends and titles."""
    shown = (page if which == "laptop" else phone_page).locator(".modebar")
    assert shown.count() == 0


@pytest.mark.parametrize("which", ["laptop", "phone"])
def test_maps_stand_in_a_row_or_stacked_on_a_phone(which, page, phone_page):
    """Side by side on a laptop; on a phone, Europe above the world, each
    nearly as wide as the chart."""
    shown = page if which == "laptop" else phone_page
    chart, europe, world = shown.evaluate(
        """() => ['#fig-exploration-map', '.geo.geo .bg rect',
                  '.geo.geo2 .bg rect'].map(selector => {
            const found = document.querySelector(
                selector.startsWith('#') ? selector
                : '#fig-exploration-map ' + selector);
            return found.getBoundingClientRect().toJSON();
        })"""
    )
    if which == "laptop":
        assert europe["right"] <= world["left"]
    else:
        assert europe["bottom"] <= world["top"]
        for panel in (europe, world):
            assert panel["width"] > 0.8 * chart["width"], panel


@pytest.mark.parametrize("which", ["laptop", "phone"])
def test_every_rfm_tile_shows_its_name(which, page, phone_page):
    """Small tiles lost their text when it would have been small."""
    shown = page if which == "laptop" else phone_page
    tiles = shown.evaluate(
        """() => [...document.querySelectorAll('#fig-customers-rfm g.slice')]
            .map(tile => {
                const text = tile.querySelector('text.slicetext');
                return {text: text ? text.textContent : '',
                        width: text ? text.getBoundingClientRect().width : 0};
            })"""
    )
    assert len(tiles) >= 5
    for tile in tiles:
        assert tile["text"] and tile["width"] > 0, tile


@pytest.mark.parametrize("which", ["laptop", "phone"])
def test_bar_values_stay_inside_their_chart(which, page, phone_page):
    """The stability chart's values ran past the right edge of a phone."""
    shown = page if which == "laptop" else phone_page
    outside = shown.evaluate(
        """() => [...document.querySelectorAll('.plotly-graph-div')]
            .flatMap(chart => {
                const box = chart.getBoundingClientRect();
                return [...chart.querySelectorAll('text.bartext')].filter(t => {
                    const text = t.getBoundingClientRect();
                    return text.width > 0 && (text.right > box.right + 0.5
                                              || text.left < box.left - 0.5);
                }).map(t => chart.id + ': ' + t.textContent);
            })"""
    )
    assert outside == []
