"""Tests of shopseg.products: description normalisation and product categories."""

import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

import shopseg.products
from shopseg.exceptions import (
    DegenerateDataWarning,
    EmptyResultError,
    ModelInputError,
    ShopsegError,
)
from shopseg.products import ProductCategorizer, normalize_description
from shopseg.products import _categories

KINDS = {
    "bag": ["JUMBO BAG", "SHOPPER BAG", "LUNCH BAG", "TOTE BAG", "BAG CHARLOTTE"],
    "candle": [
        "SCENTED CANDLE",
        "PILLAR CANDLE",
        "CANDLE IN TIN",
        "DINNER CANDLES",
        "T-LIGHT CANDLES",
    ],
    "mug": ["MUG", "COFFEE MUG", "TEA MUG", "BREAKFAST MUG", "MUGS"],
}
THEMES = ["ROSE", "OWL", "STAR", "APPLE"]
COLOURS = ["RED", "PINK", "BLUE", "IVORY"]
SIZES = ["SMALL", "LARGE", "MINI", "JUMBO"]


def catalogue() -> pd.DataFrame:
    """60 products: 20 bags, 20 candles, 20 mugs, with shared theme words."""
    rows = []
    for kind, phrases in KINDS.items():
        for i in range(20):
            text = (
                f"{SIZES[i % 4]} {COLOURS[i // 5 % 4]} {THEMES[i % 4]} "
                f"{phrases[i % 5]}"
            )
            rows.append((f"{kind[:2].upper()}{i:03d}", text, kind, 10.0 + i))
    return pd.DataFrame(rows, columns=["stock_code", "description", "kind", "revenue"])


@pytest.fixture(scope="module")
def fitted():
    products = catalogue()
    model = ProductCategorizer(k_range=(2, 6), random_state=0).fit(products)
    return model, products


# ----------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SET OF 4 RED RETROSPOT CAKE CASES", "cake case"),
        ("JUMBO BAG PINK POLKADOT", "bag"),
        ("Small Grey Colour Cushion", "cushion"),
        ("LARGE IVORY CREAM SILVER GOLD MUG", "mug"),
        ("mini xl giant big medium candle", "candl"),
        ("HANGING HEART T-LIGHT HOLDER", "hang heart tlight holder"),
        ("T LIGHTS", "tlight"),
        ("12 COLOURED PENCILS!!", "pencil"),
        ("SET 10 XMAS CARDS", "christma card"),
        ("CHILD'S GARDEN RAKE", "child garden rake"),
        ("decorations, decorated, decorating", "decor decor decor"),
        ("Of the and with", ""),
        ("", ""),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_normalize_description(text, expected):
    assert normalize_description(text) == expected


def test_normalize_drops_colour_and_size_words_in_both_spellings():
    for word in ["colour", "color", "grey", "gray", "multicolour", "coloured"]:
        assert normalize_description(f"{word} lamp") == "lamp"
    for word in ["small", "large", "mini", "jumbo", "big", "giant", "medium"]:
        assert normalize_description(f"{word} lamp") == "lamp"


def test_normalize_drops_short_tokens_digits_and_punctuation():
    assert normalize_description("A B CD 123 £4.50 -- lamp/shade") == "lamp shade"


def test_normalize_is_stemmed():
    assert normalize_description("bags") == normalize_description("bag") == "bag"
    assert normalize_description("candles") == normalize_description("candle")


def test_public_api_and_doctests():
    assert shopseg.products.__all__ == sorted(shopseg.products.__all__)
    assert set(shopseg.products.__all__) == {
        "ProductCategorizer",
        "normalize_description",
    }
    result = doctest.testmod(_categories)
    assert result.attempted > 0
    assert result.failed == 0


# ------------------------------------------------------------- categories
def test_synthetic_catalogue_recovers_three_kinds(fitted):
    model, products = fitted
    assert model.n_categories_ == 3
    table = pd.crosstab(products["kind"], model.labels_)
    # Every kind falls in exactly one category, and vice versa.
    assert (table.gt(0).sum(axis=1) == 1).all()
    assert (table.gt(0).sum(axis=0) == 1).all()
    labels = model.categories_.set_index("category")["label"]
    for kind in KINDS:
        category = table.loc[kind].idxmax()
        assert labels[category].split(", ")[0] in {kind, kind + "s"}


def test_scan_and_silhouette(fitted):
    model, _ = fitted
    scan = model.scan_
    assert list(scan.columns) == ["k", "silhouette", "chosen"]
    assert scan["k"].tolist() == [2, 3, 4, 5, 6]
    assert scan["chosen"].sum() == 1
    assert scan.loc[scan["chosen"], "k"].item() == model.n_categories_
    assert np.isfinite(scan["silhouette"]).all()
    assert model.silhouette_ == scan["silhouette"].max()
    assert -1 <= model.silhouette_ <= 1


def test_silhouette_matches_sklearn():
    rng = np.random.default_rng(0)
    x = normalize(rng.normal(size=(120, 5)))
    x[10:20] = x[10]  # duplicates
    labels = rng.integers(0, 4, size=120)
    labels[0] = 4  # a singleton cluster
    ours = _categories._cosine_silhouette(x, labels, 5)
    assert ours == pytest.approx(silhouette_score(x, labels, metric="cosine"))


def test_categories_table(fitted):
    model, products = fitted
    table = model.categories_
    assert list(table.columns) == [
        "category",
        "label",
        "top_terms",
        "n_products",
        "share",
        "revenue",
        "revenue_share",
    ]
    assert table["category"].tolist() == [0, 1, 2, -1]
    assert table["label"].is_unique
    assert table["label"].iloc[-1] == "Uncategorised"
    assert table["n_products"].sum() == len(products)
    assert table["revenue"].sum() == pytest.approx(products["revenue"].sum())
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert not table.drop(columns="top_terms").isna().any().any()
    # Top terms are readable words, not stems, and at most n_top_terms.
    words = table["top_terms"].iloc[0].split(", ")
    assert 1 <= len(words) <= model.n_top_terms
    assert all(w in model.term_words_.values() for w in words)
    # Categories are numbered from the largest.
    sizes = table["n_products"].iloc[:-1].tolist()
    assert sizes == sorted(sizes, reverse=True)


def test_report_without_revenue_column():
    products = catalogue().drop(columns="revenue")
    model = ProductCategorizer(n_categories=3).fit(products)
    assert "revenue" not in model.categories_.columns
    assert model.categories_["share"].sum() == pytest.approx(1.0)


def test_readable_words_are_unstemmed(fitted):
    model, _ = fitted
    assert model.term_words_["candl"] == "candle"
    assert model.term_words_["tlight"] == "t-light"


def test_deterministic():
    products = catalogue()
    first = ProductCategorizer(k_range=(2, 6), random_state=7).fit(products)
    second = ProductCategorizer(k_range=(2, 6), random_state=7).fit(products)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    pd.testing.assert_frame_equal(first.categories_, second.categories_)
    pd.testing.assert_frame_equal(first.scan_, second.scan_)
    assert first.silhouette_ == second.silhouette_


def test_every_product_gets_a_category(fitted):
    model, products = fitted
    np.testing.assert_array_equal(model.predict(products), model.labels_)
    new = pd.DataFrame(
        {
            "stock_code": ["N1", "N2", "N3", "N4", "N5", "N1"],
            "description": [
                "LARGE TOTE BAG",
                None,
                "",
                "PINK JUMBO",
                "ZEBRA UMBRELLA",
                "MUG",
            ],
        }
    )
    predicted = model.predict(new)
    assert predicted.shape == (6,)
    assert predicted.dtype.kind == "i"
    assert predicted.tolist()[1:4] == [-1, -1, -1]
    assert predicted[4] == -1  # no word of the vocabulary
    assert predicted[0] >= 0 and predicted[5] >= 0
    assigned = model.assign(new)
    assert assigned.index.equals(new.index)
    assert assigned["category_label"].notna().all()
    assert assigned.loc[1, "category_label"] == "Uncategorised"
    assert set(assigned["category"]) <= set(model.categories_["category"])


def test_missing_descriptions_are_uncategorised_in_fit():
    products = catalogue()
    products.loc[[0, 1], "description"] = [None, "RED LARGE"]
    model = ProductCategorizer(n_categories=3).fit(products)
    assert model.labels_[0] == model.labels_[1] == -1
    assert (model.labels_[2:] >= 0).all()
    table = model.categories_.set_index("category")
    assert table.loc[-1, "n_products"] == 2


def test_sklearn_contract():
    model = ProductCategorizer(n_categories=4, random_state=3)
    assert model.get_params()["n_categories"] == 4
    assert not hasattr(model, "n_categories_")
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    labels = copy.fit_predict(catalogue())
    np.testing.assert_array_equal(labels, copy.labels_)


# ---------------------------------------------------------- degenerate data
def test_identical_descriptions_raise():
    products = pd.DataFrame(
        {
            "stock_code": ["A", "B", "C", "D"],
            "description": ["RED BAG", "blue bag", "BAG", "Large Bags"],
        }
    )
    with pytest.raises(ModelInputError, match="same after normalisation"):
        ProductCategorizer().fit(products)


def test_no_words_left_raises():
    products = pd.DataFrame(
        {"stock_code": ["A", "B", "C"], "description": ["RED", None, "12 LARGE"]}
    )
    with pytest.raises(EmptyResultError, match="has a word left"):
        ProductCategorizer().fit(products)


def test_no_shared_word_raises():
    products = pd.DataFrame(
        {"stock_code": ["A", "B", "C"], "description": ["BAG", "MUG", "CANDLE"]}
    )
    with pytest.raises(EmptyResultError, match="min_df=2"):
        ProductCategorizer().fit(products)


def test_fewer_distinct_products_than_k_warns_and_uses_smaller_k():
    products = pd.DataFrame(
        {
            "stock_code": list("ABCDE"),
            # "owl" occurs once, under min_df: only two distinct texts.
            "description": [
                "TOTE BAG",
                "tote bags",
                "SCENTED CANDLE",
                "scented candles",
                "Tote Bag Owl",
            ],
        }
    )
    with pytest.warns(
        DegenerateDataWarning, match="too few for 3 to 12 categories"
    ) as record:
        model = ProductCategorizer().fit(products)
    assert all(issubclass(w.category, DegenerateDataWarning) for w in record)
    assert record[0].filename == __file__  # stacklevel points at the caller
    assert model.n_categories_ == 2
    assert model.scan_["k"].tolist() == [2]
    assert np.isfinite(model.silhouette_)
    assert model.predict(products).tolist() == model.labels_.tolist()
    assert len(set(model.labels_[:2])) == 1 and model.labels_[0] != model.labels_[2]


def test_too_many_categories_requested_warns():
    products = catalogue().head(6)
    with pytest.warns(DegenerateDataWarning, match="too few for 10 categories"):
        model = ProductCategorizer(n_categories=10).fit(products)
    assert model.n_categories_ <= 5
    assert (model.labels_ >= 0).all()


def test_partly_feasible_range_warns_and_scans_the_rest():
    products = catalogue().head(8)  # bags only: 5 distinct kind phrases
    with pytest.warns(DegenerateDataWarning, match="k=3"):
        model = ProductCategorizer(k_range=(3, 12)).fit(products)
    assert model.scan_["k"].min() == 3
    assert model.scan_["k"].max() < 12


def test_no_warning_on_ordinary_data():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ProductCategorizer(k_range=(2, 6)).fit(catalogue())


@pytest.mark.parametrize(
    ("products", "error", "match"),
    [
        ([("A", "BAG")], ModelInputError, "must be a pandas DataFrame"),
        (pd.DataFrame({"stock_code": ["A"]}), ModelInputError, "'description'"),
        (
            pd.DataFrame({"stock_code": [], "description": []}),
            EmptyResultError,
            "no rows",
        ),
        (
            pd.DataFrame({"stock_code": ["A", "A"], "description": ["BAG", "MUG"]}),
            ModelInputError,
            "one row per stock_code",
        ),
    ],
)
def test_bad_products_raise(products, error, match):
    with pytest.raises(error, match=match):
        ProductCategorizer().fit(products)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_categories": 1}, "n_categories"),
        ({"n_categories": 2.5}, "n_categories"),
        ({"k_range": (1, 4)}, "k_range"),
        ({"k_range": (6, 3)}, "k_range"),
        ({"k_range": 5}, "k_range"),
        ({"n_top_terms": 0}, "n_top_terms"),
        ({"n_components": 1}, "n_components"),
    ],
)
def test_bad_parameters_raise(params, match):
    with pytest.raises(ShopsegError, match=match):
        ProductCategorizer(**params).fit(catalogue())


def test_predict_before_fit_raises():
    with pytest.raises(ShopsegError, match="not fitted"):
        ProductCategorizer().predict(catalogue())


def test_without_svd():
    model = ProductCategorizer(k_range=(2, 6), n_components=None).fit(catalogue())
    assert model.svd_ is None
    assert model.n_categories_ == 3
