"""The canonical schema of a transaction line and the header names it accepts."""

import difflib
import re
import warnings

from ..exceptions import MissingColumnWarning, SchemaError

#: Canonical columns, in the order the store keeps them.
COLUMNS = (
    "invoice",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "price",
    "customer_id",
    "country",
)

#: Columns a file may lack; they are filled with NULL.
OPTIONAL = frozenset({"description", "country"})

# Header names seen in exports, compared after `normalize_header`. The first
# name of each column is the UCI Online Retail one, the second Online Retail II.
ALIASES = {
    "invoice": ("InvoiceNo", "Invoice", "Invoice Number", "Invoice ID", "Order ID"),
    "stock_code": ("StockCode", "Stock Code", "SKU", "Product Code", "Product ID"),
    "description": ("Description", "Product Name", "Item Description"),
    "quantity": ("Quantity", "Qty", "Units"),
    "invoice_date": ("InvoiceDate", "Invoice Date", "Order Date", "Date"),
    "price": ("UnitPrice", "Price", "Unit Price", "Item Price"),
    "customer_id": ("CustomerID", "Customer ID", "Customer", "Client ID"),
    "country": ("Country", "Customer Country"),
}


def normalize_header(name):
    """Return a header name folded for matching: lower case, letters and digits.

    >>> normalize_header(" Customer ID ")
    'customerid'
    >>> normalize_header("customer_id")
    'customerid'
    """
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def parse_column_map(items):
    """Parse ``canonical=Header`` strings given by ``--column`` into a dict.

    >>> parse_column_map(["customer_id=ClientRef"])
    {'customer_id': 'ClientRef'}
    """
    mapping = {}
    for item in items or ():
        canonical, sep, header = item.partition("=")
        canonical = canonical.strip()
        if not sep or not header.strip():
            raise SchemaError(
                f"--column {item!r} is not of the form NAME=HEADER; "
                "write for example --column customer_id=ClientRef"
            )
        if canonical not in COLUMNS:
            raise SchemaError(
                f"--column {item!r} names {canonical!r}, which is not a shopseg "
                f"column; the columns are {', '.join(COLUMNS)}"
            )
        mapping[canonical] = header.strip()
    return mapping


def match_header(header, source, column_map=None):
    """Match a file's header to the canonical columns.

    Parameters
    ----------
    header : list of str
        The column names as found in the file.
    source : str
        The file's name, for error messages.
    column_map : dict, default=None
        Canonical name to header name, overriding the built-in aliases.

    Returns
    -------
    dict
        Canonical name to the header name found in the file. Optional columns
        that are absent are left out.

    Examples
    --------
    >>> match_header(["Invoice", "StockCode", "Description", "Quantity",
    ...               "InvoiceDate", "Price", "Customer ID", "Country"], "ii.csv")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'invoice': 'Invoice', 'stock_code': 'StockCode', 'description': 'Description',
     'quantity': 'Quantity', 'invoice_date': 'InvoiceDate', 'price': 'Price',
     'customer_id': 'Customer ID', 'country': 'Country'}
    """
    column_map = column_map or {}
    by_key = {}
    for name in header:
        by_key.setdefault(normalize_header(name), name)

    found = {}
    for canonical in COLUMNS:
        if canonical in column_map:
            wanted = column_map[canonical]
            name = by_key.get(normalize_header(wanted))
            if name is None:
                raise SchemaError(
                    f"{source}: --column {canonical}={wanted} names a column that "
                    f"is not in the file; its columns are {_listing(header)}"
                )
            found[canonical] = name
            continue
        for alias in ALIASES[canonical]:
            name = by_key.get(normalize_header(alias))
            if name is not None and name not in found.values():
                found[canonical] = name
                break

    missing = [c for c in COLUMNS if c not in found and c not in OPTIONAL]
    if missing:
        raise SchemaError(_missing_message(source, header, found, missing))
    absent = [c for c in COLUMNS if c not in found and c in OPTIONAL]
    if absent:
        warnings.warn(
            _absent_message(source, header, found, absent),
            MissingColumnWarning,
            stacklevel=2,
        )
    return found


def _absent_message(source, header, found, absent):
    unused = [name for name in header if name not in found.values()]
    left = f" The file's unused columns are {_listing(unused)}." if unused else ""
    return (
        f"{source}: no column found for {' or '.join(absent)}, read as blank "
        "(a product without a description is not categorised, a customer "
        f"without a country counts as 'Unspecified').{left} If the file has "
        f"it under another name, map it with --column {absent[0]}=HEADER."
    )


def _missing_message(source, header, found, missing):
    unused = [name for name in header if name not in found.values()]
    parts = []
    for canonical in missing:
        expected = " or ".join(repr(a) for a in ALIASES[canonical][:2])
        if len(missing) == len(unused) == 1:
            name = unused[0]  # the one column left is the likeliest
        else:
            name = _closest(ALIASES[canonical][0], unused)
        hint = ""
        if name is not None:
            unused.remove(name)  # each name is offered once
            hint = f" (closest found: {name!r})"
        parts.append(f"{canonical} (expected {expected}){hint}")
    example = missing[0]
    return (
        f"{source}: no column found for {'; '.join(parts)}. The file's columns "
        f"are {_listing(header)}. If the file names it differently, map it with "
        f"--column {example}=HEADER."
    )


def _closest(expected, names, cutoff=0.5):
    """The name most like ``expected``, or None when none is alike enough
    to be a hint (``difflib``'s ratio, taken both ways round)."""
    target = normalize_header(expected)
    best, best_ratio = None, cutoff
    for name in names:
        candidate = normalize_header(name)
        ratio = max(
            difflib.SequenceMatcher(None, target, candidate).ratio(),
            difflib.SequenceMatcher(None, candidate, target).ratio(),
        )
        if ratio >= best_ratio:
            best, best_ratio = name, ratio
    return best


def _listing(header):
    return ", ".join(repr(h) for h in header) or "(none)"
