"""Customer-lifetime-value models fitted by maximum likelihood.

:class:`BGNBD` forecasts how many purchases each customer will make,
:class:`GammaGamma` how much they spend per purchase, and
:func:`customer_lifetime_value` combines both into a discounted value.
Inputs are per-customer summaries checked by :func:`check_summary`.

:func:`run_clv` (the pipeline's :func:`clv_stage`) forecasts every customer
of a store and measures the models on a holdout against a naive rate and
gradient boosting (:func:`evaluate_holdout`).
"""

from shopseg.clv._bgnbd import BGNBD
from shopseg.clv._gamma_gamma import GammaGamma, customer_lifetime_value
from shopseg.clv._holdout import (
    FREQUENCY_GROUPS,
    HOLDOUT_MODELS,
    calibration_holdout,
    customer_state,
    evaluate_holdout,
    fit_clv_models,
    holdout_metrics,
    holdout_window,
    predict_customers,
    window_purchases,
)
from shopseg.clv._stage import clv_stage, holdout_table, run_clv, update_metrics
from shopseg.clv._validation import TIME_UNITS, check_summary, days_per_unit

__all__ = [
    "BGNBD",
    "FREQUENCY_GROUPS",
    "HOLDOUT_MODELS",
    "TIME_UNITS",
    "GammaGamma",
    "calibration_holdout",
    "check_summary",
    "clv_stage",
    "customer_lifetime_value",
    "customer_state",
    "days_per_unit",
    "evaluate_holdout",
    "fit_clv_models",
    "holdout_metrics",
    "holdout_table",
    "holdout_window",
    "predict_customers",
    "run_clv",
    "update_metrics",
    "window_purchases",
]
