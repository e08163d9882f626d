"""Customer features and the BG/NBD summary on tiny hand-computed inputs."""

import duckdb
import pandas as pd
import pytest

from shopseg.exceptions import ModelInputError, ObservationEndWarning
from shopseg.features import customer_features, days_per_unit, summary_data


def make_store(purchases):
    """A connection with ``clean_lines`` and ``lines`` built from purchases.

    ``purchases`` holds (customer, invoice, timestamp, amount) tuples; each is
    one kept line of one unit.
    """
    frame = pd.DataFrame(
        purchases, columns=["customer_id", "invoice", "invoice_date", "amount"]
    )
    frame["invoice_date"] = pd.to_datetime(frame.invoice_date)
    frame = frame.assign(
        stock_code="P1", description="MUG", quantity=1, quantity_cancelled=0,
        quantity_net=1, price=frame.amount, country="United Kingdom",
        bucket="kept", source_id=0, line_no=range(2, len(frame) + 2),
    )
    con = duckdb.connect()
    con.register("_frame", frame)
    con.execute("CREATE TABLE lines AS SELECT * FROM _frame")
    con.execute("CREATE TABLE clean_lines AS SELECT * FROM _frame")
    con.unregister("_frame")
    return con


def test_summary_and_rfm_two_orders_on_one_day():
    """Issue example 1: two orders on 2011-01-06 are one purchase day."""
    con = make_store([
        ("a", "1", "2011-01-06 09:00", 10.0),
        ("a", "2", "2011-01-06 15:00", 5.0),
        ("a", "3", "2011-02-10 11:00", 20.0),
    ])
    customers = customer_features(con, observation_end="2011-03-01")
    row = customers.set_index("customer_id").loc["a"]

    assert row.frequency == 1
    assert row.recency == 35
    assert row["T"] == 54
    assert row.monetary_value == pytest.approx(20.00)
    assert row.orders == 3
    assert row.spend == pytest.approx(35.00)
    assert row.recency_days == 19


def test_summary_and_rfm_two_purchase_days():
    """Issue example 2: purchases on 2011-02-01 and 2011-02-15."""
    con = make_store([
        ("b", "1", "2011-02-01 10:00", 12.0),
        ("b", "2", "2011-02-15 10:00", 8.0),
    ])
    customers = customer_features(con, observation_end="2011-03-31")
    row = customers.set_index("customer_id").loc["b"]

    assert (row.recency_days, row.orders) == (44, 2)
    assert row.spend == pytest.approx(20.00)
    assert (row.frequency, row.recency, row["T"]) == (1, 14, 58)
    assert row.monetary_value == pytest.approx(8.00)


def test_one_time_buyer_has_zero_monetary_value():
    con = make_store([("c", "1", "2011-02-01 10:00", 12.0)])
    summary = summary_data(con, observation_end="2011-03-01")
    assert summary.loc["c"].tolist() == [0, 0.0, 28.0, 0.0]


def test_summary_in_weeks():
    con = make_store([
        ("b", "1", "2011-02-01 10:00", 12.0),
        ("b", "2", "2011-02-15 10:00", 8.0),
    ])
    summary = summary_data(con, observation_end="2011-03-01", time_unit="weeks")
    assert summary.loc["b", "recency"] == pytest.approx(2.0)
    assert summary.loc["b", "T"] == pytest.approx(4.0)


def test_unknown_time_unit_is_refused_with_the_supported_ones():
    expected = "'years' is not supported.*'days', 'weeks'"
    with pytest.raises(ModelInputError, match=expected):
        days_per_unit("years")


def test_earlier_observation_end_warns_with_the_lines_after_it():
    con = make_store([
        ("a", "1", "2011-01-06 09:00", 10.0),
        ("a", "2", "2011-02-10 11:00", 20.0),
        ("b", "3", "2011-02-11 11:00", 20.0),
    ])
    with pytest.warns(ObservationEndWarning, match="2 lines after it are left out"):
        customers = customer_features(con, observation_end="2011-02-01")
    assert customers.customer_id.tolist() == ["a"]
    assert customers.spend.tolist() == [10.0]


def test_observation_end_before_the_data_is_refused():
    con = make_store([("a", "1", "2011-01-06 09:00", 10.0)])
    with pytest.raises(ModelInputError, match=(
        r"observation end 2010-12-31 is before the first purchase \(2011-01-06\)"
    )):
        summary_data(con, observation_end="2010-12-31")


def test_later_observation_end_is_fine():
    con = make_store([("a", "1", "2011-01-06 09:00", 10.0)])
    customers = customer_features(con, observation_end="2011-12-31")
    assert customers.recency_days.tolist() == [359]


def test_features_do_not_depend_on_the_order_of_the_lines():
    """Floating-point sums differ in their last bit with the order of their
    terms (0.1 + 0.2 + 0.3 is not 0.3 + 0.2 + 0.1); money is summed exactly,
    so the same lines in another order, as another file order or another
    thread schedule gives them, give the same features to the last bit."""
    from shopseg.clv._holdout import customer_state

    purchases = [
        ("a", "1", "2011-01-06 09:00", 0.1),
        ("a", "1", "2011-01-06 09:00", 0.2),
        ("a", "1", "2011-01-06 09:00", 0.3),
        ("a", "2", "2011-02-10 11:00", 0.7),
        ("a", "2", "2011-02-10 11:00", 0.1),
        ("a", "2", "2011-02-10 11:00", 0.2),
        ("a", "3", "2011-03-01 10:00", 0.3),
        ("a", "3", "2011-03-01 10:00", 0.6),
    ]
    results = []
    for order in (purchases, purchases[::-1]):
        con = make_store(order)
        # Two countries on as many lines: the first alphabetically, whichever
        # line comes first.
        con.execute("UPDATE lines SET country = 'France' WHERE amount > 0.25")
        results.append((
            customer_features(con).drop(columns="observation_end"),
            summary_data(con),
            customer_state(con),
        ))
    for forward, backward in zip(*results):
        pd.testing.assert_frame_equal(forward, backward, check_exact=True)
    assert results[0][0].country.tolist() == ["France"]
