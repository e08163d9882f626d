"""Stage 2: clean the parsed lines, putting every line in one ledger bucket.

The rules run as SQL in DuckDB, in this order; the first rule a line meets
decides its bucket:

1. ``overlap``: the line is also in an earlier input file. Lines are compared
   on invoice, stock code, quantity, price, timestamp and customer; when a file
   holds a line k times, its first k copies in later files are overlaps.
2. ``duplicate``: the second or later copy of a line within one file.
3. ``accounting_entry``: the invoice starts with 'A' (e.g. 'Adjust bad debt').
4. ``write_off``: a negative quantity on an invoice that is not a cancellation
   (stock written off, usually at price 0 and with no customer).
5. ``non_merchandise``: the stock code is postage, a fee, a discount, a manual
   entry, a sample, a gift voucher and the like (`NON_MERCHANDISE_CODES`).
6. ``nonpositive_price``: the unit price is zero or negative.
7. ``zero_quantity``: the quantity is zero.
8. ``no_customer``: the line names no customer.
9. Cancellations (invoice starting with 'C') are netted against the same
   customer's earlier purchases of the same product, first in, first out: each
   cancelled unit reverses the oldest purchased unit not yet reversed, bought
   at or before the cancellation's time. A cancellation with at least one unit
   matched is ``cancellation_matched``; one with none is
   ``cancellation_unmatched`` (a return of something bought before the data
   begin). Units of a cancellation beyond what was bought are ignored, so no
   customer's spend goes negative.
10. A purchase whose every unit was reversed is ``purchase_reversed``; any
    other purchase is ``kept``, with ``quantity_net`` = quantity minus the
    units reversed, and ``amount`` = ``quantity_net`` x price.
"""

from ..exceptions import EmptyResultError

#: Stock codes that are not merchandise, as case-insensitive glob patterns.
NON_MERCHANDISE_CODES = (
    "POST",  # postage
    "DOT",  # dotcom postage
    "C2",  # carriage
    "C3",
    "M",  # manual entry
    "D",  # discount
    "S",  # samples
    "B",  # adjust bad debt
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",  # charity commission
    "ADJUST*",
    "TEST*",
    "GIFT*",  # gift vouchers, e.g. gift_0001_20
)

#: Ledger buckets in the order of the rules, with what each means.
BUCKETS = {
    "kept": "purchase line kept; its units net of later cancellations",
    "overlap": "line also in an earlier input file",
    "duplicate": "exact copy of an earlier line of the same file",
    "accounting_entry": "accounting entry (invoice starting with 'A')",
    "write_off": "stock write-off (negative quantity, not a cancellation)",
    "non_merchandise": "postage, fee, discount, manual entry, sample or voucher",
    "nonpositive_price": "unit price zero or negative",
    "zero_quantity": "quantity zero",
    "no_customer": "no customer identifier",
    "cancellation_matched": "cancellation netted against an earlier purchase",
    "cancellation_unmatched": "cancellation with no earlier purchase in the data",
    "purchase_reversed": "purchase wholly reversed by a later cancellation",
}

_KEY = "invoice, stock_code, quantity, price, invoice_date, customer_id"


def _code_condition(patterns):
    """SQL testing stock_code against glob patterns, case-insensitively."""
    quoted = [p.upper().replace("'", "''") for p in patterns]
    plain = [f"'{p}'" for p in quoted if "*" not in p]
    # One IN list for the plain codes rather than a LIKE for each.
    tests = [f"upper(stock_code) IN ({', '.join(plain)})"] if plain else []
    tests += [f"stock_code ILIKE '{p.replace('*', '%')}'" for p in quoted if "*" in p]
    return "(" + " OR ".join(tests) + ")" if tests else "false"


def clean_lines(con, non_merchandise=NON_MERCHANDISE_CODES):
    """Put every line of ``lines_parsed`` in one ledger bucket.

    Creates the tables ``lines`` (every parsed line with its bucket,
    ``quantity_net`` and ``amount``) and ``ledger`` (lines per bucket, adding
    up to the lines read), and the view ``clean_lines`` (the kept lines).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection holding ``lines_parsed`` (see :func:`shopseg.read_files`).
    non_merchandise : sequence of str, default=NON_MERCHANDISE_CODES
        Glob patterns of stock codes that are not merchandise.

    Returns
    -------
    pandas.DataFrame
        The ledger: bucket, lines, quantity, value and meaning.

    Raises
    ------
    EmptyResultError
        When no line is kept; the message holds the ledger.
    """
    rule = _rule_expression(non_merchandise)
    _find_repeats(con)
    _net_cancellations(con, rule)
    _write_lines(con, rule)
    con.execute("DROP TABLE _repeats")
    con.execute("DROP TABLE _netted")
    ledger = _ledger(con)
    if ledger.loc[ledger.bucket == "kept", "lines"].sum() == 0:
        raise EmptyResultError(
            "no purchase line is left after cleaning. The ledger:\n"
            + ledger[["bucket", "lines"]].to_string(index=False)
            + "\nCheck that the file holds purchases with customers and prices."
        )
    return ledger


def _rule_expression(non_merchandise):
    """SQL giving each line of ``lines_parsed`` joined to ``_repeats`` its rule:
    a bucket of rules 1 to 8, else 'cancellation' or 'purchase'."""
    return f"""
        CASE
            WHEN repeat IS NOT NULL THEN repeat
            WHEN invoice ILIKE 'A%' THEN 'accounting_entry'
            WHEN quantity < 0 AND invoice NOT ILIKE 'C%' THEN 'write_off'
            WHEN {_code_condition(non_merchandise)} THEN 'non_merchandise'
            WHEN price <= 0 THEN 'nonpositive_price'
            WHEN quantity = 0 THEN 'zero_quantity'
            WHEN customer_id IS NULL THEN 'no_customer'
            WHEN invoice ILIKE 'C%' THEN 'cancellation'
            ELSE 'purchase'
        END"""


def _find_repeats(con):
    """Create ``_repeats``: the lines of rules 1 and 2 (overlap, duplicate).

    Only a line whose key occurs more than once can be either. A 64-bit hash
    of the key finds those lines with one cheap aggregate, so the window and
    the join that count copies exactly run on a few thousand lines, not on
    all of them; a hash collision only adds a line that the exact comparison
    then leaves out.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _repeats AS
        WITH candidates AS (
            SELECT source_id, line_no, {_KEY}
            FROM lines_parsed
            WHERE hash({_KEY}) IN (
                SELECT hash({_KEY}) AS h FROM lines_parsed
                GROUP BY h HAVING count(*) > 1
            )
        ),
        keyed AS (
            SELECT *,
                row_number() OVER (
                    PARTITION BY source_id, {_KEY} ORDER BY line_no
                ) AS occurrence
            FROM candidates
        ),
        copies AS (
            SELECT source_id, {_KEY}, count(*) AS copies
            FROM candidates
            GROUP BY ALL
        ),
        earlier AS (
            SELECT k.source_id, k.line_no, max(c.copies) AS earlier_copies
            FROM keyed AS k
            JOIN copies AS c
              ON c.source_id < k.source_id
             AND c.invoice = k.invoice
             AND c.stock_code = k.stock_code
             AND c.quantity = k.quantity
             AND c.price = k.price
             AND c.invoice_date = k.invoice_date
             AND c.customer_id IS NOT DISTINCT FROM k.customer_id
            GROUP BY ALL
        )
        SELECT source_id, line_no,
            CASE WHEN occurrence <= coalesce(earlier_copies, 0) THEN 'overlap'
                ELSE 'duplicate' END AS repeat
        FROM keyed
        LEFT JOIN earlier USING (source_id, line_no)
        WHERE occurrence <= coalesce(earlier_copies, 0) OR occurrence > 1
        """
    )


def _net_cancellations(con, rule):
    """Create ``_netted``: units reversed (purchases) or matched (cancellations).

    With P and C the running totals of units bought and cancelled in time
    order, the units of cancellations left unmatched up to a cancellation are
    max(0, max over cancellations so far of C - P). So the units matched in
    all are C - that, and first in, first out hands them to purchases in order.

    Only the (customer, product) pairs with a line on a C-invoice are netted:
    the other purchases, most of them, have nothing reversed and need no
    window (a pair whose C-invoice lines all fall to earlier rules nets to
    nothing reversed, as it should).
    """
    order = "ORDER BY invoice_date, rule DESC, source_id, line_no"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _netted AS
        WITH cancelled AS (
            SELECT DISTINCT customer_id, stock_code
            FROM lines_parsed
            WHERE invoice ILIKE 'C%' AND customer_id IS NOT NULL
        ),
        events AS (
            SELECT source_id, line_no, customer_id, stock_code, invoice_date,
                quantity, {rule} AS rule
            FROM (
                SELECT * FROM lines_parsed
                SEMI JOIN cancelled USING (customer_id, stock_code)
            )
            LEFT JOIN _repeats USING (source_id, line_no)
            WHERE rule IN ('purchase', 'cancellation')
        ),
        running AS (
            SELECT source_id, line_no, customer_id, stock_code, rule, invoice_date,
                abs(quantity) AS units,
                sum(CASE WHEN rule = 'purchase' THEN quantity ELSE 0 END) OVER w
                    AS bought,
                sum(CASE WHEN rule = 'cancellation' THEN abs(quantity) ELSE 0 END)
                    OVER w AS cancelled
            FROM events
            WINDOW w AS (
                PARTITION BY customer_id, stock_code {order}
                ROWS UNBOUNDED PRECEDING
            )
        ),
        unmatched AS (
            SELECT *,
                greatest(0, max(CASE WHEN rule = 'cancellation'
                                     THEN cancelled - bought END) OVER w) AS lost
            FROM running
            WINDOW w AS (
                PARTITION BY customer_id, stock_code {order}
                ROWS UNBOUNDED PRECEDING
            )
        ),
        matched AS (
            SELECT *,
                cancelled - coalesce(lost, 0) AS matched_so_far,
                coalesce(lag(cancelled - coalesce(lost, 0)) OVER w, 0)
                    AS matched_before,
                max(cancelled - coalesce(lost, 0)) OVER (
                    PARTITION BY customer_id, stock_code
                ) AS matched_total
            FROM unmatched
            WINDOW w AS (PARTITION BY customer_id, stock_code {order})
        )
        SELECT source_id, line_no,
            CASE
                WHEN rule = 'cancellation' THEN matched_so_far - matched_before
                ELSE least(units, greatest(0, matched_total - (bought - units)))
            END AS units
        FROM matched
        """
    )


def _write_lines(con, rule):
    """Create ``lines`` (every line with its bucket) and the view ``clean_lines``.

    ``clean_lines`` is a view rather than a second copy of most lines: a
    filter on ``lines`` costs little next to writing them again.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TABLE lines AS
        WITH ruled AS (
            SELECT lines_parsed.*, {rule} AS rule
            FROM lines_parsed
            LEFT JOIN _repeats USING (source_id, line_no)
        )
        SELECT r.source_id, r.source_file, r.line_no, r.invoice, r.stock_code,
            r.description, r.quantity, r.invoice_date, r.price, r.customer_id,
            r.country,
            CASE
                WHEN r.rule = 'cancellation' AND n.units > 0
                    THEN 'cancellation_matched'
                WHEN r.rule = 'cancellation' THEN 'cancellation_unmatched'
                WHEN r.rule = 'purchase' AND n.units = r.quantity
                    THEN 'purchase_reversed'
                WHEN r.rule = 'purchase' THEN 'kept'
                ELSE r.rule
            END AS bucket,
            CAST(CASE WHEN r.rule = 'purchase' THEN coalesce(n.units, 0) ELSE 0 END
                AS BIGINT) AS quantity_cancelled,
            CAST(CASE WHEN r.rule = 'purchase' THEN r.quantity - coalesce(n.units, 0)
                ELSE 0 END AS BIGINT) AS quantity_net,
            round(quantity_net * r.price, 4) AS amount
        FROM ruled AS r
        LEFT JOIN _netted AS n USING (source_id, line_no)
        ORDER BY r.source_id, r.line_no
        """
    )
    con.execute(
        """
        CREATE OR REPLACE VIEW clean_lines AS
        SELECT source_id, line_no, invoice, stock_code, description, quantity,
            quantity_cancelled, quantity_net, invoice_date, price, amount,
            customer_id, country
        FROM lines
        WHERE bucket = 'kept'
        """
    )


def _ledger(con):
    buckets = ", ".join(
        "('{}', {}, '{}')".format(name, i, meaning.replace("'", "''"))
        for i, (name, meaning) in enumerate(BUCKETS.items())
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE ledger AS
        SELECT b.bucket, coalesce(l.lines, 0) AS lines,
            coalesce(l.quantity, 0) AS quantity,
            coalesce(l.value, 0) AS value, b.meaning
        FROM (VALUES {buckets}) AS b(bucket, position, meaning)
        LEFT JOIN (
            SELECT bucket, count(*) AS lines,
                CAST(sum(quantity) AS BIGINT) AS quantity,
                round(sum(quantity * price), 2) AS value
            FROM lines GROUP BY bucket
        ) AS l USING (bucket)
        ORDER BY b.position
        """
    )
    ledger = con.execute("SELECT * FROM ledger").df()
    read = con.execute("SELECT count(*) FROM lines_parsed").fetchall()[0][0]
    assert ledger.lines.sum() == read, "the ledger must add up to the lines read"
    return ledger
