"""The CLV stage of the pipeline: forecasts per customer and a holdout check.

:func:`run_clv` does the work on a store; :func:`clv_stage` is its adapter
to the pipeline's context and returns the progress line.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import pandas as pd

from shopseg.clv._holdout import (
    _check_days,
    evaluate_holdout,
    fit_clv_models,
    predict_customers,
)
from shopseg.clv._validation import days_per_unit
from shopseg.exceptions import (
    DegenerateDataWarning,
    EmptyResultError,
    ModelInputError,
    ShopsegError,
)
from shopseg.features import summary_data
from shopseg.store import CSV_FLOAT_FORMAT

__all__ = ["clv_stage", "holdout_table", "run_clv", "update_metrics"]

#: Name of the metrics file in the output folder, shared with other stages.
METRICS_FILE = "metrics.json"


def run_clv(
    con,
    out_dir: str | Path,
    *,
    cutoff: object = None,
    holdout_days: int = 90,
    time_unit: str = "weeks",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    random_state: int = 0,
    observation_end: object = None,
) -> dict:
    """Forecast every customer's value and measure the models on a holdout.

    Reads ``clean_lines``. Fits BG/NBD and Gamma-Gamma on all lines up to
    the observation end and forecasts every customer; adds the forecasts to
    the ``customers`` table (and to ``customers.csv`` / ``customers.parquet``
    in `out_dir`) when they exist. Then evaluates the models on a holdout
    (see :func:`shopseg.clv.evaluate_holdout`), stores the tables
    ``clv_predictions``, ``clv_holdout`` and ``clv_by_frequency`` and writes
    the key ``"clv"`` of ``metrics.json`` in `out_dir`, keeping its other
    keys.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store, with ``clean_lines``.
    out_dir : str or Path
        Folder of ``metrics.json`` and the customer files.
    cutoff : date-like, default=None
        Last calibration day of the holdout check; ``observation_end -
        holdout_days`` when None.
    holdout_days : int, default=90
        Length of the holdout in days.
    time_unit : {"days", "weeks", "months"}, default="weeks"
        Unit the BG/NBD model is fitted in; a month is a fixed 30.4375 days.
    horizon_months : int, default=12
        Horizon of ``expected_purchases`` and of ``clv_<horizon_months>m``.
    discount_rate : float, default=0.01
        Discount rate per month of the value.
    random_state : int, default=0
        Seed of the gradient-boosting baseline.
    observation_end : date-like, default=None
        Last day of data used; the last purchase day when None.

    Returns
    -------
    dict
        ``predictions`` (frame keyed by ``customer_id``), ``holdout`` (the
        model-by-metric table), ``by_frequency``, ``metrics`` (what was
        written under ``"clv"``) and ``summary`` (one line).

    Raises
    ------
    ModelInputError
        If the lines break an invariant of the models, or an explicit
        `cutoff` leaves no room for the holdout check. With the default
        cutoff, data too short for the check (it needs ``2 *
        holdout_days`` of history) skip it: ``holdout`` and
        ``by_frequency`` are then None and ``metrics["holdout"]["skipped"]``
        says why.
    """
    out_dir = Path(out_dir)
    # Refuse bad options before any work; the holdout's own errors below
    # are then about the data.
    days_per_unit(time_unit)
    holdout_days = _check_days(holdout_days)
    out_dir.mkdir(parents=True, exist_ok=True)

    summary = summary_data(con, "clean_lines", observation_end, time_unit)
    counts, spend, fits = fit_clv_models(summary)
    predictions = predict_customers(
        counts,
        spend,
        summary,
        time_unit=time_unit,
        horizon_months=horizon_months,
        discount_rate=discount_rate,
    )
    _save(con, "clv_predictions", predictions.reset_index())
    _join_customers(con, out_dir, list(predictions.columns))

    value_column = f"clv_{int(horizon_months)}m"
    metrics = {
        "time_unit": time_unit,
        "horizon_months": int(horizon_months),
        "discount_rate": float(discount_rate),
        "customers": len(predictions),
        "total_clv": float(predictions[value_column].sum()),
        "fits": fits,
    }
    try:
        holdout = evaluate_holdout(
            con,
            "clean_lines",
            cutoff=cutoff,
            holdout_days=holdout_days,
            time_unit=time_unit,
            observation_end=observation_end,
            random_state=random_state,
        )
    except ModelInputError as error:
        if cutoff is not None:
            raise
        # The check needs two holdout lengths of history; without them the
        # forecasts still stand, and metrics.json says why there is no check.
        holdout = None
        metrics["holdout"] = {"skipped": str(error)}
        for table in ("clv_holdout", "clv_by_frequency"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    if holdout is not None:
        _save(con, "clv_holdout", holdout["table"])
        _save(con, "clv_by_frequency", holdout["by_frequency"])
        metrics["holdout"] = {
            "cutoff": f"{holdout['cutoff']:%Y-%m-%d}",
            "holdout_end": f"{holdout['holdout_end']:%Y-%m-%d}",
            "holdout_days": int(holdout_days),
            "training_cutoff": f"{holdout['training_cutoff']:%Y-%m-%d}",
            "customers": len(holdout["customers"]),
            "fits": holdout["fits"],
        }
        metrics["clv_holdout"] = _records(holdout["table"])
        metrics["clv_by_frequency"] = _records(holdout["by_frequency"])

    update_metrics(out_dir / METRICS_FILE, "clv", metrics)
    return {
        "predictions": predictions,
        "holdout": None if holdout is None else holdout["table"],
        "by_frequency": None if holdout is None else holdout["by_frequency"],
        "metrics": metrics,
        "summary": _summary_line(metrics),
    }


def clv_stage(ctx) -> str:
    """Pipeline stage: :func:`run_clv` with its defaults on the run's store.

    Must run after the ``segments`` stage, which rewrites ``customers``.

    Parameters
    ----------
    ctx : shopseg.pipeline.Context
        Uses ``con``, ``staging`` and ``options.random_state`` and
        ``options.observation_end`` (by default the observation end of the
        ``customers`` table, so that the values joined to it are for the
        same day); stores the result of :func:`run_clv` in
        ``ctx.results["clv"]``.

    When the models cannot be fitted on the data, the stage is skipped with
    a :class:`~shopseg.exceptions.DegenerateDataWarning` and
    ``metrics.json`` says why.

    Returns
    -------
    str
        The progress line.
    """
    observation_end = ctx.options.observation_end or _customers_observation_end(
        ctx.con
    )
    try:
        result = run_clv(
            ctx.con,
            ctx.staging,
            random_state=ctx.options.random_state,
            observation_end=observation_end,
        )
    except (EmptyResultError, ModelInputError) as exc:
        # Data the models cannot be fitted on (every customer seen on one
        # day, say): the rest of the run stands; metrics.json says why.
        update_metrics(Path(ctx.staging) / METRICS_FILE, "clv", {"skipped": str(exc)})
        warnings.warn(
            f"the lifetime-value stage was skipped: {exc}",
            DegenerateDataWarning,
            stacklevel=2,
        )
        return f"skipped ({exc})"
    ctx.results["clv"] = result
    return result["summary"]


def _customers_observation_end(con):
    """The observation end of the ``customers`` table, if the store has one:
    the lifetime values joined to it are then computed for the same day."""
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    if "customers" not in tables:
        return None
    columns = {row[0] for row in con.execute("DESCRIBE customers").fetchall()}
    if "observation_end" not in columns:
        return None
    ((end,),) = con.execute("SELECT max(observation_end) FROM customers").fetchall()
    return end


def holdout_table(con) -> pd.DataFrame:
    """The model-by-metric holdout table stored by :func:`run_clv`.

    The table is absent when the stage skipped the holdout check (too
    little history); ``metrics.json`` then says why.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A store the CLV stage has run on.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model``, ``customers``, then ``purchases_mae``,
        ``purchases_rmse``, ``purchases_total_rel_error`` and the same three
        for ``spend``.
    """
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    if "clv_holdout" not in tables:
        raise ShopsegError(
            "the store has no table 'clv_holdout'; run the clv stage first "
            "(shopseg.clv.run_clv), or, if it ran, see why it skipped the "
            "holdout check under 'clv' in metrics.json"
        )
    return con.execute("SELECT * FROM clv_holdout").df()


def update_metrics(path: str | Path, key: str, value: dict) -> None:
    """Set one key of a JSON metrics file, keeping the others.

    The file is replaced atomically, so a reader never sees half of it.
    NaN and infinite numbers are written as ``null``.

    Parameters
    ----------
    path : str or Path
        The metrics file; created when absent.
    key : str
        Top-level key to set.
    value : dict
        Its new content.

    Raises
    ------
    ShopsegError
        If the file exists but does not hold a JSON object.
    """
    path = Path(path)
    content = {}
    if path.exists():
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ShopsegError(
                f"{path} is not valid JSON ({error}); remove it or fix it so the "
                f"'{key}' metrics can be added"
            ) from None
        if not isinstance(content, dict):
            raise ShopsegError(
                f"{path} holds a JSON {type(content).__name__}, not an object; "
                f"remove it so the '{key}' metrics can be written"
            )
    content[key] = _plain(value)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(
        json.dumps(content, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    os.replace(temporary, path)


def _plain(value: object) -> object:
    """JSON-ready copy: numpy scalars to Python, NaN and infinity to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return _plain(frame.to_dict(orient="records"))


def _save(con, table: str, frame: pd.DataFrame) -> None:
    con.register("_clv_frame", frame)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _clv_frame")
    con.unregister("_clv_frame")


def _join_customers(con, out_dir: Path, columns: list[str]) -> None:
    """Add the forecasts to ``customers`` and its files, replacing old ones.

    Customers without a forecast (none, unless ``customers`` was built with
    another observation end) get NULL.
    """
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    if "customers" not in tables:
        return
    present = {row[0] for row in con.execute("DESCRIBE customers").fetchall()}
    stale = [column for column in columns if column in present]
    exclude = f" EXCLUDE ({', '.join(stale)})" if stale else ""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE customers AS
        SELECT c.*{exclude}, p.* EXCLUDE (customer_id)
        FROM customers AS c
        LEFT JOIN clv_predictions AS p USING (customer_id)
        ORDER BY c.customer_id
        """
    )
    parquet, csv = out_dir / "customers.parquet", out_dir / "customers.csv"
    if parquet.exists() or csv.exists():
        customers = con.execute("SELECT * FROM customers").df()
        if parquet.exists():
            customers.to_parquet(parquet, index=False)
        if csv.exists():
            customers.to_csv(csv, index=False,
                             float_format=CSV_FLOAT_FORMAT)


def _summary_line(metrics: dict) -> str:
    fits = list(metrics["fits"].items())
    line = (
        f"BG/NBD on {metrics['customers']:,} customers (Gamma-Gamma on "
        f"{metrics['fits']['gamma_gamma']['customers']:,}); "
    )
    if "clv_holdout" in metrics:
        by_model = {row["model"]: row for row in metrics["clv_holdout"]}

        def mae(model: str) -> str:
            value = by_model[model]["purchases_mae"]
            return "n/a" if value is None else f"{value:.2f}"

        line += (
            f"holdout purchase MAE {mae('bgnbd')} vs naive {mae('naive')}, "
            f"gradient boosting {mae('gradient_boosting')}"
        )
        fits += metrics["holdout"]["fits"].items()
    else:
        line += "holdout check skipped, too little history (metrics.json)"
    failed = sorted({name for name, fit in fits if not fit["converged"]})
    if failed:
        line += f"; not converged: {', '.join(failed)} (metrics.json)"
    return line
