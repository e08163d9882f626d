"""The prediction stage of ``shopseg run``: train, evaluate, store, save."""

import warnings
from pathlib import Path

import pandas as pd

from ..clv import update_metrics
from ..exceptions import DegenerateDataWarning, EmptyResultError, ModelInputError
from ._persist import save_model
from ._train import OUR_MODEL, train_first_order_model

#: Folder of the saved model inside the output folder.
MODEL_FOLDER = "model"

#: Key of the prediction metrics in ``metrics.json``.
METRICS_KEY = "prediction"


def run_prediction(con, out_dir, categorizer=None, **options):
    """Train and evaluate the first-order models; store and save everything.

    Stores the tables ``prediction_metrics`` (``task, model, metric,
    value``), ``prediction_calibration``, ``prediction_backtest``,
    ``prediction_ablation`` and ``prediction_test``; writes the key
    ``"prediction"`` of ``metrics.json`` in ``out_dir``, keeping its other
    keys; saves the model in ``out_dir/model``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store, after the products stage.
    out_dir : str or Path
        Folder of ``metrics.json`` and the ``model`` folder.
    categorizer : ProductCategorizer, default=None
        The run's fitted categorizer, saved to categorise products the model
        has not seen.
    **options
        Passed to :func:`train_first_order_model`.

    Returns
    -------
    PredictionReport
    """
    out_dir = Path(out_dir)
    report = train_first_order_model(con, **options)
    tables = {
        "prediction_metrics": report.metrics_table,
        "prediction_calibration": report.calibration,
        "prediction_backtest": report.backtest,
        "prediction_ablation": report.ablation,
        "prediction_test": report.test_predictions,
    }
    for table, frame in tables.items():
        _save(con, table, frame)
    save_model(report, out_dir / MODEL_FOLDER, categorizer=categorizer)
    update_metrics(out_dir / "metrics.json", METRICS_KEY, report.metrics)
    return report


def _save(con, table, frame):
    frame = frame if len(frame.columns) else pd.DataFrame({"note": []})
    con.register("_prediction_frame", frame)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _prediction_frame"
    )
    con.unregister("_prediction_frame")


def summary_line(report):
    """One line on the test cohort, for the progress display."""
    ours = report.metrics["spend"][OUR_MODEL]
    repeat = report.metrics["repeat"][OUR_MODEL]
    split = report.metrics["split"]["test"]
    horizon = report.window.horizon_days
    return (
        f"{report.model.spend_model_} on {split['customers']:,} test customers "
        f"({horizon}-day horizon): Gini {ours['normalized_gini']:.2f}, decile "
        f"error {ours['decile_calibration_error']:.2f}, repeat AUC "
        f"{repeat['auc']:.2f}"
    )


def predict_stage(ctx):
    """Pipeline stage: :func:`run_prediction` on the run's store.

    Uses ``ctx.con``, ``ctx.staging``, ``options.random_state`` and the
    categorizer of the products stage when it ran in the same command;
    stores the report in ``ctx.results["prediction"]``. When the data are
    too few for a cohort of new customers, the stage is skipped with a
    :class:`~shopseg.exceptions.DegenerateDataWarning` and ``metrics.json``
    says why.

    Returns
    -------
    str
        The progress line.
    """
    try:
        report = run_prediction(
            ctx.con,
            ctx.staging,
            categorizer=ctx.results.get("categorizer"),
            burn_in_days=ctx.options.burn_in_days,
            horizon_days=ctx.options.horizon_days,
            random_state=ctx.options.random_state,
        )
    except (EmptyResultError, ModelInputError) as exc:
        # Too little data for a cohort of new customers: the rest of the run
        # still stands, and metrics.json says why there is no forecast.
        update_metrics(
            Path(ctx.staging) / "metrics.json", METRICS_KEY, {"skipped": str(exc)}
        )
        warnings.warn(
            f"the prediction stage was skipped: {exc}",
            DegenerateDataWarning,
            stacklevel=2,
        )
        return f"skipped ({exc})"
    ctx.results["prediction"] = report
    return summary_line(report)
