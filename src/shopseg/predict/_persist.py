"""Save and load the first-order models: skops files and a model card.

A model folder holds

``first_order_model.skops``
    the fitted :class:`FirstOrderModel`;
``product_categorizer.skops``
    what :class:`~shopseg.products.ProductCategorizer` needs to categorise
    products unknown to the model (absent when no categorizer was given:
    unknown products are then uncategorised);
``products.csv`` and ``categories.csv``
    the product table and categories the features were computed with;
``model_card.json``
    training window, features, metrics, data fingerprint, library versions
    and the SHA-256 of every file above.

skops, unlike pickle, runs no code from the file; the loader also refuses
any type outside the fixed list the models are made of.
"""

import dataclasses
import datetime
import json
from pathlib import Path

import pandas as pd
import skops.io as sio

from .._version import __version__, library_versions
from ..exceptions import InputFileError, ModelInputError
from ..products import ProductCategorizer
from ..read import COLUMNS
from ..read._readers import sha256_of
from ._compiled import CompiledModel

MODEL_FILE = "first_order_model.skops"
CATEGORIZER_FILE = "product_categorizer.skops"
PRODUCTS_FILE = "products.csv"
CATEGORIES_FILE = "categories.csv"
CARD_FILE = "model_card.json"

#: Types outside skops' defaults that the saved models are made of (the
#: two-part spend model adds LogLinearRegression).
TRUSTED_TYPES = frozenset({
    "functools.partial",
    "shopseg.predict._models.FeatureEncoder",
    "shopseg.predict._models.FirstOrderModel",
    "shopseg.predict._models.LogLinearRegression",
    "shopseg.products._categories.ProductCategorizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
})


@dataclasses.dataclass
class SavedModel:
    """A model folder, loaded: what scoring needs.

    Attributes
    ----------
    model : FirstOrderModel
    products, categories : pandas.DataFrame
    categorizer : ProductCategorizer or None
    card : dict
        The model card.
    compiled : CompiledModel or None
        The model's fast predictor, made on first use by
        :func:`compiled_model`.
    """

    model: object
    products: pd.DataFrame
    categories: pd.DataFrame
    categorizer: object
    card: dict
    compiled: object = dataclasses.field(default=None, repr=False, compare=False)


def compiled_model(saved):
    """Return the :class:`CompiledModel` of a loaded model, made once.

    Batch scoring and the service both predict through it, so that they
    give the same numbers.
    """
    if saved.compiled is None or saved.compiled.model is not saved.model:
        saved.compiled = CompiledModel(saved.model)
    return saved.compiled


def _scoring_categorizer(categorizer):
    """Keep only what ``predict`` needs (its tables are not skops types)."""
    slim = ProductCategorizer(**categorizer.get_params())
    for name in ("vectorizer_", "svd_", "kmeans_"):
        setattr(slim, name, getattr(categorizer, name))
    return slim


def save_model(report, directory, categorizer=None):
    """Save a trained model and its card into ``directory``.

    Parameters
    ----------
    report : PredictionReport
        What :func:`train_first_order_model` returned.
    directory : str or Path
        Created if missing; files of the same names are replaced.
    categorizer : ProductCategorizer, default=None
        The fitted categorizer of the run, to categorise products the model
        has not seen; without it they are uncategorised.

    Returns
    -------
    pathlib.Path
        The model card's path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sio.dump(report.model, directory / MODEL_FILE)
    files = [MODEL_FILE, PRODUCTS_FILE, CATEGORIES_FILE]
    if categorizer is not None:
        sio.dump(_scoring_categorizer(categorizer), directory / CATEGORIZER_FILE)
        files.append(CATEGORIZER_FILE)
    report.products.to_csv(directory / PRODUCTS_FILE, index=False)
    report.categories.to_csv(directory / CATEGORIES_FILE, index=False)

    metrics = report.metrics
    card = {
        "model": "shopseg first-order model",
        "shopseg_version": __version__,
        "created_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "purpose": (
            "Forecast a new customer's spend and repeat orders over the "
            f"{report.window.horizon_days} days after their first purchase "
            "day, and their segment after that period, from the first "
            "purchase day's order lines only."
        ),
        "window": report.window.as_dict(),
        "split": metrics["split"],
        "input_columns": list(COLUMNS),
        "features": list(report.columns),
        "spend_model": report.model.spend_model_,
        "interval_level": report.model.level,
        "segments": {str(k): v for k, v in report.segment_names.items()},
        "metrics": {
            key: metrics[key] for key in ("spend", "repeat", "segment", "interval")
        },
        "notes": metrics["notes"],
        "data_fingerprint": report.fingerprint,
        "library_versions": library_versions(),
        "files": {name: sha256_of(directory / name) for name in files},
    }
    path = directory / CARD_FILE
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def model_directory(path):
    """Return the model folder: ``path`` itself or its ``model`` subfolder."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / CARD_FILE).is_file():
            return candidate
    raise InputFileError(
        f"{path}: holds no first-order model ({CARD_FILE} not found there or "
        "in its 'model' folder); train one with 'shopseg run FILE ... --out "
        "DIR' and give --model DIR"
    )


def _check_files(directory, files):
    for name in (MODEL_FILE, PRODUCTS_FILE, CATEGORIES_FILE):
        if name not in files:
            raise InputFileError(
                f"{directory}: {CARD_FILE} lists no {name}; the model folder is "
                "incomplete. Train the model again"
            )
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise InputFileError(
                f"{directory}: {name} is missing; the model folder is incomplete"
            )
        if sha256_of(path) != expected:
            raise ModelInputError(
                f"{path}: its SHA-256 differs from the one in {CARD_FILE}; the "
                "file was changed after training. Train the model again"
            )


def _load_skops(path):
    untrusted = set(sio.get_untrusted_types(file=path))
    unexpected = sorted(untrusted - TRUSTED_TYPES)
    if unexpected:
        raise ModelInputError(
            f"{path}: holds types a shopseg model is not made of "
            f"({', '.join(unexpected)}); refusing to load it"
        )
    return sio.load(path, trusted=sorted(untrusted))


def load_model(path):
    """Load a model folder saved by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
        The model folder, or an output folder holding it as ``model``.

    Returns
    -------
    SavedModel
    """
    directory = model_directory(path)
    card = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
    files = card.get("files", {})
    _check_files(directory, files)
    model = _load_skops(directory / MODEL_FILE)
    categorizer = None
    if CATEGORIZER_FILE in files:
        categorizer = _load_skops(directory / CATEGORIZER_FILE)
    products = pd.read_csv(
        directory / PRODUCTS_FILE, dtype={"stock_code": str, "description": str}
    )
    categories = pd.read_csv(directory / CATEGORIES_FILE)
    return SavedModel(model, products, categories, categorizer, card)
