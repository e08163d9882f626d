"""Behavioural segments: k-means on transformed customer features.

By default the segments are drawn on how customers buy (recency, orders,
spend, basket value, product range, tenure, season and returns); the product
categories they buy describe the segments afterwards (see
:func:`profile_segments`). Twenty-odd category shares in the distance would
drown the behaviour: on the UCI data the silhouette falls from 0.33 to 0.15.
Money and counts enter as logarithms (``log1p``), shares as they are; every
column is then standardised. The number of segments is the k in ``k_range``
with the highest silhouette. Stability is the adjusted Rand index between the
chosen partition and those of k-means started from other seeds.
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..exceptions import DegenerateDataWarning, ModelInputError
from ..features import SKEWED


#: Behaviour features the segments are drawn on by default.
BEHAVIOUR = (
    "recency_days",
    "orders",
    "spend",
    "mean_order_value",
    "distinct_products",
    "tenure_days",
    "q4_order_share",
    "return_share",
)


def default_features(customers):
    """Return the behaviour columns of ``customers`` the segmenter uses."""
    return [c for c in BEHAVIOUR if c in customers.columns]


class CustomerSegmenter:
    """k-means segments of customers, with k chosen by silhouette.

    Parameters
    ----------
    k_range : tuple of int, default=(2, 12)
        Smallest and largest number of segments tried.
    n_clusters : int, default=None
        Use this number of segments instead of scanning ``k_range``.
    features : list of str, default=None
        Feature columns; :func:`default_features` when None.
    n_init : int, default=5
        k-means restarts for each k.
    n_stability_seeds : int, default=10
        Other seeds whose partitions are compared with the chosen one.
    silhouette_sample : int, default=3000
        Customers on which silhouettes are computed (a fixed-seed sample when
        there are more).
    random_state : int, default=0
        Seed of k-means and of the silhouette sample.

    Attributes
    ----------
    n_clusters_ : int
        The number of segments used.
    scan_ : pandas.DataFrame
        ``k``, ``silhouette`` and ``chosen`` for every k tried.
    silhouette_ : float
        Silhouette of the chosen partition.
    stability_ : float
        Mean adjusted Rand index against the other seeds' partitions.
    features_ : list of str
        The feature columns used (constant ones dropped).
    labels_ : numpy.ndarray
        Segment of each training customer.
    """

    def __init__(
        self,
        k_range=(2, 12),
        n_clusters=None,
        features=None,
        n_init=5,
        n_stability_seeds=10,
        silhouette_sample=3000,
        random_state=0,
    ):
        self.k_range = k_range
        self.n_clusters = n_clusters
        self.features = features
        self.n_init = n_init
        self.n_stability_seeds = n_stability_seeds
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state

    def _transform(self, customers):
        frame = customers[self.features_].astype(float)
        missing = frame.columns[frame.isna().any()].tolist()
        if missing:
            raise ModelInputError(
                f"columns {missing} have missing values; compute the features "
                "with shopseg.features.customer_features"
            )
        skewed = [c for c in self.features_ if c in SKEWED]
        frame[skewed] = np.log1p(frame[skewed].clip(lower=0))
        return frame.to_numpy()

    def fit(self, customers):
        """Choose k, fit k-means and measure stability on ``customers``."""
        # k-means on a few thousand rows gains nothing from threads, and on a
        # busy machine OpenMP threads made this fit 20 times slower.
        with threadpool_limits(limits=1):
            return self._fit(customers)

    def _fit(self, customers):
        features = self.features or default_features(customers)
        constant = [c for c in features if customers[c].nunique(dropna=False) <= 1]
        if constant:
            warnings.warn(
                f"features {constant} are the same for every customer and are "
                "left out of the segmentation",
                DegenerateDataWarning,
                stacklevel=2,
            )
        self.features_ = [c for c in features if c not in constant]
        n = len(customers)
        if n < 3 or not self.features_:
            raise ModelInputError(
                f"segmentation needs at least 3 customers who differ in some "
                f"feature; got {n} customers and {len(self.features_)} varying "
                "features"
            )

        self.scaler_ = StandardScaler()
        X = self.scaler_.fit_transform(self._transform(customers))
        distinct = len(np.unique(X, axis=0))
        ks = self._candidate_ks(distinct)
        sample = self._sample(n)

        rows = []
        models = {}
        for k in ks:
            model = KMeans(k, n_init=self.n_init, random_state=self.random_state)
            labels = model.fit_predict(X)
            score = silhouette_score(X[sample], labels[sample])
            rows.append({"k": k, "silhouette": float(score)})
            models[k] = model
        self.scan_ = pd.DataFrame(rows)
        best = int(self.scan_.loc[self.scan_.silhouette.idxmax(), "k"])
        self.scan_["chosen"] = self.scan_.k == best
        self.n_clusters_ = best
        self.kmeans_ = models[best]
        self.labels_ = self.kmeans_.labels_
        self.silhouette_ = float(self.scan_.silhouette.max())
        self.stability_, self.stability_min_ = self._stability(X)
        return self

    def _candidate_ks(self, distinct):
        if self.n_clusters is not None:
            wanted = [self.n_clusters]
        else:
            wanted = list(range(self.k_range[0], self.k_range[1] + 1))
        usable = [k for k in wanted if 2 <= k < distinct]
        if not usable:
            usable = [min(2, distinct - 1)] if distinct > 2 else []
        if not usable:
            raise ModelInputError(
                f"only {distinct} distinct customer profiles; segmentation needs "
                "at least 3"
            )
        if len(usable) < len(wanted):
            warnings.warn(
                f"only {distinct} distinct customer profiles, so k is limited to "
                f"{max(usable)} (asked for up to {max(wanted)})",
                DegenerateDataWarning,
                stacklevel=3,
            )
        return usable

    def _sample(self, n):
        if n <= self.silhouette_sample:
            return np.arange(n)
        rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(n, self.silhouette_sample, replace=False))

    def _stability(self, X):
        scores = []
        for offset in range(1, self.n_stability_seeds + 1):
            other = KMeans(
                self.n_clusters_, n_init=self.n_init,
                random_state=self.random_state + offset,
            ).fit_predict(X)
            scores.append(adjusted_rand_score(self.labels_, other))
        if not scores:
            return float("nan"), float("nan")
        return float(np.mean(scores)), float(np.min(scores))

    def predict(self, customers):
        """Return the segment of each customer."""
        X = self.scaler_.transform(self._transform(customers))
        return self.kmeans_.predict(X)
