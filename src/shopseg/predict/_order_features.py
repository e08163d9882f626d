"""The first-order features of a few orders in NumPy, for the service.

DuckDB spends some 20 ms planning and running the one statement that
cleans and featurises an order (:class:`shopseg.predict.OrderScorer`),
however few its lines; the same arithmetic on the arrays of a few dozen
lines takes well under a millisecond. The SQL stays the definition: the
cleaning rules of :mod:`shopseg.clean` and :func:`first_order_features_sql`.
This module covers the common case (products the model knows, plain
identifiers) and says so when it does not apply (:func:`order_features`
returns None); a test checks that it gives the numbers of the SQL bit for
bit, on every customer of its data and on orders built to meet each
cleaning rule and each kind of cancellation.

The arithmetic follows DuckDB's to the last bit:

- a sum of money rounds each value as ``CAST(x AS DECIMAL(38, 10))`` does
  (``x * 1e10`` in floating point, then half away from zero), adds the
  integers exactly and divides the total by ``10**10`` correctly rounded,
  as the cast back to DOUBLE does;
- the median of an even number of values is ``(lo + hi) / 2``;
- a share of lines is a count divided by the lines.
"""

import functools
import re

import numpy as np

from ..clean import NON_MERCHANDISE_CODES
from ..features._exact import SUM_SCALE
from ._features import HOLIDAY_MONTHS, _with_uncategorised, share_column

_SCALE = 10**SUM_SCALE

#: Identifiers read as missing (after '.0' is dropped), as in reading.
_MISSING_IDS = ("", "nan", "none", "null")


class ProductMap:
    """The model's product table as the features read it, by stock code.

    Parameters
    ----------
    products : pandas.DataFrame
        ``stock_code``, ``category``, ``reference_price`` and
        ``buyer_loyalty``; a missing price or loyalty is NaN.
    categories : pandas.DataFrame
        ``category`` and ``label`` of every product category.
    """

    def __init__(self, products, categories):
        codes = products["stock_code"].astype(str).tolist()
        self.index = {code: i for i, code in enumerate(codes)}
        self.category = products["category"].to_numpy(dtype=np.int64)
        self.reference_price = products["reference_price"].to_numpy(dtype=float)
        loyalty = products["buyer_loyalty"].to_numpy(dtype=float)
        # A product without a loyalty gets the median of the others, as
        # ``median(buyer_loyalty)`` over the table gives it.
        self.buyer_loyalty = np.where(
            np.isnan(loyalty), _median(loyalty[~np.isnan(loyalty)]), loyalty
        )
        self.shares = [
            (int(c), share_column(c, label))
            for c, label in _with_uncategorised(categories)
        ]


def order_features(order, products, non_merchandise=NON_MERCHANDISE_CODES):
    """Return the features of each customer of ``order``, or None.

    Parameters
    ----------
    order : pyarrow.Table
        Order lines with the types of ``ORDER_SCHEMA``, every value present
        and every price finite (what ``_order_table`` lets through).
    products : ProductMap
    non_merchandise : sequence of str
        Glob patterns of stock codes that are not merchandise.

    Returns
    -------
    (dict of numpy.ndarray, numpy.ndarray) or None
        The columns of :func:`first_order_features` (one row per customer
        with a purchase, sorted by ``customer_id``) and each customer's
        lines after the first purchase day. None when the order is not the
        common case: a text with white space around it or outside ASCII, no
        purchase at all, a cancellation of a positive quantity, or a
        product the model has not seen.
    """
    text = {
        name: order.column(name).to_pylist()
        for name in ("invoice", "stock_code", "customer_id", "country")
    }
    if not all(_plain(values) for values in text.values()):
        return None
    quantity = order.column("quantity").to_numpy()
    price = order.column("price").to_numpy()
    when = order.column("invoice_date").to_numpy().astype("datetime64[us]")
    customer = [_identifier(value) for value in text["customer_id"]]
    country = ["Unspecified" if not c else c for c in text["country"]]

    # The cleaning rules: a line that meets none of rules 1 to 8 is a
    # purchase, or a cancellation on a C-invoice.
    merchandise = _merchandise_test(tuple(non_merchandise))
    first_letter = [invoice[:1].upper() for invoice in text["invoice"]]
    on_c_invoice = np.array([letter == "C" for letter in first_letter])
    ruled_out = ~_first_copies(text["invoice"], text["stock_code"], quantity, price,
                               when, customer)
    ruled_out |= np.array([letter == "A" for letter in first_letter])
    ruled_out |= (quantity < 0) & ~on_c_invoice
    ruled_out |= ~np.array([merchandise(code) for code in text["stock_code"]])
    ruled_out |= (price <= 0) | (quantity == 0)
    ruled_out |= np.array([who is None for who in customer])
    purchase = ~ruled_out & ~on_c_invoice
    cancellation = ~ruled_out & on_c_invoice

    rows = np.array([products.index.get(code, -1) for code in text["stock_code"]])
    if not purchase.any() or (rows[purchase] < 0).any():
        return None  # nothing to score, or a product to categorise in SQL
    if (quantity[cancellation] > 0).any():
        return None
    reversed_ = _reversed_units(purchase, cancellation, quantity, when, customer,
                                text["stock_code"])
    kept = purchase & (reversed_ < quantity)

    columns, later = [], []
    lines_of = {}
    for i, who in enumerate(customer):
        lines_of.setdefault(who, []).append(i)
    for who in sorted({customer[i] for i in np.flatnonzero(purchase)}):
        mine = np.zeros(len(customer), dtype=bool)
        mine[lines_of[who]] = True
        features = _customer_features(
            who, mine, purchase, kept, cancellation, quantity, price, when, text,
            country, rows, products,
        )
        columns.append(features)
        next_day = features["first_day"] + np.timedelta64(1, "D")
        later.append(int((mine & (when >= next_day)).sum()))
    arrays = {}
    for name in columns[0]:
        values = [c[name] for c in columns]
        text_column = isinstance(values[0], str)
        arrays[name] = np.array(values, dtype=object if text_column else None)
    return arrays, np.array(later, dtype=np.int64)


def _reversed_units(purchase, cancellation, quantity, when, customer, codes):
    """Units of each purchase reversed by cancellations, netted first in,
    first out within a customer's product, as the cleaning rules net them.

    With P and C the running totals of units bought and cancelled in time
    order (a purchase before a cancellation of the same time), the units
    cancelled but unmatched so far are the largest C - P at a cancellation
    (at least 0); the units matched in all go to purchases in order.
    """
    reversed_ = np.zeros(len(quantity), dtype=np.int64)
    pairs = {(customer[i], codes[i]) for i in np.flatnonzero(cancellation)}
    events_of = {pair: [] for pair in pairs}
    for i in np.flatnonzero(purchase | cancellation):
        pair = (customer[i], codes[i])
        if pair in events_of:  # only products with a cancellation are netted
            events_of[pair].append(i)
    for events in events_of.values():
        events.sort(key=lambda i: (when[i], bool(cancellation[i]), i))
        bought = cancelled = unmatched = matched = 0
        for i in events:
            if cancellation[i]:
                cancelled += -int(quantity[i])
                unmatched = max(unmatched, cancelled - bought)
            else:
                bought += int(quantity[i])
            matched = max(matched, cancelled - unmatched)
        bought = 0
        for i in events:
            if purchase[i]:
                units = int(quantity[i])
                bought += units
                reversed_[i] = min(units, max(0, matched - (bought - units)))
    return reversed_


def _customer_features(who, mine, purchase, kept, cancellation, quantity, price,
                       when, text, country, rows, products):
    """The features of one customer (lines ``mine``) from their purchases on
    the first day with a purchase kept (any purchase, when none was kept)."""
    days = when.astype("datetime64[D]")
    starts = kept & mine if (kept & mine).any() else purchase & mine
    first_day = days[starts].min()
    on_first_day = mine & (days == first_day)
    day = purchase & on_first_day
    q, p, at = quantity[day], price[day], when[day]
    product = rows[day]
    value = q.astype(float) * p
    reference = products.reference_price[product]
    reference = np.where(np.isnan(reference), p, reference)
    loyalty = products.buyer_loyalty[product]
    category = products.category[product]
    cancelled = cancellation & on_first_day
    cancelled_value = _exact_sum(
        -quantity[cancelled].astype(float) * price[cancelled]
    )
    lines = len(q)
    units = int(q.sum())
    order_value = _exact_sum(value)
    invoices = [text["invoice"][i] for i in np.flatnonzero(day)]
    codes = [text["stock_code"][i] for i in np.flatnonzero(day)]
    first_at, last_at = at.min(), at.max()
    # The first line's country: the least (date, invoice, code, quantity,
    # price), as arg_min over that tuple picks it.
    order = min(
        range(lines),
        key=lambda i: (at[i], invoices[i], codes[i], q[i], p[i]),
    )
    where = country[np.flatnonzero(day)[order]]
    calendar = first_day.astype(object)
    features = {
        "customer_id": who,
        "first_day": first_day,
        "first_order_at": first_at,
        "order_value": order_value,
        "lines": lines,
        "units": units,
        "products": len(set(codes)),
        "mean_price": _exact_sum(p) / lines,
        "orders": len(set(invoices)),
        "hour": int(first_at.astype(object).hour),
        "is_uk": int(where == "United Kingdom"),
        "month": calendar.month,
        "weekday": calendar.isoweekday(),
        "units_per_line": units / lines,
        "max_line_quantity": int(q.max()),
        "median_line_quantity": _median(q.astype(float)),
        "dozen_line_share": int((q >= 12).sum()) / lines,
        "bulk_line_share": int((q >= 24).sum()) / lines,
        "median_price": _median(p),
        "max_price": float(p.max()),
        "unit_value": order_value / units,
        "price_ratio": order_value / _exact_sum(reference * q),
        "discount_line_share": int((p < 0.95 * reference).sum()) / lines,
        "cheap_value_share": _exact_sum(value[p < 1]) / order_value,
    }
    for c, name in products.shares:
        features[name] = _exact_sum(value[category == c]) / order_value
    features.update({
        "categories": len(set(category.tolist())),
        "buyer_loyalty": _exact_sum(value * loyalty) / order_value,
        "max_buyer_loyalty": float(loyalty.max()),
        "country": where,
        "holiday_season": int(calendar.month in HOLIDAY_MONTHS),
        "day_of_month": calendar.day,
        "day_span_hours": int((last_at - first_at) // np.timedelta64(1, "s"))
        / 3600.0,
        "cancelled_lines": int(cancelled.sum()),
        "cancelled_value": cancelled_value,
        "cancelled_share": cancelled_value / order_value,
    })
    return features


def _plain(values):
    """Whether every text is missing or ASCII without white space around it,
    so that trimming and case changes are the same in Python and DuckDB."""
    return all(v is None or (v.isascii() and v == v.strip()) for v in values)


def _identifier(value):
    """A customer identifier as reading gives it: '.0' dropped, blank as None."""
    if value is None:
        return None
    value = re.sub(r"\.0+\Z", "", value)
    return None if value.lower() in _MISSING_IDS else value


@functools.lru_cache(maxsize=8)
def _merchandise_test(patterns):
    """A function telling whether a stock code is merchandise, as the
    cleaning rules' ``upper(code) IN (...) OR code ILIKE ...`` does."""
    plain = {p.upper() for p in patterns if "*" not in p}
    globbed = [
        re.compile(
            "".join(".*" if ch == "*" else "." if ch == "_" else re.escape(ch)
                    for ch in p.lower()),
            re.DOTALL,
        )
        for p in patterns if "*" in p
    ]
    return lambda code: not (
        code.upper() in plain or any(g.fullmatch(code.lower()) for g in globbed)
    )


def _first_copies(*key_columns):
    """Whether each line is the first with its key: later copies are
    duplicates."""
    seen = set()
    first = []
    for key in zip(*key_columns):
        first.append(key not in seen)
        seen.add(key)
    return np.array(first, dtype=bool)


def _exact_sum(values):
    """The sum of ``values`` as DuckDB's exact decimal sum gives it, 0.0 for
    none (the SQL's coalesce)."""
    scaled = np.asarray(values, dtype=float) * float(_SCALE)
    size = np.abs(scaled)
    whole = np.floor(size)
    rounded = np.copysign(whole + (size - whole >= 0.5), scaled)
    return sum(int(v) for v in rounded) / _SCALE


def _median(values):
    ordered = np.sort(values)
    n = len(ordered)
    if n % 2:
        return float(ordered[n // 2])
    return float((ordered[n // 2 - 1] + ordered[n // 2]) / 2)
