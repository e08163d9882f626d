"""Stage 7: forecast a new customer's next year from their first purchase day.

:func:`train_first_order_model` builds the cohort of new customers from a
store, fits the models on the earlier first purchases and evaluates them on
the latest cohort and over rolling origins; :func:`save_model` and
:func:`load_model` keep them as skops files with a model card;
:func:`score_orders` and :func:`score_files` forecast new customers from
their first order lines, and :class:`OrderScorer` does it fast for the
service; :func:`run_prediction` does all of it for
``shopseg run``. See ``docs/prediction.md``.
"""

from ._cohort import cohort_window
from ._features import FEATURE_GROUPS, feature_columns, first_order_features
from ._metrics import (
    decile_calibration_error,
    normalized_gini,
    top_decile_capture,
)
from ._models import FirstOrderModel
from ._persist import SavedModel, load_model, save_model
from ._score import OrderScorer, score_files, score_orders
from ._stage import predict_stage, run_prediction
from ._train import PredictionReport, train_first_order_model

__all__ = [
    "FEATURE_GROUPS",
    "FirstOrderModel",
    "OrderScorer",
    "PredictionReport",
    "SavedModel",
    "cohort_window",
    "decile_calibration_error",
    "feature_columns",
    "first_order_features",
    "load_model",
    "normalized_gini",
    "predict_stage",
    "run_prediction",
    "save_model",
    "score_files",
    "score_orders",
    "top_decile_capture",
    "train_first_order_model",
]
