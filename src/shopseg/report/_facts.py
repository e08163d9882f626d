"""Step 1 of the report: gather the facts from the store into plain data.

Every section of the report gets its facts from one small function of a
DuckDB connection (:func:`data_facts`, :func:`exploration_facts`, ...).
Facts are plain Python (dicts, lists, strings, numbers, ISO dates), so they
can be tested, dumped to JSON or rendered by another template.

A chart's facts hold its ``title``, its data and a ``takeaway``: one
sentence computed from the data. When the data are too few for the chart,
they hold a ``note`` instead, which the page shows in the chart's place.

The prediction and CLV sections read the tables of their stages when the
store has them and otherwise say that the stage has not run:

- ``prediction_metrics``: one row per model (column ``model``) with one
  column per metric, or the long form ``model, metric, value``;
- ``prediction_calibration``: ``bin, customers, mean_predicted,
  observed_rate`` of the repeat probability;
- ``prediction_backtest``: any columns, shown as a table;
- ``prediction_test``: one row per test-cohort customer with the actual and
  predicted next-year spend (``actual_spend``, ``predicted_spend``) and
  optionally ``repeat_probability`` and ``repeated``, ``lower`` and
  ``upper`` (the prediction interval) and ``level``;
- ``clv_holdout`` and ``clv_by_frequency`` of :mod:`shopseg.clv`.
"""

import datetime
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._world import world_country_names

#: Countries as the UCI exports spell them -> (ISO 3166 alpha-3, name shown).
#: None for places that are no country. Other names are looked up among the
#: map's own country names.
COUNTRY_CODES = {
    "Australia": ("AUS", "Australia"),
    "Austria": ("AUT", "Austria"),
    "Bahrain": ("BHR", "Bahrain"),
    "Belgium": ("BEL", "Belgium"),
    "Bermuda": ("BMU", "Bermuda"),
    "Brazil": ("BRA", "Brazil"),
    "Canada": ("CAN", "Canada"),
    "Channel Islands": (None, "Channel Islands"),
    "Cyprus": ("CYP", "Cyprus"),
    "Czech Republic": ("CZE", "Czech Republic"),
    "Denmark": ("DNK", "Denmark"),
    "EIRE": ("IRL", "Ireland"),
    "European Community": (None, "European Community"),
    "Finland": ("FIN", "Finland"),
    "France": ("FRA", "France"),
    "Germany": ("DEU", "Germany"),
    "Greece": ("GRC", "Greece"),
    "Hong Kong": ("HKG", "Hong Kong"),
    "Iceland": ("ISL", "Iceland"),
    "Israel": ("ISR", "Israel"),
    "Italy": ("ITA", "Italy"),
    "Japan": ("JPN", "Japan"),
    "Korea": ("KOR", "South Korea"),
    "Lebanon": ("LBN", "Lebanon"),
    "Lithuania": ("LTU", "Lithuania"),
    "Malta": ("MLT", "Malta"),
    "Netherlands": ("NLD", "Netherlands"),
    "Nigeria": ("NGA", "Nigeria"),
    "Norway": ("NOR", "Norway"),
    "Poland": ("POL", "Poland"),
    "Portugal": ("PRT", "Portugal"),
    "RSA": ("ZAF", "South Africa"),
    "Saudi Arabia": ("SAU", "Saudi Arabia"),
    "Singapore": ("SGP", "Singapore"),
    "Spain": ("ESP", "Spain"),
    "Sweden": ("SWE", "Sweden"),
    "Switzerland": ("CHE", "Switzerland"),
    "Thailand": ("THA", "Thailand"),
    "USA": ("USA", "United States"),
    "United Arab Emirates": ("ARE", "United Arab Emirates"),
    "United Kingdom": ("GBR", "United Kingdom"),
    "Unspecified": (None, "Unspecified"),
    "West Indies": (None, "West Indies"),
}

#: Places too small for the 1:110m shapes, drawn as a dot at (lon, lat).
SMALL_PLACES = {
    "BHR": (50.56, 26.07),
    "BMU": (-64.78, 32.31),
    "Channel Islands": (-2.36, 49.37),
    "HKG": (114.17, 22.32),
    "MLT": (14.44, 35.90),
    "SGP": (103.82, 1.35),
}

#: Fewest data points each chart needs to say something.
MIN_COUNTRIES = 2
MIN_MONTHS = 3
MIN_COHORTS = 3
MIN_CATEGORIES = 2
MIN_RFM_CUSTOMERS = 10
MIN_SEGMENTS = 2
MIN_SCAN = 2
MIN_TEST_CUSTOMERS = 20
MIN_CALIBRATION_BINS = 2

#: Fewest customers of a calibration bin whose gap the takeaway names.
MIN_BIN_CUSTOMERS = 20

#: Words left out of the category word clouds.
STOP_WORDS = frozenset({
    "a", "an", "and", "as", "assorted", "at", "by", "for", "from", "in",
    "of", "on", "or", "pack", "set", "sets", "the", "to", "with",
})

_MONTH = "%B %Y"
_NOT_RUN = "The {stage} stage has not run on this store, so there is {what}."


# --------------------------------------------------------------------------
# Formatting shared by the facts and the templates


def money(value):
    """Format pounds for a sentence: £1.46M, £567k, £1,234, -£3.2k.

    >>> money(1_460_000), money(567_150), money(1234.5), money(-3210)
    ('£1.46M', '£567k', '£1,234', '-£3.21k')
    """
    if value is None or not math.isfinite(value):
        return "-"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1e6:
        return f"{sign}£{value / 1e6:.3g}M"
    if value >= 1e4:
        return f"{sign}£{value / 1e3:.3g}k"
    if value >= 1e3 and sign:
        return f"{sign}£{value / 1e3:.3g}k"
    return f"{sign}£{value:,.0f}"


def share(value, digits=0):
    """Format a fraction as a percentage: ``share(0.4312) == '43%'``."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:.{digits}f}%"


def _not_enough(needs, found):
    return f"Not enough data for this chart: it needs {needs}, the data have {found}."


# --------------------------------------------------------------------------
# Reading the store


def _tables(con):
    return {row[0] for row in con.execute("SHOW TABLES").fetchall()}


def _frame(con, sql, params=None):
    return con.execute(sql, params or []).df()


def _records(frame):
    """Rows as dicts of plain Python values (NaN -> None, dates -> ISO)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({key: _plain(value) for key, value in row.items()})
    return out


def _plain(value):
    if isinstance(value, (pd.Timestamp, datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _column(frame, *names):
    """The first of ``names`` that is a column of ``frame``, or None."""
    for name in names:
        if name in frame.columns:
            return name
    return None


# --------------------------------------------------------------------------
# The facts of the whole report


def gather_facts(con, run=None, metrics=None):
    """Gather every fact the report shows from a store.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store; it is only read.
    run : dict, default=None
        The run being recorded (``command``, ``shopseg_version``,
        ``options``, ``stages``, ``versions``), when the report is written
        during a run; otherwise the latest run stored in ``runs`` is shown.
    metrics : dict, default=None
        The content of ``metrics.json`` beside the store, if any.

    Returns
    -------
    dict
        One key per section (``run``, ``data``, ``exploration``,
        ``products``, ``customers``, ``prediction``, ``clv``) plus
        ``summary`` (headline numbers) and ``generated_at``.
    """
    tables = _tables(con)
    return {
        "generated_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "summary": summary_facts(con, tables),
        "run": run_facts(con, tables, run),
        "data": data_facts(con, tables),
        "exploration": exploration_facts(con, tables),
        "products": product_facts(con, tables),
        "customers": customer_facts(con, tables),
        "prediction": prediction_facts(con, tables, metrics or {}),
        "clv": clv_facts(con, tables),
    }


def load_metrics(*folders):
    """Return the content of the first ``metrics.json`` found in ``folders``.

    Returns an empty dict when none exists or it does not hold an object.
    """
    for folder in folders:
        path = Path(folder) / "metrics.json"
        if path.is_file():
            try:
                content = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                return {}
            return content if isinstance(content, dict) else {}
    return {}


def summary_facts(con, tables):
    """Headline numbers: customers, invoices, revenue and period kept."""
    if "clean_lines" not in tables:
        return {"available": False}
    customers, invoices, revenue, first, last = con.execute(
        """
        SELECT count(DISTINCT customer_id), count(DISTINCT invoice),
            sum(amount), min(invoice_date), max(invoice_date)
        FROM clean_lines
        """
    ).fetchone()
    return {
        "available": True,
        "customers": int(customers),
        "invoices": int(invoices),
        "revenue": float(revenue or 0.0),
        "first": _plain(first),
        "last": _plain(last),
    }


# --------------------------------------------------------------------------
# Run metadata


def run_facts(con, tables, run=None):
    """The run's metadata: version, options, time per stage, inputs.

    Uses ``run`` when given (the run in progress), else the latest row of
    the ``runs`` table; lists every run the store recorded.
    """
    history = []
    if "runs" in tables:
        frame = _frame(
            con,
            "SELECT command, started_at, seconds, shopseg_version, options, "
            "stages, versions FROM runs ORDER BY started_at",
        )
        for row in frame.itertuples():
            history.append({
                "command": row.command,
                "started_at": _plain(row.started_at),
                "seconds": float(row.seconds),
                "shopseg_version": row.shopseg_version,
                "options": json.loads(row.options),
                "stages": json.loads(row.stages),
                "versions": json.loads(row.versions),
            })
    if run:
        current = dict(run)
    else:
        # The last full run, not a later command such as ``shopseg report``.
        full = [r for r in history if r["command"] == "run"]
        current = (full or history or [{}])[-1]
    stages = [
        {"stage": s["stage"], "seconds": float(s["seconds"])}
        for s in current.get("stages", [])
    ]
    return {
        "command": current.get("command"),
        "started_at": _plain(current.get("started_at")),
        "shopseg_version": current.get("shopseg_version"),
        "options": _option_rows(current.get("options", {})),
        "stages": stages,
        "seconds": sum(s["seconds"] for s in stages),
        "versions": current.get("versions", {}),
        "history": [
            {key: r[key] for key in ("command", "started_at", "seconds")}
            for r in history
        ],
        "inputs": input_rows(con, tables),
    }


def _option_rows(options):
    rows = []
    for name, value in sorted(options.items()):
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        rows.append({"option": name, "value": "-" if value is None else str(value)})
    return rows


def input_rows(con, tables):
    """One row per input file or sheet, with its checksum and formats."""
    if "inputs" not in tables:
        return []
    frame = _frame(con, "SELECT * FROM inputs ORDER BY source_id")
    rows = []
    for row in frame.to_dict(orient="records"):
        rows.append({
            "name": row.get("name"),
            "format": row.get("format"),
            "bytes": _plain(row.get("bytes")),
            "lines": _plain(row.get("lines")),
            "encoding": row.get("encoding") or "-",
            "delimiter": row.get("delimiter") or "-",
            "date_format": row.get("date_format") or "-",
            "sha256": row.get("sha256") or "-",
        })
    return rows


# --------------------------------------------------------------------------
# Data: inputs, period and ledger


def data_facts(con, tables):
    """Inputs, the period covered, the ledger and its waterfall."""
    facts = {"inputs": input_rows(con, tables)}
    if "lines" in tables:
        first, last = con.execute(
            "SELECT min(invoice_date), max(invoice_date) FROM lines"
        ).fetchone()
        facts["period"] = {"first": _plain(first), "last": _plain(last)}
    else:
        facts["period"] = None
    if "ledger" not in tables:
        facts["ledger"] = None
        facts["waterfall"] = {
            "title": "From lines read to lines kept",
            "note": "The clean stage has not run, so there is no ledger.",
        }
        return facts

    ledger = _frame(con, "SELECT * FROM ledger")
    total = int(ledger.lines.sum())
    kept = int(ledger.loc[ledger.bucket == "kept", "lines"].sum())
    rows = []
    for row in ledger.itertuples():
        rows.append({
            "bucket": row.bucket,
            "lines": int(row.lines),
            "share": row.lines / total if total else None,
            "value": float(row.value),
            "meaning": row.meaning,
        })
    facts["ledger"] = {
        "rows": rows,
        "lines_read": total,
        "lines_kept": kept,
        "kept_value": float(ledger.loc[ledger.bucket == "kept", "value"].sum()),
    }
    facts["waterfall"] = _waterfall(rows, total, kept)
    return facts


def _waterfall(rows, total, kept):
    title = "From lines read to lines kept"
    if total == 0:
        return {"title": title, "note": _not_enough("lines", "none")}
    removed = sorted(
        (r for r in rows if r["bucket"] != "kept" and r["lines"] > 0),
        key=lambda r: -r["lines"],
    )
    steps = [{"label": r["bucket"].replace("_", " "), "lines": -r["lines"],
              "meaning": r["meaning"]} for r in removed]
    takeaway = f"{share(kept / total, 1)} of the {total:,} lines read were kept"
    if removed:
        biggest = removed[0]
        takeaway += (
            f"; the largest set aside is '{biggest['bucket'].replace('_', ' ')}' "
            f"({biggest['lines']:,} lines, {share(biggest['lines'] / total, 1)})"
        )
    return {
        "title": title,
        "lines_read": total,
        "lines_kept": kept,
        "steps": steps,
        "takeaway": takeaway + ".",
    }


# --------------------------------------------------------------------------
# Exploration: countries, months, cohorts


def exploration_facts(con, tables):
    """Countries, monthly activity and cohort retention of the kept lines."""
    if "clean_lines" not in tables:
        note = "The clean stage has not run, so there are no kept lines."
        return {
            key: {"title": title, "note": note}
            for key, title in (
                ("map", "Revenue by country"),
                ("countries", "Top countries by revenue and customers"),
                ("monthly", "Monthly revenue and orders"),
                ("customers_monthly", "New and returning customers per month"),
                ("retention", "Cohort retention"),
            )
        }
    countries = country_rows(con)
    months = monthly_rows(con)
    return {
        "map": _map_facts(countries),
        "countries": _country_bar_facts(countries),
        "monthly": _monthly_facts(months),
        "customers_monthly": _new_returning_facts(months),
        "retention": retention_facts(con),
    }


def country_rows(con):
    """Customers, orders and revenue per country, highest revenue first."""
    frame = _frame(
        con,
        """
        SELECT coalesce(country, 'Unspecified') AS country,
            count(DISTINCT customer_id) AS customers,
            count(DISTINCT invoice) AS orders,
            sum(amount) AS revenue
        FROM clean_lines
        GROUP BY 1
        ORDER BY revenue DESC, country
        """,
    )
    rows = []
    for row in frame.itertuples():
        code, name = COUNTRY_CODES.get(row.country, (None, row.country))
        rows.append({
            "country": row.country,
            "name": name,
            "iso3": code,
            "customers": int(row.customers),
            "orders": int(row.orders),
            "revenue": float(row.revenue),
        })
    return rows


def _map_facts(countries):
    title = "Revenue by country"
    found = f"{len(countries)} countr{'y' if len(countries) == 1 else 'ies'}"
    if len(countries) < MIN_COUNTRIES:
        return {"title": title, "note": _not_enough("two countries", found)}
    if sum(r["revenue"] for r in countries) <= 0:
        return {"title": title, "note": _not_enough("some revenue", "none")}
    shapes = world_country_names()
    by_name = {name.lower(): code for code, name in shapes.items()}
    areas, dots, unmapped = [], [], []
    for row in countries:
        code = row["iso3"] or by_name.get(row["country"].lower())
        key = code or row["country"]
        entry = dict(row, iso3=code)
        if code in shapes:
            areas.append(entry)
        elif key in SMALL_PLACES:
            entry["lon"], entry["lat"] = SMALL_PLACES[key]
            dots.append(entry)
        else:
            unmapped.append(entry)
    if not areas and not dots:
        examples = ", ".join(repr(r["country"]) for r in countries[:3])
        return {"title": title, "note": _not_enough(
            "country names the map knows, such as 'United Kingdom'",
            f"none of {len(countries)} ({examples}, ...)",
        )}
    total = sum(r["revenue"] for r in countries)
    top = countries[0]
    abroad = [r for r in countries[1:]]
    takeaway = (
        f"{top['name']} brings {share(top['revenue'] / total)} of revenue "
        f"from {top['customers']:,} customers; {len(countries) - 1} other "
        f"countries share the remaining {money(total - top['revenue'])}"
    )
    if abroad:
        second = abroad[0]
        takeaway += f", led by {second['name']} ({money(second['revenue'])})"
    return {
        "title": title,
        "areas": areas,
        "dots": dots,
        "unmapped": unmapped,
        "takeaway": takeaway + ".",
    }


def _country_bar_facts(countries, top=15):
    title = f"Top {top} countries by revenue and customers"
    found = f"{len(countries)} countr{'y' if len(countries) == 1 else 'ies'}"
    if len(countries) < MIN_COUNTRIES:
        return {"title": title, "note": _not_enough("two countries", found)}
    if sum(r["revenue"] for r in countries) <= 0:
        return {"title": title, "note": _not_enough("some revenue", "none")}
    shown = countries[:top]
    if len(countries) <= top:
        title = "Countries by revenue and customers"
    total = sum(r["revenue"] for r in countries)
    customers = sorted(countries, key=lambda r: -r["customers"])
    per_customer = [r for r in countries if r["customers"] >= 3]
    revenue_leader, customer_leader = shown[0], customers[0]
    revenue_part = f"revenue ({share(revenue_leader['revenue'] / total)})"
    customer_part = f"customers ({customer_leader['customers']:,})"
    if revenue_leader["name"] == customer_leader["name"]:
        takeaway = (
            f"{revenue_leader['name']} is first by both {revenue_part} and "
            f"{customer_part}"
        )
    else:
        takeaway = (
            f"{revenue_leader['name']} is first by {revenue_part} and "
            f"{customer_leader['name']} by {customer_part}"
        )
    if per_customer:
        best = max(per_customer, key=lambda r: r["revenue"] / r["customers"])
        takeaway += (
            f"; among countries with 3 or more customers, {best['name']} spends "
            f"the most per customer ({money(best['revenue'] / best['customers'])})"
        )
    return {"title": title, "rows": shown, "takeaway": takeaway + "."}


def monthly_rows(con):
    """Revenue, orders, new and returning customers per calendar month."""
    frame = _frame(
        con,
        """
        WITH firsts AS (
            SELECT customer_id, date_trunc('month', min(invoice_date)) AS cohort
            FROM clean_lines
            GROUP BY customer_id
        ),
        months AS (
            SELECT date_trunc('month', invoice_date) AS month, customer_id,
                count(DISTINCT invoice) AS orders, sum(amount) AS revenue
            FROM clean_lines
            GROUP BY ALL
        )
        SELECT month, sum(revenue) AS revenue, sum(orders) AS orders,
            count(*) FILTER (WHERE month = cohort) AS new_customers,
            count(*) FILTER (WHERE month > cohort) AS returning_customers
        FROM months JOIN firsts USING (customer_id)
        GROUP BY month
        ORDER BY month
        """,
    )
    first, last = con.execute(
        "SELECT min(invoice_date), max(invoice_date) FROM clean_lines"
    ).fetchone()
    rows = []
    for row in frame.itertuples():
        month = pd.Timestamp(row.month)
        end = month + pd.offsets.MonthEnd(0)
        rows.append({
            "month": month.strftime("%Y-%m"),
            "label": month.strftime(_MONTH),
            "revenue": float(row.revenue),
            "orders": int(row.orders),
            "new_customers": int(row.new_customers),
            "returning_customers": int(row.returning_customers),
            "partial": bool(
                pd.Timestamp(first) > month + pd.Timedelta(days=1)
                or pd.Timestamp(last).normalize() < end.normalize()
            ),
        })
    return rows


def _monthly_facts(months):
    title = "Monthly revenue and orders"
    if len(months) < MIN_MONTHS:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_MONTHS} months", f"{len(months)}"),
        }
    complete = [m for m in months if not m["partial"]] or months
    peak = max(complete, key=lambda m: m["revenue"])
    median = float(np.median([m["revenue"] for m in complete]))
    takeaway = f"{peak['label']} was the peak month, with {money(peak['revenue'])}"
    if median > 0:
        takeaway += f", {peak['revenue'] / median:.1f}x the monthly median"
    peaks = _peak_month_per_year(complete)
    if len(peaks) >= 2 and len(set(peaks.values())) == 1:
        name = pd.Timestamp(f"2000-{next(iter(peaks.values())):02d}-01")
        takeaway += f"; {name:%B} is the peak in every year covered"
    partial = [m["label"] for m in months if m["partial"]]
    return {
        "title": title,
        "rows": months,
        "partial": partial,
        "takeaway": takeaway + ".",
    }


def _peak_month_per_year(months, min_months=10):
    """Calendar month of the highest revenue in each year with enough months."""
    years = {}
    for m in months:
        years.setdefault(m["month"][:4], []).append(m)
    return {
        year: int(max(rows, key=lambda m: m["revenue"])["month"][5:])
        for year, rows in years.items()
        if len(rows) >= min_months
    }


def _new_returning_facts(months):
    title = "New and returning customers per month"
    if len(months) < MIN_MONTHS:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_MONTHS} months", f"{len(months)}"),
        }
    later = months[1:]
    new = sum(m["new_customers"] for m in later)
    returning = sum(m["returning_customers"] for m in later)
    busiest = max(later, key=lambda m: m["new_customers"])
    takeaway = (
        f"After the first month, {share(returning / (new + returning))} of the "
        f"monthly buyers are returning customers; most new customers arrived in "
        f"{busiest['label']} ({busiest['new_customers']:,})"
    )
    return {
        "title": title,
        "rows": months,
        "first_month": months[0]["label"],
        "takeaway": takeaway + ".",
    }


def retention_facts(con, max_offset=None):
    """Share of each month's new customers who buy in each later month."""
    title = "Cohort retention: share of new customers buying again"
    frame = _frame(
        con,
        """
        WITH firsts AS (
            SELECT customer_id, date_trunc('month', min(invoice_date)) AS cohort
            FROM clean_lines
            GROUP BY customer_id
        ),
        active AS (
            SELECT DISTINCT customer_id, date_trunc('month', invoice_date) AS month
            FROM clean_lines
        )
        SELECT cohort, datediff('month', cohort, month) AS months_after,
            count(*) AS customers
        FROM active JOIN firsts USING (customer_id)
        GROUP BY ALL
        ORDER BY cohort, months_after
        """,
    )
    cohorts = sorted(frame.cohort.unique())
    if len(cohorts) < MIN_COHORTS:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_COHORTS} monthly cohorts", len(cohorts)),
        }
    n_offsets = len(cohorts) - 1
    if max_offset is not None:
        n_offsets = min(n_offsets, max_offset)
    sizes = frame[frame.months_after == 0].set_index("cohort").customers
    grid = frame.pivot(index="cohort", columns="months_after", values="customers")
    labels, shares, counts = [], [], []
    for position, cohort in enumerate(cohorts):
        labels.append(pd.Timestamp(cohort).strftime("%Y-%m"))
        row_shares, row_counts = [], []
        for offset in range(1, n_offsets + 1):
            if position + offset >= len(cohorts):
                row_shares.append(None)
                row_counts.append(None)
                continue
            value = grid.loc[cohort].get(offset, np.nan)
            value = 0 if pd.isna(value) else int(value)
            row_shares.append(value / int(sizes[cohort]))
            row_counts.append(value)
        shares.append(row_shares)
        counts.append(row_counts)

    # The first cohort mixes in every customer already buying when the data
    # begin; the averages leave it out.
    later_sizes = [int(sizes[c]) for c in cohorts[1:]]
    pooled = _pooled_retention(shares[1:], later_sizes)
    observed = [sum(row[i] is not None for row in shares[1:])
                for i in range(n_offsets)]
    takeaway = (
        f"On average {share(pooled[0])} of a month's new customers buy again "
        "in the next month"
    )
    far = 12 if n_offsets >= 12 and observed[11] >= 2 else max(
        (i + 1 for i in range(n_offsets) if observed[i] >= 3), default=1
    )
    if far > 1:
        takeaway += f", and {share(pooled[far - 1])} in the {_ordinal(far)} month"
    first_later = [s[0] for s in shares[1:] if s[0] is not None]
    note = None
    if first_later and shares[0][0] is not None:
        note = (
            f"The first cohort ({labels[0]}) holds every customer already buying "
            "when the data begin, so it returns more often "
            f"({share(shares[0][0])} in its second month against "
            f"{share(float(np.median(first_later)))} for the median later cohort)."
        )
    return {
        "title": title,
        "cohorts": labels,
        "sizes": [int(sizes[c]) for c in cohorts],
        "offsets": list(range(1, n_offsets + 1)),
        "shares": shares,
        "counts": counts,
        "pooled": pooled,
        "caveat": note,
        "takeaway": takeaway + ".",
    }


def _ordinal(n):
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(
        n % 10, "th"
    )
    return f"{n}{suffix}"


def _pooled_retention(shares, sizes):
    """Customer-weighted mean retention per month offset, over the cohorts
    observed that long."""
    pooled = []
    for offset in range(len(shares[0])):
        weights, values = [], []
        for row, size in zip(shares, sizes):
            if row[offset] is not None:
                weights.append(size)
                values.append(row[offset])
        pooled.append(
            float(np.average(values, weights=weights)) if weights else None
        )
    return pooled


# --------------------------------------------------------------------------
# Products


def product_facts(con, tables):
    """Product categories: size, revenue and the words that describe them."""
    title = "Categories by revenue and number of products"
    if "categories" not in tables:
        note = _NOT_RUN.format(stage="products", what="no product category")
        return {"clouds": {"title": "Category word clouds", "note": note},
                "categories": {"title": title, "note": note}}
    frame = _frame(con, "SELECT * FROM categories ORDER BY revenue DESC")
    real = frame[frame.category >= 0]
    if len(real) < MIN_CATEGORIES:
        note = _not_enough(f"{MIN_CATEGORIES} categories", len(real))
        return {"clouds": {"title": "Category word clouds", "note": note},
                "categories": {"title": title, "note": note}}

    words = category_words(con) if "product_categories" in tables else {}
    rows = []
    for row in frame.itertuples():
        if not row.n_products:
            continue  # an empty "Uncategorised": every product has a category
        rows.append({
            "category": int(row.category),
            "label": row.label,
            "top_terms": [t.strip() for t in (row.top_terms or "").split(",")
                          if t.strip()],
            "products": int(row.n_products),
            "revenue": float(row.revenue),
            "revenue_share": float(row.revenue_share),
            "words": words.get(int(row.category), []),
        })
    top = rows[0]
    smallest = min((r for r in rows if r["category"] >= 0),
                   key=lambda r: r["revenue"])
    per_product = max(
        (r for r in rows if r["category"] >= 0),
        key=lambda r: r["revenue"] / max(r["products"], 1),
    )
    takeaway = (
        f"'{top['label']}' is the largest category, {top['products']:,} products "
        f"and {share(top['revenue_share'])} of revenue; '{per_product['label']}' "
        f"earns the most per product "
        f"({money(per_product['revenue'] / per_product['products'])})"
    )
    cloud_takeaway = (
        f"{len(real)} categories found from the product descriptions; the words "
        "are sized by the revenue of the products whose description holds them "
        f"(smallest category by revenue: '{smallest['label']}', "
        f"{money(smallest['revenue'])})."
    )
    return {
        "clouds": {"title": "Category word clouds", "rows": rows,
                   "takeaway": cloud_takeaway},
        "categories": {"title": title, "rows": rows, "takeaway": takeaway + "."},
    }


def category_words(con, n_words=24):
    """Per category, the words of its descriptions weighted by revenue.

    Returns
    -------
    dict
        category -> list of ``{"word", "weight"}``, heaviest first, weights
        scaled to 1 for the heaviest word.
    """
    frame = _frame(
        con,
        "SELECT category, description, greatest(revenue, 0) AS revenue "
        "FROM product_categories WHERE description IS NOT NULL",
    )
    out = {}
    for category, group in frame.groupby("category"):
        weights = {}
        for description, revenue in zip(group.description, group.revenue):
            for word in set(re.findall(r"[a-z][a-z'-]+", description.lower())):
                if word not in STOP_WORDS and len(word) > 2:
                    weights[word] = weights.get(word, 0.0) + float(revenue) + 1.0
        ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
        ranked = ranked[:n_words]
        if ranked:
            top = ranked[0][1]
            out[int(category)] = [
                {"word": word, "weight": weight / top} for word, weight in ranked
            ]
    return out


# --------------------------------------------------------------------------
# Customers


def customer_facts(con, tables):
    """RFM segments, behavioural segments, silhouette scan and stability."""
    not_run = _NOT_RUN.format(stage="segments", what="no customer segment")
    if "customers" not in tables or "segments" not in tables:
        return {
            key: {"title": title, "note": not_run}
            for key, title in (
                ("rfm", "RFM segments: customers and revenue"),
                ("profiles", "Behavioural segments"),
                ("features", "Behavioural segments: what sets them apart"),
                ("scan", "Choosing the number of segments"),
                ("stability", "Stability of the segments across seeds"),
            )
        }
    return {
        "rfm": rfm_facts(con),
        "profiles": profile_facts(con),
        "features": segment_feature_facts(con),
        "scan": scan_facts(con, tables),
        "stability": stability_facts(con, tables),
    }


def rfm_facts(con):
    """Customers and revenue of each RFM segment."""
    title = "RFM segments: customers and revenue"
    frame = _frame(
        con,
        """
        SELECT rfm_segment AS segment, count(*) AS customers,
            sum(spend) AS revenue, median(recency_days) AS median_recency_days,
            median(orders) AS median_orders
        FROM customers
        WHERE rfm_segment IS NOT NULL
        GROUP BY 1
        ORDER BY revenue DESC
        """,
    )
    total_customers = int(frame.customers.sum())
    if total_customers < MIN_RFM_CUSTOMERS:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_RFM_CUSTOMERS} customers",
                                total_customers),
        }
    total_revenue = float(frame.revenue.sum())
    rows = []
    for row in frame.itertuples():
        rows.append({
            "segment": row.segment,
            "customers": int(row.customers),
            "customer_share": row.customers / total_customers,
            "revenue": float(row.revenue),
            "revenue_share": float(row.revenue) / total_revenue
            if total_revenue else 0.0,
            "median_recency_days": float(row.median_recency_days),
            "median_orders": float(row.median_orders),
        })
    top = rows[0]
    takeaway = (
        f"'{top['segment']}' are {share(top['customer_share'])} of customers and "
        f"bring {share(top['revenue_share'])} of revenue"
    )
    biggest = max(rows, key=lambda r: r["customers"])
    if biggest is not top:
        takeaway += (
            f"; the largest group, '{biggest['segment']}' "
            f"({share(biggest['customer_share'])} of customers), brings "
            f"{share(biggest['revenue_share'])}"
        )
    return {"title": title, "rows": rows, "takeaway": takeaway + "."}


def profile_facts(con):
    """The behavioural segments' profiles as stored by the segments stage."""
    title = "Behavioural segments"
    frame = _frame(con, "SELECT * FROM segments ORDER BY segment")
    if len(frame) < MIN_SEGMENTS:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_SEGMENTS} segments", len(frame)),
        }
    rows = _records(frame)
    top = max(rows, key=lambda r: r["revenue_share"])
    takeaway = (
        f"'{top['name']}' are {share(top['customer_share'])} of customers and "
        f"bring {share(top['revenue_share'])} of revenue, with a median of "
        f"{top['median_orders']:g} orders and {money(top['median_spend'])} spent"
    )
    return {"title": title, "rows": rows, "takeaway": takeaway + "."}


#: Features compared across behavioural segments: column, label, unit. The
#: labels name the same statistics as the segment table's "median ..."
#: columns: a customer's order value is the mean of their orders.
SEGMENT_FEATURES = (
    ("recency_days", "Days since last order", "days"),
    ("orders", "Orders", "orders"),
    ("spend", "Spend", "£"),
    ("mean_order_value", "Order value", "£"),
)


def segment_feature_facts(con):
    """Median of a few features per behavioural segment, beside everyone's."""
    title = "Behavioural segments: what sets them apart"
    columns = {
        row[0] for row in con.execute("DESCRIBE customers").fetchall()
    }
    features = [f for f in SEGMENT_FEATURES if f[0] in columns]
    frame = _frame(
        con,
        "SELECT segment, segment_name, count(*) AS customers, "
        + ", ".join(f"median({f[0]}) AS {f[0]}" for f in features)
        + " FROM customers WHERE segment IS NOT NULL GROUP BY ALL ORDER BY segment",
    )
    if len(frame) < MIN_SEGMENTS or not features:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_SEGMENTS} segments", len(frame)),
        }
    overall = con.execute(
        "SELECT " + ", ".join(f"median({f[0]})" for f in features)
        + " FROM customers WHERE segment IS NOT NULL"
    ).fetchone()
    segments = [
        {"segment": int(row.segment), "name": row.segment_name or str(row.segment),
         "customers": int(row.customers)}
        for row in frame.itertuples()
    ]
    panels = []
    for (column, label, unit), everyone in zip(features, overall):
        panels.append({
            "feature": column,
            "label": label,
            "unit": unit,
            "values": [float(v) for v in frame[column]],
            "everyone": float(everyone),
        })
    spend = next((p for p in panels if p["feature"] == "spend"), panels[0])
    # Compare segments of some size: a segment of one customer is an outlier.
    sizeable = [i for i, n in enumerate(frame.customers)
                if n >= 0.02 * frame.customers.sum()] or list(range(len(frame)))
    high = max(sizeable, key=lambda i: spend["values"][i])
    low = min(sizeable, key=lambda i: spend["values"][i])
    lowest = spend["values"][low]
    ratio = spend["values"][high] / lowest if lowest else None
    takeaway = (
        f"The median '{segments[high]['name']}' customer's {spend['label'].lower()} "
        f"is {_value(spend['values'][high], spend['unit'])}"
    )
    if ratio is not None and high != low:
        takeaway += (
            f", {ratio:.1f}x that of '{segments[low]['name']}' "
            f"({_value(spend['values'][low], spend['unit'])})"
        )
    return {
        "title": title,
        "segments": segments,
        "panels": panels,
        "takeaway": takeaway + ".",
        "caveat": "Each bar is the median over the segment's customers, as in "
        "the table above; a customer's order value is the mean of their "
        "orders.",
    }


def _value(value, unit):
    return money(value) if unit == "£" else f"{value:,.0f} {unit}"


def scan_facts(con, tables):
    """Silhouette of the behavioural k-means for each number of segments."""
    title = "Choosing the number of segments: silhouette by k"
    if "segment_scan" not in tables:
        return {"title": title, "note": "The segments stage stored no scan."}
    frame = _frame(con, "SELECT * FROM segment_scan ORDER BY k")
    if len(frame) < MIN_SCAN:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_SCAN} values of k", len(frame)),
        }
    chosen = frame[frame.chosen]
    chosen = chosen.iloc[0] if len(chosen) else frame.loc[frame.silhouette.idxmax()]
    others = frame[frame.k != chosen.k]
    runner = others.loc[others.silhouette.idxmax()]
    takeaway = (
        f"k={int(chosen.k)} has the highest silhouette ({chosen.silhouette:.3f}); "
        f"the next best is k={int(runner.k)} ({runner.silhouette:.3f}), and no "
        f"value of k reaches 0.25, so the segments overlap rather than form "
        f"separate clusters"
        if frame.silhouette.max() < 0.25
        else f"k={int(chosen.k)} has the highest silhouette "
        f"({chosen.silhouette:.3f}); the next best is k={int(runner.k)} "
        f"({runner.silhouette:.3f})"
    )
    return {
        "title": title,
        "k": [int(k) for k in frame.k],
        "silhouette": [float(s) for s in frame.silhouette],
        "chosen": int(chosen.k),
        "takeaway": takeaway + ".",
    }


def stability_facts(con, tables):
    """Agreement of the segments across random seeds (adjusted Rand index)."""
    title = "Stability of the segments across seeds"
    if "segment_stability" not in tables:
        return {"title": title, "note": "The segments stage stored no stability."}
    frame = _frame(con, "SELECT * FROM segment_stability")
    if frame.empty or pd.isna(frame.ari_mean.iloc[0]):
        return {"title": title, "note": _not_enough("two seeds", "none")}
    row = frame.iloc[0]
    verdict = (
        "the same segments" if row.ari_min >= 0.9
        else "similar segments" if row.ari_min >= 0.7
        else "noticeably different segments"
    )
    takeaway = (
        f"Re-running k-means with {int(row.seeds)} seeds gives {verdict}: "
        f"adjusted Rand index {row.ari_mean:.3f} on average and "
        f"{row.ari_min:.3f} at worst (1 means identical)"
    )
    return {
        "title": title,
        "k": int(row.k),
        "seeds": int(row.seeds),
        "ari_mean": float(row.ari_mean),
        "ari_min": float(row.ari_min),
        "silhouette": float(row.silhouette),
        "takeaway": takeaway + ".",
    }


# --------------------------------------------------------------------------
# Prediction


#: Names of the test-cohort prediction columns, preferred name first.
_ACTUAL = ("actual_spend", "actual", "y_true", "spend")
_PREDICTED = ("predicted_spend", "predicted", "y_pred", "prediction")
_PROBABILITY = ("repeat_probability", "p_repeat", "probability")
_REPEATED = ("repeated", "repeat", "actual_repeat")
_LOWER = ("spend_lower", "lower", "predicted_lower")
_UPPER = ("spend_upper", "upper", "predicted_upper")

#: Labels of the metrics the prediction stage may store.
METRIC_LABELS = {
    "mae": "MAE (£)",
    "rmse": "RMSE (£)",
    "r2": "R²",
    "spearman": "Spearman ρ",
    "normalized_gini": "Normalized Gini",
    "decile_calibration_error": "Decile calibration error",
    "top_decile_capture": "Top-decile capture",
    "predicted_revenue": "Predicted revenue (£)",
    "actual_revenue": "Actual revenue (£)",
    "revenue_ratio": "Predicted / actual revenue",
    "auc": "Repeat AUC",
    "brier": "Repeat Brier score",
    "coverage": "Interval coverage",
    "customers": "Customers",
}

REFERENCE_NOTE = (
    "A widely copied 2017 notebook on this data claims to classify 75% of "
    "customers correctly. It built each customer's label and the features it "
    "tested on from the same months of purchases, so the label was already "
    "known when it was 'predicted': that is a description of the past, not a "
    "forecast. Here every number is measured on customers whose first purchase "
    "came after the model was trained, against what they spent in the "
    "following months."
)


def prediction_facts(con, tables, metrics=None):
    """Test-cohort metrics, gain, predicted against actual, calibration and
    interval coverage, from the prediction stage's tables."""
    metrics = metrics or {}
    stored = {"prediction_metrics", "prediction_test", "prediction_calibration",
              "prediction_backtest"} & tables
    facts = {"ran": bool(stored), "reference_note": REFERENCE_NOTE}
    not_run = _NOT_RUN.format(stage="prediction", what="no forecast to show")
    facts["window"] = _prediction_window(metrics)
    facts["metrics"] = _metric_table(con, tables, not_run, metrics)
    test = _test_predictions(con, tables)
    facts["gain"] = _gain_facts(test, not_run)
    facts["scatter"] = _scatter_facts(test, not_run)
    facts["calibration"] = _calibration_facts(con, tables, test, not_run)
    facts["coverage"] = _coverage_facts(test, facts["metrics"], metrics, not_run)
    facts["backtest"] = _backtest_facts(con, tables, not_run)
    facts["ablation"] = _ablation_facts(con, tables)
    return facts


def _prediction_window(metrics):
    """The cohort's calendar and split from ``metrics.json``, flattened."""
    section = metrics.get("prediction") or {}
    window = {k: v for k, v in (section.get("window") or {}).items()
              if not isinstance(v, (dict, list))}
    for side in ("train", "test"):
        facts = (section.get("split") or {}).get(side) or {}
        for key in ("customers", "first_purchase_from", "first_purchase_to"):
            if key in facts:
                window[f"{side}_{key}"] = facts[key]
    return window


#: Order of the spend metrics in the table; others follow.
SPEND_METRICS = (
    "normalized_gini", "spearman", "top_decile_capture",
    "decile_calibration_error", "mae", "rmse", "r2", "predicted_revenue",
    "actual_revenue", "revenue_ratio",
)


def _metric_table(con, tables, not_run, metrics=None):
    title = "Test-cohort metrics against the baselines"
    if "prediction_metrics" not in tables:
        return {"title": title, "note": not_run}
    frame = _frame(con, "SELECT * FROM prediction_metrics")
    extras = []
    if {"task", "model", "metric", "value"} <= set(frame.columns):
        tasks = dict(tuple(frame.groupby("task", sort=False)))
        extras = _task_tables(tasks, metrics or {})
        frame = tasks.get("spend", frame.iloc[:0])
    candidates = sorted({m for m in frame.get("model", []) if
                         str(m).startswith("candidate_")})
    frame = frame[~frame.model.isin(candidates)] if candidates else frame
    if {"model", "metric", "value"} <= set(frame.columns):
        order = list(dict.fromkeys(frame.metric))
        frame = frame.pivot_table(
            index="model", columns="metric", values="value", aggfunc="first",
            sort=False,
        ).reset_index()
        frame = frame[["model"] + [m for m in order if m in frame.columns]]
    if frame.empty or "model" not in frame.columns:
        return {"title": title, "note": "The prediction stage stored no metrics."}
    numeric = [
        c for c in frame.columns
        if c != "model" and pd.api.types.is_numeric_dtype(frame[c])
    ]
    numeric.sort(key=lambda c: (SPEND_METRICS + (c,)).index(c))
    text = [c for c in frame.columns if c != "model" and c not in numeric]
    columns = [{"key": c, "label": METRIC_LABELS.get(c, c.replace("_", " "))}
               for c in text + numeric]
    frame = frame.assign(model=frame.model.map(_model_label))
    rows = _records(frame[["model"] + text + numeric])
    rows.sort(key=lambda r: _is_baseline(r["model"]))  # our model first
    section = (metrics or {}).get("prediction") or {}
    notes = [n for n in section.get("notes", []) if isinstance(n, str)]
    if candidates:
        names = ", ".join(c.removeprefix("candidate_").replace("_", " ")
                          for c in candidates)
        chosen = section.get("spend_model")
        notes.insert(0, (
            f"The shopseg model's spend forecast was chosen among {names} on "
            "the training customers" + (f" ({chosen})." if chosen else ".")
        ))
    return {
        "title": title,
        "columns": columns,
        "rows": rows,
        "takeaway": _metric_takeaway(rows),
        "extras": extras,
        "notes": notes,
    }


#: Names shown for the prediction stage's models.
PREDICTION_MODELS = {
    "first_order_model": "shopseg model",
    "linear_regression_log": "linear regression (log spend)",
    "constant_zero": "constant £0",
    "constant_mean": "constant: training mean",
    "constant_median": "constant: training median",
    "constant_training_rate": "constant: training repeat rate",
}


def _model_label(name):
    return PREDICTION_MODELS.get(name, str(name).replace("_", " "))


def _is_baseline(name):
    name = str(name).lower()
    return any(word in name for word in ("baseline", "constant", "linear",
                                         "majority"))


def _task_tables(tasks, metrics):
    """Small tables of the repeat and segment forecasts beside the spend."""
    out = []
    repeat = tasks.get("repeat")
    if repeat is not None and len(repeat):
        wide = repeat.pivot_table(index="model", columns="metric", values="value",
                                  aggfunc="first", sort=False).reset_index()
        keys = [k for k in ("auc", "brier", "mean_probability", "base_rate")
                if k in wide.columns]
        wide = wide.assign(model=wide.model.map(_model_label))
        out.append({
            "title": "Will they buy again? The repeat probability",
            "columns": [{"key": "model", "label": "model"}] + [
                {"key": k, "label": REPEAT_LABELS[k]} for k in keys
            ],
            "rows": sorted(_records(wide[["model"] + keys]),
                           key=lambda r: _is_baseline(r["model"])),
        })
    segment = tasks.get("segment")
    if segment is not None and len(segment):
        values = dict(zip(segment.metric, segment.value))
        if "accuracy" in values and "majority_accuracy" in values:
            name = ((metrics.get("prediction") or {}).get("segment") or {}).get(
                "majority_segment_name"
            )
            majority = f"always '{name}'" if name else "always the majority"
            out.append({
                "title": "Which behavioural segment after a year?",
                "columns": [{"key": "model", "label": "model"},
                            {"key": "accuracy", "label": "accuracy"},
                            {"key": "macro_f1", "label": "macro F1"}],
                "rows": [
                    {"model": PREDICTION_MODELS["first_order_model"],
                     "accuracy": values["accuracy"],
                     "macro_f1": values.get("macro_f1")},
                    {"model": f"{majority} (baseline)",
                     "accuracy": values["majority_accuracy"],
                     "macro_f1": values.get("majority_macro_f1")},
                ],
            })
    return out


REPEAT_LABELS = {
    "auc": "AUC (higher is better)",
    "brier": "Brier score (lower is better)",
    "mean_probability": "mean probability",
    "base_rate": "observed repeat rate",
}


def _metric_takeaway(rows):
    """Compare the first model with the best baseline on one metric."""
    models = [r for r in rows if not _is_baseline(r["model"])] or rows[:1]
    baselines = [r for r in rows if r not in models]
    model = models[0]
    for key, higher in (("normalized_gini", True), ("spearman", True),
                        ("mae", False), ("rmse", False)):
        if model.get(key) is None:
            continue
        label = METRIC_LABELS[key].replace(" (£)", "")
        sentence = f"On the test cohort, {model['model']} has {label} "
        sentence += _metric_value(key, model[key])
        scored = [b for b in baselines if b.get(key) is not None]
        if scored:
            best = (max if higher else min)(scored, key=lambda b: b[key])
            sentence += (
                f" against {_metric_value(key, best[key])} for the best "
                f"baseline ({best['model']})"
            )
            if model.get("revenue_ratio") is not None and best.get(
                "revenue_ratio"
            ) is not None:
                sentence += (
                    f"; its forecasts add up to {model['revenue_ratio']:.2f}x "
                    f"the actual revenue, against {best['revenue_ratio']:.2f}x"
                )
        return sentence + "."
    return None


def _metric_value(key, value):
    if key in ("mae", "rmse", "predicted_revenue", "actual_revenue"):
        return money(value)
    return f"{value:.3f}"


def _test_predictions(con, tables):
    if "prediction_test" not in tables:
        return None
    frame = _frame(con, "SELECT * FROM prediction_test")
    actual = _column(frame, *_ACTUAL)
    predicted = _column(frame, *_PREDICTED)
    if actual is None or predicted is None:
        return None
    out = pd.DataFrame({
        "actual": frame[actual].astype(float),
        "predicted": frame[predicted].astype(float),
    })
    for name, aliases in (("probability", _PROBABILITY), ("repeated", _REPEATED),
                          ("lower", _LOWER), ("upper", _UPPER),
                          ("level", ("level", "interval_level"))):
        column = _column(frame, *aliases)
        if column is not None:
            out[name] = frame[column].astype(float)
    return out.dropna(subset=["actual", "predicted"])


def _too_few_test(test, not_run):
    if test is None:
        return not_run
    if len(test) < MIN_TEST_CUSTOMERS:
        return _not_enough(f"{MIN_TEST_CUSTOMERS} test customers", len(test))
    return None


def _gain_facts(test, not_run, points=50):
    title = "Gain chart: share of next-year spend captured"
    note = _too_few_test(test, not_run)
    if note:
        return {"title": title, "note": note}
    total = test.actual.sum()
    if total <= 0:
        return {"title": title, "note": "The test cohort spent nothing."}
    n = len(test)
    by_model = test.sort_values("predicted", ascending=False, kind="stable")
    best = test.sort_values("actual", ascending=False, kind="stable")
    shares = np.linspace(0, 1, points + 1)
    cuts = np.round(shares * n).astype(int)

    def curve(frame):
        cumulative = np.r_[0.0, frame.actual.cumsum().to_numpy()] / total
        return [float(cumulative[c]) for c in cuts]

    model_curve = curve(by_model)
    top = round(0.1 * n)
    captured = float(by_model.actual.iloc[:top].sum() / total) if top else 0.0
    takeaway = (
        f"The 10% of test customers with the highest forecasts brought "
        f"{share(captured)} of the cohort's actual next-year spend, "
        f"{captured / 0.1:.1f}x what a random tenth brings"
    )
    return {
        "title": title,
        "customer_share": [float(s) for s in shares],
        "model": model_curve,
        "perfect": curve(best),
        "top_decile_capture": captured,
        "customers": n,
        "takeaway": takeaway + ".",
    }


def _scatter_facts(test, not_run, max_points=4000, seed=0):
    title = "Predicted against actual next-year spend"
    note = _too_few_test(test, not_run)
    if note:
        return {"title": title, "note": note}
    sample = test
    if len(test) > max_points:
        sample = test.sample(max_points, random_state=seed)
    order = pd.qcut(test.predicted.rank(method="first"), 10, labels=False)
    deciles = test.groupby(order).agg(
        predicted=("predicted", "mean"), actual=("actual", "mean")
    )
    ratio = test.predicted.sum() / test.actual.sum() if test.actual.sum() else None
    takeaway = (
        f"Over the {len(test):,} test customers the forecasts add up to "
        f"{money(test.predicted.sum())} against {money(test.actual.sum())} "
        "actually spent"
    )
    if ratio is not None:
        takeaway += f" ({ratio:.2f}x)"
    return {
        "title": title,
        "actual": [float(v) for v in sample.actual],
        "predicted": [float(v) for v in sample.predicted],
        "deciles": _records(deciles.reset_index(drop=True)),
        "shown": len(sample),
        "customers": len(test),
        "takeaway": takeaway + ".",
    }


def _calibration_facts(con, tables, test, not_run):
    title = "Calibration of the repeat probability"
    rows = None
    if "prediction_calibration" in tables:
        rows = _records(_frame(con, "SELECT * FROM prediction_calibration"))
    elif test is not None and {"probability", "repeated"} <= set(test.columns):
        from ..predict._metrics import calibration_table

        rows = _records(calibration_table(test.repeated, test.probability))
    if rows is None:
        stage_ran = test is not None or "prediction_metrics" in tables
        note = ("The prediction stage stored no repeat probabilities."
                if stage_ran else not_run)
        return {"title": title, "note": note}
    rows = [r for r in rows if r.get("mean_predicted") is not None
            and r.get("observed_rate") is not None]
    if len(rows) < MIN_CALIBRATION_BINS:
        return {
            "title": title,
            "note": _not_enough(f"{MIN_CALIBRATION_BINS} probability bins",
                                len(rows)),
        }
    weights = np.array([r.get("customers") or 1 for r in rows], dtype=float)
    gaps = np.array([abs(r["observed_rate"] - r["mean_predicted"]) for r in rows])
    error = float(np.average(gaps, weights=weights))
    # The widest gap worth naming is in a bin of some size: a bin of two
    # customers is far off by chance alone.
    floor = int(min(MIN_BIN_CUSTOMERS, weights.max()))
    worst = rows[int(np.argmax(np.where(weights >= floor, gaps, -1.0)))]
    takeaway = (
        f"Observed repeat rates lie on average {100 * error:.1f} points from "
        f"the predicted probabilities (customer-weighted); the widest gap in a "
        f"bin of {floor:,} customers or more is in the "
        f"{worst.get('bin', 'one')} bin ({int(worst.get('customers') or 0):,} "
        f"customers), {share(worst['mean_predicted'])} predicted against "
        f"{share(worst['observed_rate'])} observed"
    )
    return {"title": title, "rows": rows, "error": error,
            "takeaway": takeaway + "."}


def _coverage_facts(test, metric_facts, metrics, not_run):
    title = "Prediction interval coverage"
    rows = []
    section = (metrics or {}).get("prediction") or {}
    kind = str((section.get("interval") or {}).get("interval", ""))
    one_sided = " (from £0)" if kind.startswith("one-sided") else ""
    if test is not None and {"lower", "upper"} <= set(test.columns):
        inside = (test.actual >= test.lower) & (test.actual <= test.upper)
        level = float(test["level"].iloc[0]) if "level" in test.columns else None
        rows.append({
            "interval": f"{share(level)} interval{one_sided}" if level
            else "interval",
            "level": level,
            "coverage": float(inside.mean()),
            "median_width": float((test.upper - test.lower).median()),
        })
    else:
        rows = _interval_sources(metric_facts, metrics)
    if not rows:
        ran = test is not None or "rows" in metric_facts
        note = ("The prediction stage stored no prediction intervals."
                if ran else not_run)
        return {"title": title, "note": note}
    first = rows[0]
    takeaway = f"{share(first['coverage'])} of actual next-year spends fell inside "
    if first.get("level"):
        near = abs(first["coverage"] - first["level"]) <= 0.05
        takeaway += (
            f"the {share(first['level'])} prediction intervals "
            f"({'close to' if near else 'not near'} the nominal level)"
        )
    else:
        takeaway += "the prediction intervals"
    return {"title": title, "rows": rows, "takeaway": takeaway + "."}


def _interval_sources(metric_facts, metrics):
    section = metrics.get("prediction") or metrics.get("predict") or {}
    found = []
    for key in ("interval", "intervals"):
        value = section.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        for item in items:
            if isinstance(item, dict) and "coverage" in item:
                found.append({
                    "interval": f"{share(item.get('level'))} interval"
                    if item.get("level") else "interval",
                    "level": item.get("level"),
                    "coverage": float(item["coverage"]),
                    "median_width": item.get("median_width"),
                })
    if not found:
        for row in metric_facts.get("rows", []):
            if row.get("coverage") is not None:
                found.append({
                    "interval": f"{row['model']}",
                    "level": row.get("level"),
                    "coverage": float(row["coverage"]),
                    "median_width": row.get("median_width"),
                })
    return found


#: Models drawn in the backtest figure: ours and the baselines that matter.
BACKTEST_MODELS = ("first_order_model", "linear_regression_log", "constant_mean")


def _backtest_facts(con, tables, not_run):
    """Ranking and revenue forecast of the models at each backtest origin."""
    title = "Backtest: the same models on earlier cohorts"
    if "prediction_backtest" not in tables:
        return {"title": title, "note": not_run}
    frame = _frame(con, "SELECT * FROM prediction_backtest")
    needed = {"origin", "model", "normalized_gini", "revenue_ratio"}
    if frame.empty or not needed <= set(frame.columns):
        return {"title": title, "note": "The backtest stored no results."}
    if "variant" not in frame.columns:
        frame["variant"] = "standard"
    if "horizon_days" not in frame.columns:
        frame["horizon_days"] = None
    notes = []
    if "note" in frame.columns:
        notes = [
            f"{row.variant} backtest"
            + (f", origin {_day(row.origin)}" if pd.notna(row.origin) else "")
            + f": {row.note}"
            for row in frame[frame.note.notna()].itertuples()
        ]
    frame = frame[frame.model.isin(BACKTEST_MODELS) & frame.origin.notna()]
    frame = frame.sort_values("origin")
    if frame.origin.nunique() < 2:
        return {"title": title, "note": _not_enough("two backtest origins",
                                                    frame.origin.nunique())}
    series = []
    for (variant, model), group in frame.groupby(["variant", "model"], sort=False):
        horizon = group.horizon_days.iloc[0]
        series.append({
            "model": model,
            "label": _model_label(model),
            "variant": variant,
            "horizon_days": None if pd.isna(horizon) else int(horizon),
            "origins": [_day(v) for v in group.origin],
            "normalized_gini": [_plain(float(v)) for v in group.normalized_gini],
            "revenue_ratio": [_plain(float(v)) for v in group.revenue_ratio],
        })
    series.sort(key=lambda s: (BACKTEST_MODELS.index(s["model"]), s["variant"]))
    return {
        "title": title,
        "series": series,
        "notes": notes,
        "takeaway": _backtest_takeaway(frame),
    }


def _day(value):
    return "-" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _backtest_takeaway(frame):
    wide = frame.pivot_table(index=["variant", "origin"], columns="model",
                             values=["normalized_gini", "revenue_ratio"])
    ours, linear = BACKTEST_MODELS[:2]
    if (("normalized_gini", ours) not in wide.columns
            or ("normalized_gini", linear) not in wide.columns):
        return None
    gini = wide["normalized_gini"][[ours, linear]].dropna()
    ratio = wide["revenue_ratio"][ours].dropna()
    wins = int((gini[ours] >= gini[linear]).sum())
    sentence = (
        f"At {wins} of {len(gini)} backtest origins the shopseg model ranks new "
        f"customers at least as well as the linear regression (normalized Gini "
        f"{gini[ours].min():.2f} to {gini[ours].max():.2f}, against "
        f"{gini[linear].min():.2f} to {gini[linear].max():.2f})"
    )
    if len(ratio):
        sentence += (
            f"; its forecasts add up to {ratio.min():.2f}x to {ratio.max():.2f}x "
            "the actual revenue"
        )
    return sentence + "."


def _ablation_facts(con, tables):
    """What each feature group adds to the model, as stored by the stage."""
    title = "What each group of first-order features adds"
    if "prediction_ablation" not in tables:
        return {"title": title, "note": "The prediction stage stored no ablation."}
    frame = _frame(con, "SELECT * FROM prediction_ablation")
    keys = [k for k in ("added_group", "features", "normalized_gini",
                        "normalized_gini_change", "top_decile_capture",
                        "repeat_auc", "repeat_auc_change") if k in frame.columns]
    if frame.empty or "added_group" not in keys:
        return {"title": title, "note": "The prediction stage stored no ablation."}
    return {
        "title": title,
        "columns": [{"key": k, "label": ABLATION_LABELS.get(k, k.replace("_", " "))}
                    for k in keys],
        "rows": _records(frame[keys]),
    }


ABLATION_LABELS = {
    "added_group": "features added",
    "features": "features in all",
    "normalized_gini": "Normalized Gini",
    "normalized_gini_change": "Gini change",
    "top_decile_capture": "Top-decile capture",
    "repeat_auc": "Repeat AUC",
    "repeat_auc_change": "AUC change",
}


# --------------------------------------------------------------------------
# Customer lifetime value


#: Names shown for the CLV stage's models.
CLV_MODELS = {
    "bgnbd": "BG/NBD",
    "naive": "naive (past rate)",
    "gradient_boosting": "gradient boosting",
}


def _clv_label(column):
    """'spend_total_rel_error' -> 'spend: total error (relative)'."""
    target, _, metric = column.partition("_")
    names = {"mae": "MAE", "rmse": "RMSE", "total_rel_error": "total, relative error"}
    if target in ("purchases", "spend") and metric in names:
        unit = " (£)" if target == "spend" and metric != "total_rel_error" else ""
        return f"{target} {names[metric]}{unit}"
    return column.replace("_", " ")


def clv_facts(con, tables):
    """The CLV models' holdout errors and purchases by past frequency."""
    not_run = _NOT_RUN.format(stage="CLV", what="no lifetime-value check")
    facts = {}
    title = "Holdout errors of the lifetime-value models"
    if "clv_holdout" in tables:
        frame = _frame(con, "SELECT * FROM clv_holdout")
        if "model" in frame.columns:
            frame["model"] = frame.model.map(lambda m: CLV_MODELS.get(m, m))
        takeaway = None
        if "purchases_mae" in frame.columns and len(frame) >= 2:
            best = frame.loc[frame.purchases_mae.idxmin()]
            worst = frame.loc[frame.purchases_mae.idxmax()]
            takeaway = (
                f"On the holdout, {best.model} forecasts each customer's "
                f"purchases with the lowest mean absolute error "
                f"({best.purchases_mae:.2f}, against {worst.purchases_mae:.2f} "
                f"for {worst.model})."
            )
        facts["holdout"] = {
            "title": title,
            "columns": [{"key": c, "label": _clv_label(c)} for c in frame.columns],
            "rows": _records(frame),
            "takeaway": takeaway,
        }
    else:
        facts["holdout"] = {"title": title, "note": not_run}

    title = "Holdout purchases by past frequency: actual and forecast"
    if "clv_by_frequency" in tables:
        frame = _frame(con, "SELECT * FROM clv_by_frequency")
        models = [c for c in frame.columns
                  if c not in ("frequency", "customers", "actual")]
        frame = frame[frame.customers > 0]
        if len(frame) < 2:
            facts["by_frequency"] = {
                "title": title,
                "note": _not_enough("two frequency groups", len(frame)),
            }
        else:
            facts["by_frequency"] = {
                "title": title,
                "frequency": [str(v) for v in frame.frequency],
                "customers": [int(v) for v in frame.customers],
                "actual": [_plain(float(v)) for v in frame.actual],
                "models": {
                    CLV_MODELS.get(m, m): [_plain(float(v)) for v in frame[m]]
                    for m in models
                },
                "takeaway": _frequency_takeaway(frame, models),
            }
    else:
        facts["by_frequency"] = {"title": title, "note": not_run}
    facts["ran"] = "clv_holdout" in tables or "clv_by_frequency" in tables
    return facts


def _frequency_takeaway(frame, models):
    errors = {
        m: float(np.average((frame[m] - frame.actual).abs(), weights=frame.customers))
        for m in models if frame[m].notna().all()
    }
    if not errors:
        return None
    best = min(errors, key=errors.get)
    return (
        f"Across past-frequency groups, {CLV_MODELS.get(best, best)} stays "
        f"closest to the actual holdout purchases (customer-weighted gap "
        f"{errors[best]:.2f} purchases per customer)."
    )
