"""Invariants of products, features and segments on the real UCI data."""

import duckdb
import numpy as np
import pytest

from shopseg import clean_lines, pipeline, read_files
from shopseg.segments import CustomerSegmenter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def segmented(shared_data, tmp_path_factory):
    """The products, features and segments stages on online_retail.csv.gz."""
    path = shared_data / "online_retail.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    con = duckdb.connect()
    read_files([path], con)
    clean_lines(con)
    staging = tmp_path_factory.mktemp("staging")
    ctx = pipeline.Context(con, staging, staging, [path], pipeline.Options())
    for _, stage in pipeline.SEGMENT_STAGES:
        stage(ctx)
    yield con, ctx
    con.close()


def test_every_kept_customer_has_features_and_scores(segmented):
    con, _ = segmented
    customers = con.execute("SELECT * FROM customers").df()
    kept = con.execute(
        "SELECT count(DISTINCT customer_id) FROM clean_lines"
    ).fetchall()[0][0]

    assert len(customers) == kept == 4324
    for column in ("r_score", "f_score", "m_score"):
        assert customers[column].between(1, 5).all(), column
    assert customers.rfm_segment.notna().all()
    assert customers.segment.notna().all()


def test_recency_is_within_the_observation_period(segmented):
    con, _ = segmented
    customers = con.execute("SELECT * FROM customers").df()
    assert (customers.recency <= customers["T"]).all()
    assert (customers.recency >= 0).all()
    assert ((customers.frequency > 0) | (customers.recency == 0)).all()


def test_category_shares_sum_to_one(segmented):
    con, _ = segmented
    customers = con.execute("SELECT * FROM customers").df()
    shares = customers.filter(like="share_").drop(
        columns=["q4_order_share", "return_share"], errors="ignore"
    )
    assert shares.shape[1] >= 3
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-9)


def test_segments_are_deterministic_for_a_seed(segmented):
    con, ctx = segmented
    customers = con.execute("SELECT * FROM customers").df()
    again = CustomerSegmenter(random_state=0).fit(customers)
    first = ctx.results["segmenter"]
    assert again.n_clusters_ == first.n_clusters_
    assert np.array_equal(again.labels_, first.labels_)
    assert again.scan_.equals(first.scan_)
