"""Cleaning: every line in one ledger bucket, by the rules of shopseg.clean._rules.

Expected values are worked out by hand from the rules in that module's
docstring; the property test at the end checks the SQL against a plain-Python
reading of the same rules on generated files.
"""

import collections
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shopseg
from shopseg.clean import BUCKETS, NON_MERCHANDISE_CODES
from shopseg.exceptions import EmptyResultError

OR_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
    "Country"
)
ORII_HEADER = (
    "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
)
#: A purchase by another customer, so that some line is always kept.
OTHER = "536999,22633,HAND WARMER UNION JACK,1,2010-12-01 09:00:00,1.85,99999,UK"


def export(rows, header=ORII_HEADER):
    """CSV text of (invoice, stock_code, quantity, date, price, customer) rows."""
    lines = [header]
    for invoice, stock_code, quantity, date, price, customer in rows:
        lines.append(f"{invoice},{stock_code},ITEM,{quantity},{date},{price},"
                     f"{customer},United Kingdom")
    return "\n".join(lines) + "\n"


def buckets_by_line(con):
    """line_no -> (bucket, quantity_net) for the first source."""
    rows = con.execute(
        "SELECT line_no, bucket, quantity_net FROM lines WHERE source_id = 0"
    ).fetchall()
    return {line_no: (bucket, net) for line_no, bucket, net in rows}


def spend(con, customer):
    """A customer's spend: the sum of their amounts in clean_lines."""
    (total,) = con.execute(
        "SELECT round(coalesce(sum(amount), 0), 2) FROM clean_lines "
        "WHERE customer_id = ?",
        [customer],
    ).fetchone()
    return total


def test_ledger_lists_every_bucket_in_rule_order(con, write_csv):
    path = write_csv("a.csv", f"{ORII_HEADER}\n{OTHER}\n")
    shopseg.read_files([path], con)
    ledger = shopseg.clean_lines(con)
    assert list(ledger.bucket) == list(BUCKETS)
    assert list(ledger.columns) == ["bucket", "lines", "quantity", "value", "meaning"]
    assert ledger.lines.sum() == 1


def test_identical_lines_on_one_invoice_count_once(con, write_csv, ingest):
    path = write_csv(
        "dup.csv",
        f"""
        {OR_HEADER}
        536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK
        536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK
        """,
    )
    assert ingest([path]) == {"kept": 1, "duplicate": 1}
    assert buckets_by_line(con) == {2: ("kept", 6), 3: ("duplicate", 0)}
    assert spend(con, "17850") == pytest.approx(15.30)
    [(amount,)] = con.execute("SELECT amount FROM clean_lines").fetchall()
    assert amount == pytest.approx(15.30)


@pytest.mark.parametrize("ii_first", [False, True], ids=["or-first", "or-ii-first"])
def test_line_in_both_exports_is_one_purchase_and_one_overlap(
    con, write_csv, ingest, ii_first
):
    online_retail = write_csv(
        "online_retail.csv",
        f"""
        {OR_HEADER}
        536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK
        """,
    )
    online_retail_ii = write_csv(
        "online_retail_ii.csv",
        f"""
        {ORII_HEADER}
        536365,85123A,WHITE HANGING HEART,6,2010-12-13 08:26:00,2.55,17850,UK
        """,
    )
    files = [online_retail, online_retail_ii]
    if ii_first:
        files.reverse()
    assert ingest(files) == {"kept": 1, "overlap": 1}
    rows = con.execute("SELECT source_id, bucket FROM lines ORDER BY 1").fetchall()
    assert rows == [(0, "kept"), (1, "overlap")]
    assert spend(con, "17850") == pytest.approx(15.30)


def test_overlap_counts_copies(con, write_csv, ingest):
    """A line twice in the first file and three times in the second: two
    overlaps and one duplicate in the second file."""
    line = "536365,85123A,HEART,6,2010-12-13 08:26:00,2.55,17850,UK"
    first = write_csv("first.csv", f"{ORII_HEADER}\n{line}\n{line}\n")
    second = write_csv("second.csv", f"{ORII_HEADER}\n{line}\n{line}\n{line}\n")
    assert ingest([first, second]) == {"kept": 1, "duplicate": 2, "overlap": 2}
    rows = con.execute("SELECT source_id, bucket FROM lines ORDER BY 1, line_no")
    assert rows.fetchall() == [
        (0, "kept"), (0, "duplicate"),
        (1, "overlap"), (1, "overlap"), (1, "duplicate"),
    ]


def test_large_order_cancelled_the_same_day(con, write_csv, ingest):
    path = write_csv(
        "big.csv",
        f"""
        {OR_HEADER}
        540000,22633,HAND WARMER UNION JACK,2,1/10/2011 9:00,3.75,12346,UK
        541431,23166,STORAGE JAR,74215,1/18/2011 10:01,1.04,12346,UK
        C541433,23166,STORAGE JAR,-74215,1/18/2011 10:17,1.04,12346,UK
        """,
    )
    assert ingest([path]) == {
        "kept": 1, "purchase_reversed": 1, "cancellation_matched": 1
    }
    assert buckets_by_line(con) == {
        2: ("kept", 2),
        3: ("purchase_reversed", 0),
        4: ("cancellation_matched", 0),
    }
    assert spend(con, "12346") == pytest.approx(7.50)


def test_cancellation_of_a_purchase_before_the_data(con, write_csv, ingest):
    path = write_csv(
        "unmatched.csv",
        f"""
        {ORII_HEADER}
        {OTHER}
        C536379,85123A,WHITE HANGING HEART,-1,2010-12-01 09:41:00,2.55,14527,UK
        """,
    )
    assert ingest([path]) == {"kept": 1, "cancellation_unmatched": 1}
    negative = con.execute(
        "SELECT customer_id, sum(amount) FROM lines GROUP BY 1 HAVING sum(amount) < 0"
    ).fetchall()
    assert negative == []
    assert spend(con, "14527") == 0


# Each scenario: one customer's lines of one product (invoice, quantity,
# minute), in file order, and the (bucket, quantity_net) expected for each.
NETTING = {
    "over-cancelled": (
        [("1001", 10, 1), ("1002", 5, 2), ("C1003", -12, 3), ("C1004", -10, 4)],
        # C1003 reverses 10 of 1001 and 2 of 1002; C1004 finds only 3 units left.
        [("purchase_reversed", 0), ("purchase_reversed", 0),
         ("cancellation_matched", 0), ("cancellation_matched", 0)],
    ),
    "partial-fifo": (
        [("1001", 10, 1), ("1002", 5, 2), ("C1003", -4, 3), ("C1004", -8, 4)],
        # 4 then 6 units of 1001, then 2 of 1002: 1001 wholly, 1002 keeps 3.
        [("purchase_reversed", 0), ("kept", 3),
         ("cancellation_matched", 0), ("cancellation_matched", 0)],
    ),
    "cancel-before-buy": (
        [("C1001", -3, 1), ("1002", 5, 2)],
        [("cancellation_unmatched", 0), ("kept", 5)],
    ),
    "same-minute": (
        [("C1001", -5, 1), ("1002", 5, 1)],
        # At the same time the purchase counts as bought first, whatever the
        # file order.
        [("cancellation_matched", 0), ("purchase_reversed", 0)],
    ),
    "buy-after-over-cancel": (
        [("1001", 10, 1), ("C1002", -12, 2), ("1003", 5, 3)],
        # The two units beyond what was bought do not reach the later purchase.
        [("purchase_reversed", 0), ("cancellation_matched", 0), ("kept", 5)],
    ),
    "second-cancel-unmatched": (
        [("1001", 4, 1), ("C1002", -4, 2), ("C1003", -2, 3)],
        [("purchase_reversed", 0), ("cancellation_matched", 0),
         ("cancellation_unmatched", 0)],
    ),
    "out-of-file-order": (
        [("C1003", -6, 3), ("1002", 5, 2), ("1001", 10, 1)],
        # Time order, not file order: 1001 (minute 1) is reversed first.
        [("cancellation_matched", 0), ("kept", 5), ("kept", 4)],
    ),
}


@pytest.mark.parametrize("scenario", list(NETTING), ids=list(NETTING))
def test_cancellations_net_first_in_first_out(con, write_csv, ingest, scenario):
    events, expected = NETTING[scenario]
    rows = [
        (invoice, "85123A", quantity, f"2011-01-10 10:{minute:02d}:00", 2.55, "17850")
        for invoice, quantity, minute in events
    ]
    path = write_csv("netting.csv", export(rows) + OTHER + "\n")
    ingest([path])
    found = buckets_by_line(con)
    assert [found[line] for line in range(2, 2 + len(events))] == expected
    kept_units = sum(net for bucket, net in expected if bucket == "kept")
    assert spend(con, "17850") == pytest.approx(round(kept_units * 2.55, 2))
    cancelled = con.execute(
        "SELECT sum(quantity_cancelled) FROM lines WHERE customer_id = '17850'"
    ).fetchone()[0]
    bought = sum(q for _, q, _ in events if q > 0)
    assert cancelled == bought - kept_units


def test_cancellations_match_only_the_same_customer_and_product(
    con, write_csv, ingest
):
    path = write_csv(
        "others.csv",
        export(
            [
                ("1001", "85123A", 5, "2011-01-10 10:00:00", 2.55, "17850"),
                ("C1002", "22633", -5, "2011-01-10 11:00:00", 1.85, "17850"),
                ("C1003", "85123A", -5, "2011-01-10 11:00:00", 2.55, "14527"),
            ]
        ),
    )
    assert ingest([path]) == {"kept": 1, "cancellation_unmatched": 2}
    assert spend(con, "17850") == pytest.approx(12.75)


def test_stock_write_off(con, write_csv, ingest):
    path = write_csv(
        "writeoff.csv",
        f"""
        {OR_HEADER}
        536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK
        536414,22139,,-2,12/13/2010 11:52,0,,UK
        """,
    )
    assert ingest([path]) == {"kept": 1, "write_off": 1}
    assert buckets_by_line(con)[3] == ("write_off", 0)


def test_bad_debt_adjustment_is_an_accounting_entry(con, write_csv, ingest):
    base = f"""
        {OR_HEADER}
        536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK
        """
    path = write_csv("plain.csv", base)
    ingest([path])
    revenue = con.execute("SELECT sum(amount) FROM clean_lines").fetchone()[0]
    path = write_csv(
        "adjusted.csv",
        base
        + "        A563186,B,Adjust bad debt,1,8/12/2011 14:51,-11062.06,,"
        "United Kingdom\n",
    )
    assert ingest([path]) == {"kept": 1, "accounting_entry": 1}
    assert con.execute("SELECT sum(amount) FROM clean_lines").fetchone()[0] == revenue
    row = con.execute("SELECT bucket, amount FROM lines WHERE line_no = 3").fetchone()
    assert row == ("accounting_entry", 0)


@pytest.mark.parametrize(
    ("discount", "ledger"),
    [
        ("C536366,D,Discount,-1,12/13/2010 8:30,5.00,17850,UK",
         {"kept": 1, "non_merchandise": 2}),
        # Rule 4 (write_off) runs before rule 5: a negative quantity on an
        # invoice that is not a cancellation is a write-off, whatever the code.
        ("536365,D,Discount,-1,12/13/2010 8:26,5.00,17850,UK",
         {"kept": 1, "non_merchandise": 1, "write_off": 1}),
    ],
    ids=["discount-on-c-invoice", "discount-on-same-invoice"],
)
def test_postage_and_discount_are_not_merchandise(
    con, write_csv, ingest, discount, ledger
):
    path = write_csv(
        "postage.csv",
        f"""
        {OR_HEADER}
        536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK
        536365,POST,POSTAGE,1,12/13/2010 8:26,18.00,17850,UK
        {discount}
        """,
    )
    assert ingest([path]) == ledger
    assert spend(con, "17850") == pytest.approx(15.30)


@pytest.mark.parametrize(
    ("line", "bucket"),
    [
        ("536370,22633,HAND WARMER,6,2010-12-13 08:26:00,0,17850,UK",
         "nonpositive_price"),
        ("536370,22633,HAND WARMER,0,2010-12-13 08:26:00,1.85,17850,UK",
         "zero_quantity"),
        ("536370,22633,HAND WARMER,6,2010-12-13 08:26:00,1.85,,UK", "no_customer"),
        ("536370,gift_0001_20,Dotcom Gift Voucher,1,2010-12-13 08:26:00,17.02,17850,"
         "UK", "non_merchandise"),
        ("536370,AMAZONFEE,AMAZON FEE,1,2010-12-13 08:26:00,1.00,17850,UK",
         "non_merchandise"),
        ("C536370,M,Manual,1,2010-12-13 08:26:00,1.00,17850,UK", "non_merchandise"),
    ],
    ids=["zero-price", "zero-quantity", "no-customer", "gift-voucher", "fee",
         "manual-on-c-invoice"],
)
def test_single_rules(con, write_csv, ingest, line, bucket):
    path = write_csv("rule.csv", f"{ORII_HEADER}\n{OTHER}\n{line}\n")
    assert ingest([path]) == {"kept": 1, bucket: 1}


def test_cancellation_with_positive_quantity_counts_its_units(
    con, write_csv, ingest
):
    """A C-invoice line written with a positive quantity cancels |quantity|
    units; it never adds to what the customer bought."""
    path = write_csv(
        "positive.csv",
        export(
            [
                ("1001", "85123A", 5, "2011-01-10 10:00:00", 2.55, "17850"),
                ("C1002", "85123A", 2, "2011-01-10 11:00:00", 2.55, "17850"),
            ]
        ),
    )
    assert ingest([path]) == {"kept": 1, "cancellation_matched": 1}
    assert buckets_by_line(con)[2] == ("kept", 3)


def test_custom_non_merchandise_codes(con, write_csv):
    path = write_csv("a.csv", f"{ORII_HEADER}\n{OTHER}\n"
                     "536370,85123A,HEART,6,2010-12-13 08:26:00,2.55,17850,UK\n")
    shopseg.read_files([path], con)
    ledger = shopseg.clean_lines(con, non_merchandise=("85123*",))
    assert dict(zip(ledger.bucket, ledger.lines))["non_merchandise"] == 1


def test_nothing_kept_is_an_error_holding_the_ledger(con, write_csv):
    path = write_csv(
        "nothing.csv",
        f"""
        {ORII_HEADER}
        536370,22633,HAND WARMER,6,2010-12-13 08:26:00,1.85,,UK
        """,
    )
    shopseg.read_files([path], con)
    with pytest.raises(EmptyResultError, match=r"(?s)no purchase line.*no_customer +1"):
        shopseg.clean_lines(con)


def test_default_codes_are_globs():
    assert "GIFT*" in NON_MERCHANDISE_CODES


# --- property test: the SQL against a plain reading of the rules ----------------

NON_MERCHANDISE = {"POST", "D", "M"}


def reference_buckets(sources):
    """(source, index) -> (bucket, quantity_net), following the docstring.

    ``sources`` is a list of files, each a list of dicts with invoice,
    stock_code, quantity, date (minutes), price and customer.
    """
    result = {}
    copies_before = collections.Counter()  # key -> max copies in one earlier file
    events = collections.defaultdict(list)
    for s, lines in enumerate(sources):
        seen = collections.Counter()
        for i, line in enumerate(lines):
            key = tuple(line[k] for k in ("invoice", "stock_code", "quantity",
                                          "price", "date", "customer"))
            seen[key] += 1
            invoice, quantity = line["invoice"], line["quantity"]
            if seen[key] <= copies_before[key]:
                bucket = "overlap"
            elif seen[key] > 1:
                bucket = "duplicate"
            elif invoice.startswith("A"):
                bucket = "accounting_entry"
            elif quantity < 0 and not invoice.startswith("C"):
                bucket = "write_off"
            elif line["stock_code"] in NON_MERCHANDISE:
                bucket = "non_merchandise"
            elif line["price"] <= 0:
                bucket = "nonpositive_price"
            elif quantity == 0:
                bucket = "zero_quantity"
            elif line["customer"] is None:
                bucket = "no_customer"
            else:
                bucket = "cancellation" if invoice.startswith("C") else "purchase"
                group = (line["customer"], line["stock_code"])
                # Purchases before cancellations at the same time.
                order = (line["date"], bucket == "cancellation", s, i)
                events[group].append((order, (s, i), bucket, abs(quantity)))
            result[(s, i)] = (bucket, 0)
        for key, n in seen.items():
            copies_before[key] = max(copies_before[key], n)

    for group_events in events.values():
        queue = []  # [position, units not yet reversed], oldest first
        for _, position, kind, units in sorted(group_events):
            if kind == "purchase":
                queue.append([position, units])
                continue
            matched = 0
            for entry in queue:  # first in, first out
                take = min(entry[1], units - matched)
                entry[1] -= take
                matched += take
            result[position] = (
                "cancellation_matched" if matched else "cancellation_unmatched", 0
            )
        for position, net in queue:
            result[position] = ("kept", net) if net else ("purchase_reversed", 0)
    return result


line_strategy = st.fixed_dictionaries(
    {
        "invoice": st.sampled_from(["5001", "5002", "C5003", "C5004", "A5005"]),
        "stock_code": st.sampled_from(["85123A", "22633", "POST", "D", "M"]),
        "quantity": st.sampled_from([-12, -5, -1, 0, 1, 2, 5, 12]),
        "date": st.integers(0, 5),
        "price": st.sampled_from([2.55, 1.85, 0.0, -11062.06]),
        "customer": st.sampled_from(["17850", "14527", None]),
        "description": st.sampled_from(["ITEM", "", "£ VOUCHER"]),
    }
)


def file_text(lines):
    rows = [ORII_HEADER]
    for line in lines:
        rows.append(
            f"{line['invoice']},{line['stock_code']},{line['description']},"
            f"{line['quantity']},2011-01-10 10:{line['date']:02d}:00,"
            f"{line['price']},{line['customer'] or ''},United Kingdom"
        )
    return "\n".join(rows) + "\n"


@st.composite
def exports(draw):
    """One or two files; the second may repeat lines of the first."""
    first = draw(st.lists(line_strategy, min_size=1, max_size=25))
    if not draw(st.booleans()):
        return [first]
    repeated = draw(st.lists(st.sampled_from(first), max_size=10))
    fresh = draw(st.lists(line_strategy, max_size=10))
    return [first, draw(st.permutations(repeated + fresh)) or first[:1]]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sources=exports())
def test_ledger_matches_the_rules_on_generated_files(sources):
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for n, lines in enumerate(sources):
            path = Path(folder) / f"export{n}.csv"
            path.write_text(file_text(lines), encoding="utf-8")
            paths.append(path)
        con = duckdb.connect()
        try:
            shopseg.read_files(paths, con)
            try:
                shopseg.clean_lines(con, non_merchandise=tuple(NON_MERCHANDISE))
            except EmptyResultError:
                pass  # the tables are written before the error
            check_invariants(con, sources)
        finally:
            con.close()


def check_invariants(con, sources):
    read = sum(len(lines) for lines in sources)
    ledger = dict(con.execute("SELECT bucket, lines FROM ledger").fetchall())
    assert sum(ledger.values()) == read
    assert all(n >= 0 for n in ledger.values())
    assert set(ledger) == set(BUCKETS)

    rows = con.execute(
        "SELECT source_id, line_no, bucket, quantity_net, amount FROM lines"
    ).fetchall()
    found = {(s, line_no - 2): (bucket, net) for s, line_no, bucket, net, _ in rows}
    assert found == reference_buckets(sources)
    assert all(net >= 0 for *_, net, _ in rows)

    negative = con.execute(
        "SELECT customer_id FROM clean_lines GROUP BY 1 HAVING sum(amount) < 0"
    ).fetchall()
    assert negative == []
    (kept,) = con.execute("SELECT count(*) FROM clean_lines").fetchone()
    assert kept == ledger["kept"]
