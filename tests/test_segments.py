"""RFM scores with heavy ties, and the behavioural segmenter."""

import numpy as np
import pandas as pd
import pytest

from shopseg.exceptions import DegenerateDataWarning, ModelInputError
from shopseg.segments import (
    RFM_SEGMENTS,
    CustomerSegmenter,
    profile_segments,
    rank_scores,
    rfm_scores,
    rfm_segment,
)


def synthetic_customers(n=300, seed=0):
    """Customers of two kinds: one-time small buyers and big regulars."""
    rng = np.random.default_rng(seed)
    regular = rng.random(n) < 0.4
    orders = np.where(regular, rng.integers(4, 30, n), 1)
    order_value = np.where(regular, rng.lognormal(6, 0.4, n), rng.lognormal(4, 0.4, n))
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "country": np.where(rng.random(n) < 0.9, "United Kingdom", "France"),
        "recency_days": np.where(regular, rng.integers(0, 60, n),
                                 rng.integers(100, 700, n)),
        "orders": orders,
        "spend": orders * order_value,
        "mean_order_value": order_value,
        "distinct_products": np.where(regular, rng.integers(20, 200, n),
                                      rng.integers(1, 10, n)),
        "q4_order_share": rng.random(n),
    })


def test_rank_scores_give_tied_customers_one_score():
    orders = pd.Series([1] * 70 + [2] * 20 + [5] * 10)
    scores = rank_scores(orders)
    assert set(scores[:70]) == {1}
    assert set(scores[70:90]) == {4}
    assert set(scores[90:]) == {5}


@pytest.mark.parametrize(
    "values",
    [[1] * 50, [1, 1, 1, 2], [3.5], list(range(100))],
    ids=["all-tied", "few", "one", "distinct"],
)
def test_rank_scores_score_everyone_between_1_and_5(values):
    scores = rank_scores(pd.Series(values))
    assert len(scores) == len(values)
    assert scores.min() >= 1 and scores.max() <= 5


def test_every_score_pair_has_exactly_one_segment():
    for r in range(1, 6):
        for f in range(1, 6):
            matches = [n for n, rs, fs in RFM_SEGMENTS if r in rs and f in fs]
            assert len(matches) == 1, (r, f, matches)
    assert rfm_segment(5, 5) == "Champions"
    assert rfm_segment(1, 1) == "Lost"


def test_rfm_scores_recency_is_reversed():
    customers = pd.DataFrame({
        "recency_days": [1, 30, 90, 200, 400],
        "orders": [10, 5, 3, 2, 1],
        "spend": [900.0, 400.0, 200.0, 90.0, 20.0],
    })
    scores = rfm_scores(customers)
    assert scores.r_score.tolist() == [5, 4, 3, 2, 1]
    assert scores.rfm_segment.tolist() == [
        "Champions", "Loyal", "Need attention", "Hibernating", "Lost",
    ]


def test_segmenter_finds_the_two_kinds_and_is_deterministic():
    customers = synthetic_customers()
    first = CustomerSegmenter(k_range=(2, 5), random_state=3).fit(customers)
    second = CustomerSegmenter(k_range=(2, 5), random_state=3).fit(customers)

    assert first.n_clusters_ == 2
    assert np.array_equal(first.labels_, second.labels_)
    assert first.stability_ > 0.95
    assert list(first.scan_.k) == [2, 3, 4, 5]
    assert first.scan_.chosen.sum() == 1


def test_profiles_name_the_segments_from_their_medians():
    customers = synthetic_customers()
    segmenter = CustomerSegmenter(n_clusters=2).fit(customers)
    profiles = profile_segments(customers, segmenter.labels_)

    assert profiles.customers.sum() == len(customers)
    assert profiles.revenue_share.sum() == pytest.approx(1.0)
    names = set(profiles.name)
    assert any("regulars" in n.lower() for n in names)
    assert any("one-time" in n.lower() for n in names)


def test_fewer_customers_than_k_gives_a_smaller_k_with_a_warning():
    customers = synthetic_customers(n=5)
    with pytest.warns(DegenerateDataWarning, match="k is limited to"):
        segmenter = CustomerSegmenter(k_range=(2, 12)).fit(customers)
    assert segmenter.n_clusters_ < 5
    assert not np.isnan(segmenter.silhouette_)


def test_constant_feature_is_dropped_with_a_warning():
    customers = synthetic_customers().assign(q4_order_share=0.5)
    with pytest.warns(DegenerateDataWarning, match="q4_order_share"):
        segmenter = CustomerSegmenter(k_range=(2, 3)).fit(customers)
    assert "q4_order_share" not in segmenter.features_


def test_everyone_a_one_time_buyer_still_segments():
    customers = synthetic_customers().assign(orders=1)
    customers["spend"] = customers.mean_order_value
    with pytest.warns(DegenerateDataWarning, match="orders"):
        segmenter = CustomerSegmenter(k_range=(2, 4)).fit(customers)
    assert np.isfinite(segmenter.silhouette_)


def test_too_few_customers_is_a_clear_error():
    customers = synthetic_customers(n=2)
    with pytest.raises(ModelInputError, match="at least 3 customers"):
        CustomerSegmenter().fit(customers)
