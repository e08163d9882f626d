"""Product categories found by clustering product descriptions.

The pipeline is: normalise each description (:func:`normalize_description`),
weight the stems with TF-IDF, reduce with a truncated SVD (latent semantic
analysis), and cluster with k-means. The number of categories is chosen by the
cosine silhouette of the clustering, and each category is named after its most
characteristic words.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import pandas as pd
import snowballstemmer
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

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
    "tlight": "tlight",
    "tlights": "tlights",
}
_DROP = COLOUR_WORDS | SIZE_WORDS | PACK_WORDS | STOP_WORDS
_T_LIGHT = re.compile(r"\bt\s*-?\s*(lights?)\b")
_APOSTROPHE = re.compile(r"['\u2019`]")
_NON_LETTERS = re.compile(r"[^a-z]+")
_DISPLAY = {"tlight": "t-light", "tlights": "t-lights"}


@lru_cache(maxsize=None)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


_STEMMER = snowballstemmer.stemmer("english")


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
    a letter, digits and punctuation included, separates words. Colour words
    (:data:`COLOUR_WORDS`, British and American spellings and "colour"
    itself), size words (:data:`SIZE_WORDS`), pack and assortment words such as
    "set of" and "assorted" (:data:`PACK_WORDS`), function words
    (:data:`STOP_WORDS`) and words shorter than three letters are dropped. The
    remaining words are stemmed with the English Snowball stemmer.

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
    'retrospot cake case'
    >>> normalize_description("JUMBO BAG PINK POLKADOT")
    'bag polkadot'
    >>> normalize_description("Hanging Heart T-Light Holder, 12 colours")
    'hang heart tlight holder'
    >>> normalize_description(None)
    ''
    """
    return " ".join(stem for _, stem in _tokens(text))


class ProductCategorizer:
    """Group products into categories by the words of their descriptions.

    Descriptions are normalised with :func:`normalize_description`, weighted
    with TF-IDF (sublinear term frequency, terms in at least ``min_df``
    products), reduced to at most 100 dimensions with a truncated SVD and
    scaled to unit length, then clustered with k-means.

    **Choice of the number of categories.** Unless ``n_categories`` is given,
    every k in ``k_range`` (both ends included) is fitted and the one with the
    highest silhouette, with cosine distance on the reduced unit vectors, is
    kept; ties go to the smaller k. The silhouette is computed on all products
    up to 5,000, and on a sample of 5,000 drawn with ``random_state`` above.

    **Uncategorised products.** A product whose description is missing, is
    empty after normalisation, or shares no term with the fitted vocabulary
    gets category ``-1`` labelled ``"Uncategorised"``. Such products take no
    part in the clustering, so every product gets exactly one category.

    Parameters
    ----------
    n_categories : int or None, default None
        Number of categories. ``None`` chooses it within ``k_range``.
    k_range : tuple of (int, int), default (3, 12)
        Smallest and largest number of categories tried when
        ``n_categories`` is ``None``.
    random_state : int, default 0
        Seed of the SVD, of k-means and of the silhouette sample. The same
        products and seed give the same categories.
    n_top_terms : int, default 8
        Number of characteristic words listed per category in
        ``categories_``; the label uses the first three of them.
    min_df : int, default 2
        A stem is a term of the vocabulary if it occurs in at least this many
        products.

    Attributes
    ----------
    n_categories_ : int
        Number of categories fitted (not counting ``-1``).
    silhouette_ : float
        Cosine silhouette of the fitted clustering.
    scan_ : pandas.DataFrame
        One row per k tried, with columns ``k``, ``silhouette`` and
        ``chosen`` (bool).
    categories_ : pandas.DataFrame
        One row per category, numbered ``0 .. n_categories_ - 1`` from the
        largest to the smallest, followed by the ``-1`` row. Columns:
        ``category`` (int), ``label`` (str, distinct), ``top_terms`` (str,
        words joined with ", "), ``n_products`` (int), ``share`` (fraction of
        products) and, when the products had a ``revenue`` column,
        ``revenue`` and ``revenue_share``.
    labels_ : numpy.ndarray of int
        Category of each product given to :meth:`fit`, in input order.
    vectorizer_ : sklearn.feature_extraction.text.TfidfVectorizer
        Fitted TF-IDF vectoriser over normalised descriptions.
    svd_ : sklearn.decomposition.TruncatedSVD or None
        Fitted SVD, or ``None`` when the vocabulary is too small to reduce.
    kmeans_ : sklearn.cluster.KMeans
        Fitted k-means with the chosen number of categories.
    term_words_ : dict of str to str
        Readable word shown for each stem of the vocabulary: the word, among
        those reduced to the stem, that is most frequent in the descriptions.

    Examples
    --------
    >>> import pandas as pd
    >>> words = ["tote bag", "candle", "tea mug"]
    >>> products = pd.DataFrame({
    ...     "stock_code": [f"P{i}" for i in range(30)],
    ...     "description": [
    ...         f"{words[i % 3]} {['rose', 'star', 'heart'][i // 3 % 3]}"
    ...         for i in range(30)
    ...     ],
    ... })
    >>> model = ProductCategorizer(n_categories=3).fit(products)
    >>> sorted(model.categories_["label"])[:3]
    ['bag, tote, heart', 'candle, heart, rose', 'mug, tea, heart']
    """

    def __init__(
        self,
        n_categories=None,
        k_range=(3, 12),
        random_state=0,
        n_top_terms=8,
        min_df=2,
    ):
        self.n_categories = n_categories
        self.k_range = k_range
        self.random_state = random_state
        self.n_top_terms = n_top_terms
        self.min_df = min_df

    # ------------------------------------------------------------------ fit
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
            If a column is missing, a stock code is repeated, or all usable
            descriptions are the same after normalisation.
        EmptyResultError
            If no description has a word left after normalisation, or no word
            occurs in ``min_df`` products.
        ShopsegError
            If a parameter is out of range.

        Warns
        -----
        DegenerateDataWarning
            If there are too few distinct descriptions for the requested
            number of categories; a smaller number is used.
        """
        ks = self._check_params()
        frame = _check_products(products, unique=True)
        pairs = [_tokens(text) for text in frame["description"]]
        docs = [" ".join(stem for _, stem in p) for p in pairs]
        if not any(docs):
            raise EmptyResultError(
                "No product description has a word left after normalisation "
                "(colour, size and stop words, digits and punctuation are "
                "removed), so products cannot be categorised. Check that the "
                "'description' column holds product names."
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
                "All product descriptions are the same after normalisation "
                f"({len(usable)} usable products, 1 distinct description), so "
                "there is nothing to split into categories."
            )
        ks = self._feasible_ks(ks, n_distinct, len(usable))

        n_terms = x_tfidf.shape[1]
        n_components = min(100, n_terms - 1, len(usable) - 1)
        if n_components >= 2 and n_terms > 100:
            svd = TruncatedSVD(
                n_components=n_components, random_state=self.random_state
            )
            x = normalize(svd.fit_transform(x_tfidf))
        else:
            svd = None
            x = normalize(x_tfidf.toarray())

        sample = _silhouette_sample(len(usable), self.random_state)
        rows, fits = [], {}
        for k in ks:
            km = KMeans(n_clusters=k, n_init=10, random_state=self.random_state)
            labels = km.fit_predict(x)
            fits[k] = (km, labels)
            rows.append({"k": k, "silhouette": _silhouette(x, labels, sample)})
        scan = pd.DataFrame(rows, columns=["k", "silhouette"])
        best = int(scan["silhouette"].to_numpy().argmax())
        k_best = int(scan["k"].iloc[best])
        scan["chosen"] = scan["k"] == k_best
        kmeans, raw = fits[k_best]

        # Number categories from largest to smallest (ties: first product).
        sizes = np.bincount(raw, minlength=k_best)
        first = np.array([np.flatnonzero(raw == c)[0] for c in range(k_best)])
        order = np.lexsort((first, -sizes))
        renumber = np.empty(k_best, dtype=int)
        renumber[order] = np.arange(k_best)
        kmeans.cluster_centers_ = kmeans.cluster_centers_[order]

        labels = np.full(len(frame), UNCATEGORISED, dtype=int)
        labels[usable] = renumber[raw]

        self.vectorizer_ = vectorizer
        self.svd_ = svd
        self.kmeans_ = kmeans
        self.term_words_ = _term_words(pairs, vectorizer.vocabulary_)
        self.scan_ = scan.reset_index(drop=True)
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

    # -------------------------------------------------------------- predict
    def predict(self, products: pd.DataFrame) -> np.ndarray:
        """Assign each product, new or seen in :meth:`fit`, to a category.

        Parameters
        ----------
        products : pandas.DataFrame
            Products with a ``description`` column (``stock_code`` is not
            needed, and may repeat).

        Returns
        -------
        numpy.ndarray of int
            Category of each product, in input order; ``-1`` for products
            whose description has no word of the fitted vocabulary.
        """
        self._check_fitted()
        frame = _check_products(products, unique=False, need_code=False)
        docs = [normalize_description(text) for text in frame["description"]]
        tfidf = self.vectorizer_.transform(docs)
        labels = np.full(len(frame), UNCATEGORISED, dtype=int)
        usable = np.flatnonzero(tfidf.getnnz(axis=1) > 0)
        if len(usable):
            labels[usable] = self.kmeans_.predict(self._embed(tfidf[usable]))
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
            The input columns (same index) plus ``category`` (int) and
            ``category_label`` (str).
        """
        categories = self.predict(products)
        labels = dict(zip(self.categories_["category"], self.categories_["label"]))
        out = products.copy()
        out["category"] = categories
        out["category_label"] = [labels[c] for c in categories]
        return out

    # -------------------------------------------------------------- helpers
    def _embed(self, tfidf):
        if self.svd_ is None:
            return normalize(tfidf.toarray())
        return normalize(self.svd_.transform(tfidf))

    def _check_fitted(self):
        if not hasattr(self, "kmeans_"):
            raise ShopsegError(
                "This ProductCategorizer is not fitted yet; call fit(products) "
                "before predict."
            )

    def _check_params(self) -> list[int]:
        if self.n_categories is not None:
            k = self.n_categories
            if not _is_int(k) or k < 2:
                raise ShopsegError(
                    f"n_categories must be an integer of at least 2 or None, "
                    f"got {k!r}."
                )
            return [int(k)]
        try:
            lo, hi = self.k_range
        except (TypeError, ValueError):
            lo = hi = None
        if not (_is_int(lo) and _is_int(hi) and 2 <= lo <= hi):
            raise ShopsegError(
                "k_range must be a pair (smallest, largest) of integers with "
                f"2 <= smallest <= largest, got {self.k_range!r}."
            )
        if not _is_int(self.n_top_terms) or self.n_top_terms < 1:
            raise ShopsegError(
                f"n_top_terms must be a positive integer, got {self.n_top_terms!r}."
            )
        return list(range(int(lo), int(hi) + 1))

    def _feasible_ks(self, ks: list[int], n_distinct: int, n_usable: int):
        # k-means needs k distinct points; the silhouette needs k < n.
        cap = min(n_distinct, n_usable - 1)
        kept = [k for k in ks if k <= cap]
        if len(kept) == len(ks):
            return ks
        asked = (
            f"n_categories={ks[0]}"
            if self.n_categories is not None
            else f"k_range={tuple(self.k_range)!r}"
        )
        if not kept:
            kept = [cap]
        warnings.warn(
            f"Only {n_usable} products with {n_distinct} distinct normalised "
            f"descriptions, too few for {asked}; tried k in "
            f"{kept[0]}..{kept[-1]} instead.",
            DegenerateDataWarning,
            stacklevel=3,
        )
        return kept

    def _describe(self, frame, x_tfidf, labels, usable) -> pd.DataFrame:
        terms = self.vectorizer_.get_feature_names_out()
        fitted = labels[usable]
        overall = np.asarray(x_tfidf.mean(axis=0)).ravel()
        rows = []
        for c in range(self.n_categories_):
            inside = fitted == c
            mean_in = np.asarray(x_tfidf[inside].mean(axis=0)).ravel()
            # Characteristic terms: heavy in the category and heavier there
            # than across all products; ties are broken by the term itself.
            score = mean_in * np.log1p(mean_in / np.maximum(overall, 1e-12))
            order = np.lexsort((terms, -score))
            top = [t for t in order[: self.n_top_terms] if score[t] > 0]
            words = _unique([self.term_words_[terms[t]] for t in top])
            if not words:
                words = [f"category {c}"]
            rows.append({"category": c, "words": words})
        labels_text = _distinct([", ".join(r["words"][:3]) for r in rows])

        has_revenue = "revenue" in frame.columns
        revenue = (
            pd.to_numeric(frame["revenue"], errors="coerce").fillna(0.0).to_numpy()
            if has_revenue
            else None
        )
        out = []
        for row, label in zip(rows, labels_text):
            out.append((row["category"], label, ", ".join(row["words"])))
        out.append((UNCATEGORISED, UNCATEGORISED_LABEL, ""))
        table = pd.DataFrame(out, columns=["category", "label", "top_terms"])
        counts = pd.Series(labels).value_counts()
        table["n_products"] = [int(counts.get(c, 0)) for c in table["category"]]
        table["share"] = table["n_products"] / max(len(labels), 1)
        if has_revenue:
            sums = pd.Series(revenue).groupby(labels).sum()
            table["revenue"] = [float(sums.get(c, 0.0)) for c in table["category"]]
            total = float(revenue.sum())
            table["revenue_share"] = (
                table["revenue"] / total if total != 0 else 0.0
            )
        return table.astype({"category": int, "label": str, "top_terms": str})


# ------------------------------------------------------------------ helpers
def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_products(products, *, unique: bool, need_code: bool = True):
    if not isinstance(products, pd.DataFrame):
        raise ModelInputError(
            "products must be a pandas DataFrame with columns 'stock_code' and "
            f"'description', got {type(products).__name__}."
        )
    needed = ["stock_code", "description"] if need_code else ["description"]
    missing = [c for c in needed if c not in products.columns]
    if missing:
        raise ModelInputError(
            f"products lack the column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(repr, map(str, products.columns)))}."
        )
    if len(products) == 0:
        raise EmptyResultError("products has no rows; there is nothing to categorise.")
    if unique:
        codes = products["stock_code"]
        dup = codes[codes.duplicated()]
        if len(dup):
            raise ModelInputError(
                f"products must have one row per stock_code, but {dup.nunique()} "
                f"codes repeat (e.g. {dup.iloc[0]!r}); keep one description per "
                "stock code, for example the most frequent one."
            )
    return products


def _n_distinct_rows(matrix) -> int:
    matrix = matrix.tocsr()
    seen = set()
    for i in range(matrix.shape[0]):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        seen.add(
            (
                tuple(matrix.indices[start:end]),
                tuple(np.round(matrix.data[start:end], 12)),
            )
        )
    return len(seen)


_SILHOUETTE_MAX = 5000


def _silhouette_sample(n: int, random_state) -> np.ndarray | None:
    if n <= _SILHOUETTE_MAX:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=_SILHOUETTE_MAX, replace=False))


def _silhouette(x: np.ndarray, labels: np.ndarray, sample) -> float:
    if sample is not None:
        x, labels = x[sample], labels[sample]
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return -1.0
    return float(silhouette_score(x, labels, metric="cosine"))


def _term_words(pairs, vocabulary) -> dict[str, str]:
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
