"""Product categories found by clustering product descriptions.

The pipeline is: normalise each description (:func:`normalize_description`),
weight the stems with TF-IDF, reduce with a truncated SVD (latent semantic
analysis) to unit vectors, and cluster with k-means. The number of categories
is the one with the highest cosine silhouette, and each category is named
after its most characteristic words.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import pandas as pd
import snowballstemmer
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from shopseg.exceptions import (
    DegenerateDataWarning,
    EmptyResultError,
    ModelInputError,
    ShopsegError,
)

__all__ = ["ProductCategorizer", "normalize_description"]

#: Category number and label given to products that cannot be categorised.
UNCATEGORISED = -1
UNCATEGORISED_LABEL = "Uncategorised"

COLOUR_WORDS = frozenset(
    """
    red pink blue green white black ivory cream silver gold golden yellow orange
    purple grey gray brown turquoise lilac aqua teal navy beige violet magenta
    fuchsia fuschia scarlet crimson maroon burgundy khaki mauve peach coral
    mint lime charcoal multicolour multicolor multicoloured multicolored
    colour color colours colors coloured colored col colourful colorful
    pastel pastels bright neon
    """.split()
)
"""Colour words: they say what a product looks like, not what kind it is."""

SIZE_WORDS = frozenset(
    """
    small large mini jumbo big giant medium xl xxl xs tiny huge med lrg lge sml
    size sizes tall short long wide
    """.split()
)
"""Size words: a large bag and a small bag are both bags."""

PACK_WORDS = frozenset(
    """
    set sets pack packs pc pcs piece pieces assorted asst asstd ass des design
    designs new
    """.split()
)
"""Pack, assortment and filler words ("set of 4", "assorted designs")."""

PATTERN_WORDS = frozenset(
    """
    retrospot polkadot polka spot spots spotty dot dots dotty stripe stripes
    striped stripy check checked gingham paisley floral vintage retro antique
    style regency edwardian victorian baroque classic traditional funky
    pattern patterned print printed motif
    """.split()
)
"""Pattern and style words: a polka-dot bag and a polka-dot mug differ in kind."""

STOP_WORDS = frozenset(
    """
    a an and the of for with in on to by from at as is it its be are was this
    that these those or nor not no but if so up out off into onto over under
    my your our his her their me you we us he she they them i all any each
    per via w
    """.split()
)
"""Function words."""

MIN_TOKEN_LENGTH = 3
"""Tokens shorter than this are dropped."""

_ABBREVIATIONS = {
    "xmas": "christmas",
    "bfly": "butterfly",
    "hldr": "holder",
    "candleholder": "candle holder",
    "candleholders": "candle holders",
}
_DROP = COLOUR_WORDS | SIZE_WORDS | PACK_WORDS | PATTERN_WORDS | STOP_WORDS
_T_LIGHT = re.compile(r"\bt\s*-?\s*(lights?)\b")
_APOSTROPHE = re.compile(r"['\u2019`]")
_NON_LETTERS = re.compile(r"[^a-z]+")
_DISPLAY = {"tlight": "t-light", "tlights": "t-lights"}
_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=None)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def _tokens(text: object) -> list[tuple[str, str]]:
    """Return the kept ``(word, stem)`` pairs of a description, in order."""
    if not isinstance(text, str):
        return []
    text = _APOSTROPHE.sub("", text.lower())
    text = _T_LIGHT.sub(r"t\1", text)
    pairs = []
    for raw in _NON_LETTERS.sub(" ", text).split():
        for word in _ABBREVIATIONS.get(raw, raw).split():
            if len(word) < MIN_TOKEN_LENGTH or word in _DROP:
                continue
            stem = _stem(word)
            if len(stem) < MIN_TOKEN_LENGTH or stem in _DROP:
                continue
            pairs.append((word, stem))
    return pairs


def normalize_description(text: object) -> str:
    """Reduce a product description to the stems that say what kind it is.

    The text is lower-cased; apostrophes are removed ("child's" becomes
    "childs"), "t-light" and "t light" become "tlight", and a few abbreviations
    are expanded ("xmas", "b'fly", "hldr"). Every other character that is not
    a letter, digits and punctuation included, separates words. Then these
    words, which say nothing about the kind of product, are dropped: colour
    words (:data:`COLOUR_WORDS`, British and American spellings and "colour"
    itself), size words (:data:`SIZE_WORDS`), pack and assortment words such
    as "set of" and "assorted" (:data:`PACK_WORDS`), pattern and style words
    such as "polkadot" and "vintage" (:data:`PATTERN_WORDS`), function words
    (:data:`STOP_WORDS`) and words shorter than three letters. The remaining
    words are stemmed with the English Snowball stemmer.

    Parameters
    ----------
    text : str or None
        A product description. Anything that is not a string (``None``,
        ``NaN``) counts as an empty description.

    Returns
    -------
    str
        The stems separated by single spaces; empty if nothing is left.

    Examples
    --------
    >>> normalize_description("SET OF 4 RED RETROSPOT Cake Cases")
    'cake case'
    >>> normalize_description("JUMBO BAG PINK POLKADOT")
    'bag'
    >>> normalize_description("Hanging Heart T-Light Holder, 12 colours")
    'hang heart tlight holder'
    >>> normalize_description(None)
    ''
    """
    return " ".join(stem for _, stem in _tokens(text))


class ProductCategorizer(BaseEstimator):
    """Group products into categories by the words of their descriptions.

    Descriptions are normalised with :func:`normalize_description` and
    weighted with TF-IDF (sublinear term frequency; a term must occur in at
    least ``min_df`` products). The TF-IDF vectors are reduced to
    ``n_components`` dimensions with a truncated SVD (latent semantic
    analysis) and scaled to unit length; k-means (10 initialisations) then
    clusters these vectors.

    **Choice of the number of categories.** Unless ``n_categories`` is given,
    every k in ``k_range`` (both ends included) is fitted, and the k with the
    highest mean silhouette is kept (ties go to the smaller k). The
    silhouette uses cosine distance on the reduced unit vectors that k-means
    clusters, and all products, not a sample: for unit vectors it is computed
    exactly from the cluster sums in O(n k) time. It depends on the SVD
    dimension: on short product names the silhouette grows with k without
    a maximum in 50-100 dimensions, whereas in about 10 dimensions it peaks at
    a k that gives readable categories of similar size, hence the default
    ``n_components=10``.

    **Uncategorised products.** A product whose description is missing, is
    empty after normalisation, or shares no term with the fitted vocabulary
    gets category ``-1``, labelled ``"Uncategorised"``. Such products take no
    part in the clustering. Every product therefore gets exactly one category.

    Parameters
    ----------
    n_categories : int or None, default None
        Number of categories. ``None`` chooses it within ``k_range``.
    k_range : tuple of (int, int), default (3, 12)
        Smallest and largest number of categories tried when
        ``n_categories`` is ``None``.
    random_state : int, default 0
        Seed of the SVD and of k-means. The same products and seed give the
        same categories.
    n_top_terms : int, default 8
        Number of characteristic words listed per category in
        ``categories_``; the label is made of the first three.
    min_df : int, default 2
        A stem is a term of the vocabulary if it occurs in at least this many
        products.
    n_components : int or None, default 10
        Dimensions kept by the truncated SVD (fewer if the vocabulary or the
        catalogue is smaller). ``None`` clusters the TF-IDF vectors directly.

    Attributes
    ----------
    n_categories_ : int
        Number of categories fitted, not counting ``-1``.
    silhouette_ : float
        Cosine silhouette of the fitted clustering.
    scan_ : pandas.DataFrame
        One row per k tried, in increasing order, with columns ``k`` (int),
        ``silhouette`` (float) and ``chosen`` (bool).
    categories_ : pandas.DataFrame
        One row per category, numbered ``0 .. n_categories_ - 1`` from the
        largest to the smallest, then the ``-1`` row. Columns: ``category``
        (int), ``label`` (str, distinct), ``top_terms`` (str, up to
        ``n_top_terms`` words joined with ", "), ``n_products`` (int),
        ``share`` (fraction of the products) and, if the products had a
        ``revenue`` column, ``revenue`` and ``revenue_share``.
    labels_ : numpy.ndarray of int
        Category of each product given to :meth:`fit`, in input order.
    vectorizer_ : sklearn.feature_extraction.text.TfidfVectorizer
        TF-IDF vectoriser fitted on the normalised descriptions.
    svd_ : sklearn.decomposition.TruncatedSVD or None
        Fitted SVD, or ``None`` if the vectors were not reduced.
    kmeans_ : sklearn.cluster.KMeans
        Fitted k-means; cluster ``i`` of it is category ``i``.
    term_words_ : dict of str to str
        Readable word shown for each stem of the vocabulary: of the words
        reduced to the stem, the most frequent one in the descriptions.

    Examples
    --------
    >>> import pandas as pd
    >>> kinds = ["tote bag", "scented candle", "tea mug"]
    >>> themes = ["rose", "star", "owl", "heart", "bird"]
    >>> products = pd.DataFrame({
    ...     "stock_code": [f"P{i}" for i in range(15)],
    ...     "description": [f"{k} {t}" for k in kinds for t in themes],
    ... })
    >>> model = ProductCategorizer(k_range=(2, 5)).fit(products)
    >>> model.n_categories_
    3
    >>> model.categories_[["category", "label", "n_products"]]
       category            label  n_products
    0         0        bag, tote           5
    1         1  candle, scented           5
    2         2         mug, tea           5
    3        -1    Uncategorised           0
    """

    def __init__(
        self,
        n_categories=None,
        k_range=(3, 12),
        random_state=0,
        n_top_terms=8,
        min_df=2,
        n_components=10,
    ):
        self.n_categories = n_categories
        self.k_range = k_range
        self.random_state = random_state
        self.n_top_terms = n_top_terms
        self.min_df = min_df
        self.n_components = n_components

    def fit(self, products: pd.DataFrame, y=None) -> ProductCategorizer:
        """Learn the categories from a product table.

        Parameters
        ----------
        products : pandas.DataFrame
            One row per product, with columns ``stock_code`` and
            ``description`` (may be missing) and optionally ``revenue``, which
            only weights the report in ``categories_``.
        y : None
            Ignored.

        Returns
        -------
        ProductCategorizer
            The fitted estimator.

        Raises
        ------
        ModelInputError
            If ``products`` is not a DataFrame, lacks a column, repeats a
            stock code, or all its usable descriptions are the same after
            normalisation.
        EmptyResultError
            If ``products`` is empty, no description has a word left after
            normalisation, or no word occurs in ``min_df`` descriptions.
        ShopsegError
            If a parameter is out of range.

        Warns
        -----
        DegenerateDataWarning
            If there are too few distinct descriptions for the requested
            number of categories; smaller numbers are used.
        """
        ks = self._check_params()
        frame = _check_products(products, unique=True)
        pairs = [_tokens(text) for text in frame["description"]]
        docs = [" ".join(stem for _, stem in doc) for doc in pairs]
        if not any(docs):
            raise EmptyResultError(
                "No product description has a word left after normalisation "
                "(colour, size, pattern and stop words, digits and punctuation "
                "are removed), so products cannot be categorised. Check that "
                "the 'description' column holds product names."
            )
        vectorizer = TfidfVectorizer(
            token_pattern=r"\S+",
            lowercase=False,
            min_df=self.min_df,
            sublinear_tf=True,
            dtype=np.float64,
        )
        try:
            tfidf = vectorizer.fit_transform(docs)
        except ValueError:
            raise EmptyResultError(
                f"No word occurs in at least min_df={self.min_df} product "
                "descriptions, so products cannot be compared. Give more "
                "products or a smaller min_df."
            ) from None

        usable = np.flatnonzero(tfidf.getnnz(axis=1) > 0)
        x_tfidf = tfidf[usable]
        n_distinct = _n_distinct_rows(x_tfidf)
        if n_distinct < 2:
            raise ModelInputError(
                f"All {len(usable)} usable product descriptions are the same "
                "after normalisation, so there is nothing to split into "
                "categories."
            )
        ks = self._feasible_ks(ks, n_distinct, len(usable))

        with threadpool_limits(limits=1):
            svd, x = self._reduce(x_tfidf)
            rows, fits = [], {}
            for k in ks:
                kmeans = KMeans(
                    n_clusters=k, n_init=10, random_state=self.random_state
                )
                raw = kmeans.fit_predict(x)
                fits[k] = (kmeans, raw)
                rows.append((k, _cosine_silhouette(x, raw, k)))
        scan = pd.DataFrame(rows, columns=["k", "silhouette"])
        best = int(np.argmax(scan["silhouette"].to_numpy()))
        k_best = int(scan["k"].iloc[best])
        scan["chosen"] = scan["k"] == k_best
        kmeans, raw = fits[k_best]

        # Number the categories from the largest to the smallest; ties go to
        # the category of the earlier product.
        sizes = np.bincount(raw, minlength=k_best)
        first = np.array([np.flatnonzero(raw == c)[0] for c in range(k_best)])
        order = np.lexsort((first, -sizes))
        renumber = np.empty(k_best, dtype=int)
        renumber[order] = np.arange(k_best)
        kmeans.cluster_centers_ = kmeans.cluster_centers_[order]
        kmeans.labels_ = renumber[kmeans.labels_]

        labels = np.full(len(frame), UNCATEGORISED, dtype=int)
        labels[usable] = renumber[raw]

        self.vectorizer_ = vectorizer
        self.svd_ = svd
        self.kmeans_ = kmeans
        self.term_words_ = _term_words(pairs, vectorizer.vocabulary_)
        self.scan_ = scan.astype({"k": int, "silhouette": float, "chosen": bool})
        self.n_categories_ = k_best
        self.silhouette_ = float(scan["silhouette"].iloc[best])
        self.labels_ = labels
        self.categories_ = self._describe(frame, x_tfidf, labels, usable)
        return self

    def fit_predict(self, products: pd.DataFrame, y=None) -> np.ndarray:
        """Fit and return the category of each product.

        Parameters
        ----------
        products : pandas.DataFrame
            As for :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        numpy.ndarray of int
            ``labels_``.
        """
        return self.fit(products).labels_

    def predict(self, products: pd.DataFrame) -> np.ndarray:
        """Assign each product, new or seen in :meth:`fit`, to a category.

        Parameters
        ----------
        products : pandas.DataFrame
            Products with a ``description`` column; ``stock_code`` is not
            needed here and may repeat.

        Returns
        -------
        numpy.ndarray of int
            Category of each product, in input order: the nearest category
            centre, or ``-1`` if the description has no word of the fitted
            vocabulary.

        Raises
        ------
        ShopsegError
            If the estimator is not fitted.
        ModelInputError
            If ``products`` is not a DataFrame with a ``description`` column.
        """
        self._check_fitted()
        frame = _check_products(products, unique=False, need_code=False)
        docs = [normalize_description(text) for text in frame["description"]]
        tfidf = self.vectorizer_.transform(docs)
        labels = np.full(len(frame), UNCATEGORISED, dtype=int)
        usable = np.flatnonzero(tfidf.getnnz(axis=1) > 0)
        if len(usable):
            with threadpool_limits(limits=1):
                x = self._embed(tfidf[usable])
                labels[usable] = self.kmeans_.predict(x)
        return labels

    def assign(self, products: pd.DataFrame) -> pd.DataFrame:
        """Return the products with their category number and label.

        Parameters
        ----------
        products : pandas.DataFrame
            As for :meth:`predict`.

        Returns
        -------
        pandas.DataFrame
            A copy of ``products`` (same index) with two more columns:
            ``category`` (int) and ``category_label`` (str).
        """
        categories = self.predict(products)
        names = dict(zip(self.categories_["category"], self.categories_["label"]))
        out = products.copy()
        out["category"] = categories
        out["category_label"] = [names[c] for c in categories]
        return out

    def _reduce(self, x_tfidf):
        """Fit the SVD (if any) and return it with the unit vectors."""
        n_terms, n_rows = x_tfidf.shape[1], x_tfidf.shape[0]
        dims = None
        if self.n_components is not None:
            dims = min(self.n_components, n_terms - 1, n_rows - 1)
        if dims is None or dims < 2:
            return None, normalize(x_tfidf.toarray())
        svd = TruncatedSVD(n_components=dims, random_state=self.random_state)
        return svd, normalize(svd.fit_transform(x_tfidf))

    def _embed(self, tfidf):
        if self.svd_ is None:
            return normalize(tfidf.toarray())
        return normalize(self.svd_.transform(tfidf))

    def _check_fitted(self):
        if not hasattr(self, "kmeans_"):
            raise ShopsegError(
                "This ProductCategorizer is not fitted yet; call fit(products) "
                "before predict(products)."
            )

    def _check_params(self) -> list[int]:
        """Validate the parameters and return the numbers of categories to try."""
        for name in ("n_top_terms", "min_df"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ShopsegError(
                    f"{name} must be a positive integer, got {value!r}."
                )
        if self.n_components is not None and (
            not _is_int(self.n_components) or self.n_components < 2
        ):
            raise ShopsegError(
                "n_components must be an integer of at least 2 or None, got "
                f"{self.n_components!r}."
            )
        if self.n_categories is not None:
            if not _is_int(self.n_categories) or self.n_categories < 2:
                raise ShopsegError(
                    "n_categories must be an integer of at least 2 or None, "
                    f"got {self.n_categories!r}."
                )
            return [int(self.n_categories)]
        try:
            low, high = self.k_range
        except (TypeError, ValueError):
            low = high = None
        if not (_is_int(low) and _is_int(high) and 2 <= low <= high):
            raise ShopsegError(
                "k_range must be a pair (smallest, largest) of integers with "
                f"2 <= smallest <= largest, got {self.k_range!r}."
            )
        return list(range(int(low), int(high) + 1))

    def _feasible_ks(self, ks: list[int], n_distinct: int, n_usable: int):
        """Drop the k that the data cannot support, with a warning."""
        # k-means needs k distinct points, the silhouette k < n points.
        cap = min(n_distinct, n_usable - 1)
        kept = [k for k in ks if k <= cap]
        if len(kept) == len(ks):
            return ks
        if self.n_categories is not None:
            asked = f"{self.n_categories} categories"
        else:
            asked = f"{self.k_range[0]} to {self.k_range[1]} categories"
        kept = kept or [cap]
        tried = f"k={kept[0]}" if len(kept) == 1 else f"k={kept[0]}..{kept[-1]}"
        warnings.warn(
            f"Only {n_usable} categorisable products with {n_distinct} distinct "
            f"normalised descriptions, too few for {asked}; used {tried} "
            "instead.",
            DegenerateDataWarning,
            stacklevel=3,
        )
        return kept

    def _describe(self, frame, x_tfidf, labels, usable) -> pd.DataFrame:
        """Build ``categories_``: labels, top terms, sizes and revenue."""
        terms = self.vectorizer_.get_feature_names_out()
        fitted = labels[usable]
        overall = np.asarray(x_tfidf.mean(axis=0)).ravel()
        words_per_category = []
        for c in range(self.n_categories_):
            mean_in = np.asarray(x_tfidf[fitted == c].mean(axis=0)).ravel()
            # Characteristic terms weigh much in the category and more there
            # than across all products: score = mean * log(mean / overall
            # mean), over-represented terms only; ties go to the term.
            score = np.zeros_like(mean_in)
            over = mean_in > overall * (1.0 + 1e-9)
            score[over] = mean_in[over] * np.log(mean_in[over] / overall[over])
            order = np.lexsort((terms, -score))
            top = [t for t in order[: self.n_top_terms] if score[t] > 0]
            words = _unique([self.term_words_[terms[t]] for t in top])
            words_per_category.append(words or [f"category {c}"])
        names = _distinct([", ".join(w[:3]) for w in words_per_category])

        table = pd.DataFrame(
            {
                "category": list(range(self.n_categories_)) + [UNCATEGORISED],
                "label": names + [UNCATEGORISED_LABEL],
                "top_terms": [", ".join(w) for w in words_per_category] + [""],
            }
        )
        counts = np.bincount(labels + 1, minlength=self.n_categories_ + 1)
        table["n_products"] = counts[table["category"].to_numpy() + 1]
        table["share"] = table["n_products"] / len(labels)
        if "revenue" in frame.columns:
            revenue = pd.to_numeric(frame["revenue"], errors="coerce")
            revenue = revenue.fillna(0.0).to_numpy(dtype=float)
            sums = np.bincount(
                labels + 1, weights=revenue, minlength=self.n_categories_ + 1
            )
            table["revenue"] = sums[table["category"].to_numpy() + 1]
            total = revenue.sum()
            table["revenue_share"] = table["revenue"] / total if total else 0.0
        return table.astype({"category": int, "n_products": int})


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_products(products, *, unique: bool, need_code: bool = True):
    """Check the product table and return it."""
    if not isinstance(products, pd.DataFrame):
        raise ModelInputError(
            "products must be a pandas DataFrame with columns 'stock_code' and "
            f"'description', got {type(products).__name__}."
        )
    needed = ["stock_code", "description"] if need_code else ["description"]
    missing = [c for c in needed if c not in products.columns]
    if missing:
        found = ", ".join(repr(str(c)) for c in products.columns) or "none"
        raise ModelInputError(
            f"products lack the column(s) {', '.join(map(repr, missing))}; "
            f"found {found}."
        )
    if len(products) == 0:
        raise EmptyResultError("products has no rows; there is nothing to categorise.")
    if unique:
        codes = products["stock_code"]
        repeated = codes[codes.duplicated()]
        if len(repeated):
            raise ModelInputError(
                f"products must have one row per stock_code, but "
                f"{repeated.nunique()} stock codes repeat (e.g. "
                f"{repeated.iloc[0]!r}); keep one description per stock code, "
                "for example the most frequent one."
            )
    return products


def _n_distinct_rows(matrix) -> int:
    """Count the distinct rows of a sparse matrix."""
    matrix = matrix.tocsr()
    rows = set()
    for i in range(matrix.shape[0]):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        rows.add(
            (
                tuple(matrix.indices[start:end]),
                tuple(np.round(matrix.data[start:end], 12)),
            )
        )
    return len(rows)


def _cosine_silhouette(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean silhouette with cosine distance, for rows of unit length.

    Equal to ``sklearn.metrics.silhouette_score(x, labels, metric="cosine")``
    but in O(n k d) time: for unit vectors, the summed cosine distance from
    ``x[i]`` to a cluster ``C`` is ``|C| - x[i] @ sum(C)``.
    """
    n = len(labels)
    sizes = np.bincount(labels, minlength=k).astype(float)
    if np.count_nonzero(sizes) < 2 or np.count_nonzero(sizes) >= n:
        return -1.0
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x)
    rows = np.arange(n)
    total = sizes[None, :] - x @ sums.T  # summed distance to each cluster
    own = sizes[labels]
    # The distance of a point to itself is 1 - |x|^2 (0 for unit vectors).
    intra = total[rows, labels] - (1.0 - np.einsum("ij,ij->i", x, x))
    a = intra / np.maximum(own - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_other = total / sizes[None, :]
    mean_other[:, sizes == 0] = np.inf
    mean_other[rows, labels] = np.inf
    b = mean_other.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    s[own == 1] = 0.0
    return float(np.mean(s))


def _term_words(pairs, vocabulary) -> dict[str, str]:
    """Map each stem of the vocabulary to its most frequent original word."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for doc in pairs:
        for word, stem in doc:
            if stem in vocabulary:
                counts[stem][word] += 1
    words = {}
    for stem, counter in counts.items():
        word = min(counter.items(), key=lambda item: (-item[1], item[0]))[0]
        words[stem] = _DISPLAY.get(word, word)
    return words


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _distinct(labels: list[str]) -> list[str]:
    """Make labels distinct by appending " (2)", " (3)", ... to repeats."""
    taken = set(labels) | {UNCATEGORISED_LABEL}
    used: set[str] = set()
    out = []
    for label in labels:
        candidate, n = label, 2
        while candidate in used or (candidate != label and candidate in taken):
            candidate, n = f"{label} ({n})", n + 1
        used.add(candidate)
        out.append(candidate)
    return out
