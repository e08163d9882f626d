"""Fast predictions of a fitted :class:`FirstOrderModel`, equal to sklearn's.

scikit-learn predicts with a histogram gradient-boosting model one tree at
a time: a Python call per tree, after input checks and a column
transformer for the categorical country code. That costs about 2 ms for
one customer, whatever the number of rows, and a first-order model holds
half a dozen such models. :class:`CompiledModel` lays every tree of a
model out as flat arrays once and walks all of them together, one level
per step, in numpy. It follows the rules of scikit-learn's own traversal
(``<=`` on the threshold; missing and unknown categories go where the
split sends missing values) and adds the leaf values tree after tree, in
scikit-learn's order, so the forecasts are the same to the last bit.

Each model is checked against scikit-learn when it is compiled, on rows
built from its own split thresholds; a model whose forecasts differ (a
scikit-learn version that changed the rules) is predicted by
scikit-learn's public methods instead, as are the calibrated folds when
their calibration is not binary Platt scaling. Batch scoring and the
service both predict through :class:`CompiledModel`, so they agree
whatever path a model takes.
"""

import numpy as np
import pandas as pd

from ._models import interval_upper

#: Rows of the check against scikit-learn when a model is compiled.
N_CHECK_ROWS = 256


class _Unsupported(Exception):
    """The estimator has a structure the compiled trees do not cover."""


class _Trees:
    """Every tree of a fitted histogram gradient-boosting model, flattened.

    Nodes of all trees share one set of arrays; a leaf points to itself,
    so walking ``depth`` steps from the roots leaves every row on a leaf of
    every tree.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self.n_outputs = int(estimator.n_trees_per_iteration_)
        self.baseline = np.asarray(estimator._baseline_prediction, dtype=float)
        self._columns(estimator)

        trees = [p for iteration in estimator._predictors for p in iteration]
        sizes = np.array([len(t.nodes) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        bitset_sizes = [len(t.raw_left_cat_bitsets) for t in trees]
        bitset_offsets = np.concatenate([[0], np.cumsum(bitset_sizes)[:-1]])
        nodes = np.concatenate([t.nodes for t in trees])
        shift = np.repeat(offsets, sizes)
        own = np.arange(len(nodes))
        leaf = nodes["is_leaf"].astype(bool)

        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(float)
        self.value = nodes["value"].astype(float)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.split = ~leaf
        self.categorical = nodes["is_categorical"].astype(bool) & ~leaf
        self.bitset = nodes["bitset_idx"].astype(np.intp) + np.repeat(
            bitset_offsets, sizes
        )
        self.left = np.where(leaf, own, nodes["left"].astype(np.intp) + shift)
        self.right = np.where(leaf, own, nodes["right"].astype(np.intp) + shift)
        self.roots = offsets
        self.depth = int(nodes["depth"].max())
        self.output = np.tile(np.arange(self.n_outputs), len(estimator._predictors))
        self.left_bitsets = np.concatenate(
            [t.raw_left_cat_bitsets for t in trees]
        ).astype(np.uint32) if sum(bitset_sizes) else np.zeros((1, 8), np.uint32)
        known, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
        self.known_bitsets = np.asarray(known, dtype=np.uint32)
        self.f_idx_map = np.asarray(f_idx_map, dtype=np.intp)
        self.has_categorical = bool(self.categorical.any())

    def _columns(self, estimator):
        """How the estimator's column transformer reorders and codes columns."""
        transformer = getattr(estimator, "_preprocessor", None)
        n_features = int(estimator.n_features_in_)
        if transformer is None:
            self.order = np.arange(n_features)
            self.category_values = []
            return
        mask = np.asarray(estimator.is_categorical_, dtype=bool)
        encoder = transformer.named_transformers_.get("encoder")
        slices = transformer.output_indices_
        if (
            encoder is None
            or slices["encoder"] != slice(0, int(mask.sum()))
            or slices["numerical"] != slice(int(mask.sum()), n_features)
            or getattr(encoder, "handle_unknown", None) != "use_encoded_value"
        ):
            raise _Unsupported("unexpected column transformer")
        self.order = np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])
        self.category_values = [np.asarray(c, dtype=float)
                                for c in encoder.categories_]

    def _prepare(self, matrix):
        """The matrix as the trees see it: categorical codes first."""
        prepared = matrix[:, self.order]
        for j, values in enumerate(self.category_values):
            column = prepared[:, j]
            index = np.searchsorted(values, column)
            found = index < len(values)
            found[found] = values[index[found]] == column[found]
            prepared[:, j] = np.where(found, index, np.nan)
        return prepared

    def raw(self, matrix):
        """The sum of the leaf values over the trees, shape (rows, outputs)."""
        data = self._prepare(np.asarray(matrix, dtype=float))
        n = len(data)
        rows = np.arange(n)[:, None]
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        for _ in range(self.depth):
            feature = self.feature[node]
            x = data[rows, feature]
            left = x <= self.threshold[node]
            missing = np.isnan(x)
            left[missing] = self.missing_left[node[missing]]
            if self.has_categorical:
                self._categorical_splits(node, feature, x, missing, left)
            node = np.where(left, self.left[node], self.right[node])
        leaves = self.value[node]

        raw = np.empty((n, self.n_outputs))
        for k in range(self.n_outputs):
            # scikit-learn starts from zeros, adds the baseline, then each
            # tree in turn; a cumulative sum adds in that same order.
            terms = np.empty((n, 2 + int((self.output == k).sum())))
            terms[:, 0] = 0.0
            terms[:, 1] = self.baseline[0, k]
            terms[:, 2:] = leaves[:, self.output == k]
            raw[:, k] = np.cumsum(terms, axis=1)[:, -1]
        return raw

    def _categorical_splits(self, node, feature, x, missing, left):
        split = self.categorical[node] & ~missing
        if not split.any():
            return
        where = node[split]
        values = x[split]
        usable = values >= 0
        code = np.where(usable, values, 0).astype(np.uint8).astype(np.intp)
        word, bit = code >> 5, (code & 31).astype(np.uint32)
        in_left = (self.left_bitsets[self.bitset[where], word] >> bit) & 1
        known_row = self.f_idx_map[feature[split]]
        in_known = (self.known_bitsets[known_row, word] >> bit) & 1
        go_left = np.where(
            in_left.astype(bool), True,
            np.where(in_known.astype(bool), False, self.missing_left[where]),
        )
        left[split] = np.where(usable, go_left, self.missing_left[where])


def _check_rows(estimator, trees, n_rows=N_CHECK_ROWS, seed=0):
    """Rows at and just above every split threshold, and every category."""
    rng = np.random.default_rng(seed)
    n_features = int(estimator.n_features_in_)
    candidates = [[0.0] for _ in range(n_features)]
    for node in np.flatnonzero(trees.split & ~trees.categorical):
        column = trees.order[trees.feature[node]]
        t = trees.threshold[node]
        if np.isfinite(t):
            candidates[column] += [t, np.nextafter(t, np.inf)]
    for j, values in enumerate(trees.category_values):
        column = trees.order[j]
        candidates[column] = list(values) + [values.max() + 1 if len(values)
                                             else 0.0]
    return np.column_stack([
        rng.choice(np.asarray(c, dtype=float), size=n_rows) for c in candidates
    ])


def _compile(estimator):
    """The compiled trees of an estimator, or None when they would not give
    scikit-learn's numbers (the estimator is then predicted by it)."""
    try:
        trees = _Trees(estimator)
        rows = _check_rows(estimator, trees)
        if np.array_equal(trees.raw(rows), estimator._raw_predict(rows)):
            return trees
    except (_Unsupported, AttributeError, KeyError, TypeError, ValueError):
        pass
    return None


class _Regressor:
    def __init__(self, estimator):
        self.estimator = estimator
        self.trees = _compile(estimator)
        self.inverse = getattr(getattr(estimator, "_loss", None), "link", None)
        if self.inverse is None:
            self.trees = None

    def predict(self, matrix):
        if self.trees is None:
            return self.estimator.predict(matrix)
        return self.inverse.inverse(self.trees.raw(matrix).ravel())


class _Classifier:
    def __init__(self, estimator):
        self.estimator = estimator
        self.trees = _compile(estimator)
        self.classes = estimator.classes_

    def decision(self, matrix):
        if self.trees is None:
            return self.estimator.decision_function(matrix)
        raw = self.trees.raw(matrix)
        return raw.ravel() if raw.shape[1] == 1 else raw

    def predict(self, matrix):
        if self.trees is None:
            return self.estimator.predict(matrix)
        raw = self.trees.raw(matrix)
        if raw.shape[1] == 1:
            return self.classes[(raw.ravel() > 0).astype(int)]
        return self.classes[np.argmax(raw, axis=1)]


class _Calibrated:
    """Platt-scaled boosting averaged over folds: the positive class only."""

    def __init__(self, estimator):
        folds = estimator.calibrated_classifiers_
        if len(estimator.classes_) != 2 or any(
            f.method != "sigmoid" or len(f.calibrators) != 1 for f in folds
        ):
            raise _Unsupported("only binary Platt scaling is compiled")
        self.folds = [(_Classifier(f.estimator), f.calibrators[0]) for f in folds]

    def positive(self, matrix):
        """Like ``predict_proba(matrix)[:, 1]`` of scikit-learn."""
        total = np.zeros(len(matrix))
        for classifier, calibrator in self.folds:
            proba = calibrator.predict(classifier.decision(matrix))
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            total += proba
        total /= len(self.folds)
        return total


class _SklearnCalibrated:
    def __init__(self, estimator):
        self.estimator = estimator

    def positive(self, matrix):
        return self.estimator.predict_proba(matrix)[:, 1]


def _calibrated(estimator):
    try:
        return _Calibrated(estimator)
    except (_Unsupported, AttributeError):
        return _SklearnCalibrated(estimator)


class CompiledModel:
    """Predict like :meth:`FirstOrderModel.predict`, bit for bit, faster.

    The repeat probability is computed once, though the two-part spend
    model reads it too.

    Parameters
    ----------
    model : FirstOrderModel
        A fitted model.

    Attributes
    ----------
    compiled_ : bool
        Whether every boosting model runs on the compiled trees (False when
        one falls back to scikit-learn).
    """

    def __init__(self, model):
        self.model = model
        self.encoder = model.encoder_
        self.repeat = _calibrated(model.repeat_model_)
        parts = model.spend_parts_
        if model.spend_model_ in ("poisson", "poisson_per_pound"):
            self.spend = _Regressor(parts["spend"])
        elif parts["repeat"] is not model.repeat_model_:
            self.spend_repeat = _calibrated(parts["repeat"])
        self.quantile = (
            _Regressor(model.quantile_model_)
            if hasattr(model, "quantile_model_") else None
        )
        self.segment = (
            _Classifier(model.segment_model_)
            if hasattr(model, "segment_model_") else None
        )
        self.compiled_ = all(self._compiled_parts())

    def _compiled_parts(self):
        """Whether each boosting model is compiled."""
        single = [getattr(self, "spend", None), self.quantile, self.segment]
        for predictor in single:
            if predictor is not None:
                yield predictor.trees is not None
        for repeat in (self.repeat, getattr(self, "spend_repeat", None)):
            if isinstance(repeat, _Calibrated):
                yield from (c.trees is not None for c, _ in repeat.folds)
            elif repeat is not None:
                yield False

    def predict(self, X):
        """Forecast for each customer of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or dict of arrays
            First-order features (see :func:`first_order_features`).

        Returns
        -------
        dict of numpy.ndarray
            The columns of :meth:`FirstOrderModel.predict`, in its order.
        """
        model = self.model
        matrix = self.encoder.transform(X)
        repeat = self.repeat.positive(matrix)
        out = {}
        name = model.spend_model_
        if name == "poisson":
            out["predicted_spend"] = self.spend.predict(matrix)
        elif name == "poisson_per_pound":
            value = np.asarray(X["order_value"], dtype=float)
            out["predicted_spend"] = value * self.spend.predict(matrix)
        else:
            parts = model.spend_parts_
            probability = (
                self.spend_repeat.positive(matrix)
                if hasattr(self, "spend_repeat") else repeat
            )
            expected = np.exp(parts["log_spend"].predict(X)) * parts["smearing"]
            out["predicted_spend"] = probability * expected
        if self.quantile is not None:
            log_upper = self.quantile.predict(matrix) + model.interval_margin_
            out["spend_lower"] = np.zeros(len(matrix))
            out["spend_upper"] = interval_upper(log_upper, out["predicted_spend"])
        out["repeat_probability"] = repeat
        if self.segment is not None:
            out["segment"] = self.segment.predict(matrix)
        return out

    def predict_frame(self, X):
        """:meth:`predict` as a data frame on the index of ``X``."""
        return pd.DataFrame(self.predict(X), index=X.index)
