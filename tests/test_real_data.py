"""Pinned figures on the real UCI data in the shared data folder.

The reader's figures are the verified ones of shared/data/SOURCES.md. The
ledger counts were computed with shopseg and checked for sense: they add up to
the lines read, the overlap of the two exports is the 22,523 lines SOURCES.md
names, and every blank-customer line that no earlier rule takes is in
no_customer. A change in any of them is a change in the results.
"""

import duckdb
import pytest

import shopseg

pytestmark = pytest.mark.slow

ONLINE_RETAIL = "online_retail.csv.gz"
ONLINE_RETAIL_II = "online_retail_ii_year_2009_2010.csv.gz"

#: Ledger of online_retail.csv.gz alone: lines per bucket.
LEDGER_ONLINE_RETAIL = {
    "kept": 388_170,
    "overlap": 0,
    "duplicate": 5_270,
    "accounting_entry": 3,
    "write_off": 1_336,
    "non_merchandise": 2_937,
    "nonpositive_price": 1_157,
    "zero_quantity": 0,
    "no_customer": 131_549,
    "cancellation_matched": 7_453,
    "cancellation_unmatched": 1_053,
    "purchase_reversed": 2_981,
}

#: Ledger of online_retail.csv.gz then online_retail_ii_year_2009_2010.csv.gz.
LEDGER_MERGED = {
    "kept": 769_642,
    "overlap": 22_523,
    "duplicate": 11_814,
    "accounting_entry": 6,
    "write_off": 3_393,
    "non_merchandise": 5_792,
    "nonpositive_price": 2_572,
    "zero_quantity": 0,
    "no_customer": 227_089,
    "cancellation_matched": 16_001,
    "cancellation_unmatched": 1_586,
    "purchase_reversed": 6_952,
}


def data_files(folder, *names):
    paths = [folder / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in {folder}")
    return paths


def ingest(paths):
    con = duckdb.connect()
    infos = shopseg.read_files([str(p) for p in paths], con)
    ledger = shopseg.clean_lines(con)
    return con, infos, ledger


@pytest.fixture(scope="module")
def online_retail(shared_data):
    con, infos, ledger = ingest(data_files(shared_data, ONLINE_RETAIL))
    yield con, infos, ledger
    con.close()


@pytest.fixture(scope="module")
def merged(shared_data):
    con, infos, ledger = ingest(
        data_files(shared_data, ONLINE_RETAIL, ONLINE_RETAIL_II)
    )
    yield con, infos, ledger
    con.close()


def one(con, sql):
    return con.execute(sql).fetchone()


# --- online_retail.csv.gz alone ------------------------------------------------


def test_online_retail_is_read_whole(online_retail):
    con, [info], _ = online_retail
    assert (info.lines, info.encoding, info.delimiter, info.date_format) == (
        541_909, "utf-8", ",", "month-first"
    )
    assert info.sha256 == (
        "221e830ccc51805017d8e0258265eb0538e25f98b2cd541f9f2f9b45d0cd1e1d"
    )
    assert one(con, "SELECT count(*) FROM lines_raw") == (541_909,)
    assert one(con, "SELECT count(*) FROM lines_parsed") == (541_909,)


def test_online_retail_verified_figures(online_retail):
    con, _, _ = online_retail
    figures = one(
        con,
        """
        SELECT count(*) FILTER (WHERE customer_id IS NULL),
            count(DISTINCT customer_id),
            count(DISTINCT invoice),
            count(DISTINCT invoice) FILTER (WHERE invoice LIKE 'C%'),
            count(DISTINCT stock_code),
            count(*) FILTER (WHERE description IS NULL),
            count(DISTINCT country),
            sum(quantity),
            round(sum(quantity * price), 2),
            count(*) FILTER (WHERE description LIKE '%£%')
        FROM lines_parsed
        """,
    )
    assert figures == (
        135_080, 4_372, 25_900, 3_836, 4_070, 1_454, 38, 5_176_450, 9_747_747.93, 32
    )
    first, last = one(
        con, "SELECT min(invoice_date), max(invoice_date) FROM lines_parsed"
    )
    assert (str(first), str(last)) == ("2010-12-01 08:26:00", "2011-12-09 12:50:00")


def test_online_retail_first_line(online_retail):
    con, _, _ = online_retail
    raw = one(con, "SELECT * EXCLUDE (source_id, source_file) FROM lines_raw "
                   "WHERE line_no = 2")
    assert raw == (
        2, "536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6",
        "12/1/2010 8:26", "2.55", "17850", "United Kingdom",
    )
    # Line numbers follow the file: the bad-debt adjustments are lines
    # 299,984 to 299,986 of the file (header = line 1).
    rows = con.execute(
        "SELECT line_no, invoice FROM lines_parsed WHERE invoice LIKE 'A%' ORDER BY 1"
    ).fetchall()
    assert rows == [(299_984, "A563185"), (299_985, "A563186"), (299_986, "A563187")]


def test_online_retail_ledger(online_retail):
    con, _, ledger = online_retail
    assert dict(zip(ledger.bucket, ledger.lines)) == LEDGER_ONLINE_RETAIL
    assert ledger.lines.sum() == 541_909
    # Every line's quantity and value is in one bucket.
    assert ledger.quantity.sum() == 5_176_450
    assert ledger.value.sum() == pytest.approx(9_747_747.93, abs=0.01)


def test_online_retail_clean_lines(online_retail):
    con, _, _ = online_retail
    customers, invoices, revenue, negative = one(
        con,
        """
        SELECT count(DISTINCT customer_id), count(DISTINCT invoice), sum(amount),
            count(*) FILTER (WHERE quantity_net <= 0 OR amount <= 0)
        FROM clean_lines
        """,
    )
    assert (customers, invoices, negative) == (4_324, 18_334, 0)
    assert revenue == pytest.approx(8_288_551.74, abs=0.01)
    spend = con.execute(
        "SELECT min(total) FROM (SELECT sum(amount) AS total FROM clean_lines "
        "GROUP BY customer_id)"
    ).fetchone()[0]
    assert spend > 0


def test_online_retail_big_order_and_its_cancellation(online_retail):
    """Customer 12346 bought 74,215 jars and cancelled them 16 minutes later."""
    con, _, _ = online_retail
    rows = con.execute(
        "SELECT invoice, quantity, bucket FROM lines WHERE customer_id = '12346' "
        "ORDER BY line_no"
    ).fetchall()
    assert rows == [
        ("541431", 74_215, "purchase_reversed"),
        ("C541433", -74_215, "cancellation_matched"),
    ]


# --- the two files together ----------------------------------------------------


def test_merged_inputs(merged):
    con, infos, _ = merged
    assert [(i.source_id, i.name, i.lines, i.date_format) for i in infos] == [
        (0, ONLINE_RETAIL, 541_909, "month-first"),
        (1, ONLINE_RETAIL_II, 525_461, "iso"),
    ]
    assert one(con, "SELECT count(*) FROM lines_parsed") == (1_067_370,)
    ii = one(
        con,
        """
        SELECT count(*) FILTER (WHERE customer_id IS NULL),
            count(DISTINCT customer_id), count(DISTINCT invoice),
            count(DISTINCT invoice) FILTER (WHERE invoice LIKE 'C%'),
            count(DISTINCT stock_code), count(*) FILTER (WHERE description IS NULL),
            count(DISTINCT country), sum(quantity),
            min(invoice_date), max(invoice_date)
        FROM lines_parsed WHERE source_id = 1
        """,
    )
    # SOURCES.md counts 4,632 stock codes; trimming makes '47503J ' '47503J'.
    assert ii[:8] == (107_927, 4_383, 28_816, 4_592, 4_631, 2_928, 40, 5_432_041)
    assert (str(ii[8]), str(ii[9])) == ("2009-12-01 07:45:00", "2010-12-09 20:01:00")
    raw_codes = one(
        con, "SELECT count(DISTINCT stock_code) FROM lines_raw WHERE source_id = 1"
    )
    assert raw_codes == (4_632,)


def test_merged_ledger(merged):
    con, _, ledger = merged
    assert dict(zip(ledger.bucket, ledger.lines)) == LEDGER_MERGED
    assert ledger.lines.sum() == 1_067_370
    assert ledger.quantity.sum() == 5_176_450 + 5_432_041


def test_merged_overlap_is_the_first_days_of_december_2010(merged):
    con, _, _ = merged
    overlap = one(
        con,
        """
        SELECT count(*), min(source_id), max(source_id),
            min(invoice_date)::DATE, max(invoice_date)::DATE
        FROM lines WHERE bucket = 'overlap'
        """,
    )
    assert tuple(map(str, overlap)) == (
        "22523", "1", "1", "2010-12-01", "2010-12-09"
    )
    # The overlapping days of the later file hold nothing but overlaps.
    (left,) = one(
        con,
        """
        SELECT count(*) FROM lines
        WHERE source_id = 1 AND invoice_date >= '2010-12-01' AND bucket <> 'overlap'
        """,
    )
    assert left == 0
